// `switchyard keys create|list|revoke`: client API keys. A new key is printed once, alone on stdout (so
// `KEY=$(switchyard keys create --name app)` works); only its hash is stored.
import type { ApiKeyInfo, ApiKeyStore } from '../store/api-key-store';
import { UsageError, parseFlags, requireFlag } from './args';

export interface KeysContext {
  keys: () => ApiKeyStore;
  /** Where the key itself and listings go (stdout). */
  out: (text: string) => void;
  /** Progress and notes (stderr). */
  log: (message: string) => void;
}

export const KEYS_USAGE = `switchyard keys create --name <name> [--admin] [--config file]
       switchyard keys list [--config file]
       switchyard keys revoke --name <name> [--config file]`;

export async function keysCommand(argv: string[], ctx: KeysContext): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create': {
      const { values } = parseFlags('keys create', rest, { config: { type: 'string' }, name: { type: 'string' }, admin: { type: 'boolean' } }, KEYS_USAGE);
      const name = requireFlag(values.name, '--name', KEYS_USAGE);
      const { key, info } = ctx.keys().create(name, values.admin ?? false);
      ctx.out(`${key}\n`);
      ctx.log(`Created ${info.admin ? 'admin' : 'client'} key "${info.name}". It is shown only now; store it safely.`);
      return 0;
    }
    case 'list': {
      parseFlags('keys list', rest, { config: { type: 'string' } }, KEYS_USAGE);
      const all = ctx.keys().list();
      if (all.length === 0) {
        ctx.log('No keys: the server runs open on 127.0.0.1 only. Create one with `switchyard keys create --name <name> --admin`.');
        return 0;
      }
      ctx.out(formatKeys(all));
      return 0;
    }
    case 'revoke': {
      const { values } = parseFlags('keys revoke', rest, { config: { type: 'string' }, name: { type: 'string' } }, KEYS_USAGE);
      const info = ctx.keys().revoke(requireFlag(values.name, '--name', KEYS_USAGE));
      ctx.log(`Revoked key "${info.name}" (${info.prefix}…). A running server refuses it from its next request.`);
      return 0;
    }
    default:
      throw new UsageError(`${sub === undefined ? 'missing keys subcommand' : `unknown keys subcommand "${sub}"`}\nusage: ${KEYS_USAGE}`);
  }
}

function formatKeys(keys: readonly ApiKeyInfo[]): string {
  const rows = [
    ['NAME', 'SCOPE', 'KEY', 'CREATED', 'REVOKED'],
    ...keys.map((k) => [
      k.name,
      k.admin ? 'admin' : 'client',
      `${k.prefix}…`,
      new Date(k.createdAt).toISOString(),
      k.revokedAt === null ? '-' : new Date(k.revokedAt).toISOString(),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return `${rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n')}\n`;
}
