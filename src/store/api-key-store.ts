// Client API keys. Only a hash of each key is stored; the key itself is shown once, when created.
// The keys are 192 random bits, so a plain SHA-256 suffices: there is nothing to brute-force, and a fast
// hash keeps the per-request look-up in microseconds (a password hash would cost milliseconds).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';

export interface ApiKeyInfo {
  id: string;
  name: string;
  admin: boolean;
  /** The key's first characters, to tell keys apart in listings without revealing them. */
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
}

interface KeyRow {
  id: string;
  name: string;
  admin: number;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
}

const KEY_PREFIX = 'sy-';
const SHOWN_CHARS = 10;

export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

export class ApiKeyStore {
  private readonly byHash: Database.Statement<[string], KeyRow>;
  private readonly anyActive: Database.Statement<[], number>;
  private readonly anyEver: Database.Statement<[], number>;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    this.byHash = db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL');
    this.anyActive = db.prepare<[], number>('SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)').pluck();
    this.anyEver = db.prepare<[], number>('SELECT EXISTS (SELECT 1 FROM api_keys)').pluck();
  }

  /** Returns the new key: the only time it exists outside the caller's hands. */
  create(name: string, admin: boolean): { key: string; info: ApiKeyInfo } {
    if (!/^[\w.@-]{1,64}$/.test(name)) {
      throw new InvalidInputError(`key name "${name}" must be 1-64 letters, digits or . _ - @`, 'name', 'invalid_key_name');
    }
    const key = `${KEY_PREFIX}${randomBytes(24).toString('base64url')}`;
    const info: ApiKeyInfo = { id: randomUUID(), name, admin, prefix: key.slice(0, SHOWN_CHARS), createdAt: this.now(), revokedAt: null };
    try {
      this.db
        .prepare('INSERT INTO api_keys (id, name, key_hash, prefix, admin, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(info.id, name, hashApiKey(key), info.prefix, admin ? 1 : 0, info.createdAt);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ConflictError(`an active key named "${name}" exists already (revoke it first, or pick another name)`, 'key_exists', 'name');
      }
      throw err;
    }
    return { key, info };
  }

  list(): ApiKeyInfo[] {
    return this.db.prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at, name').all().map(toInfo);
  }

  revoke(name: string): ApiKeyInfo {
    const result = this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(this.now(), name);
    if (result.changes === 0) {
      const active = this.list().filter((k) => k.revokedAt === null).map((k) => k.name);
      throw new NotFoundError(`no active key named "${name}" (active: ${active.join(', ') || 'none'})`, 'key_not_found', 'name');
    }
    return this.list().filter((k) => k.name === name).at(-1) as ApiKeyInfo;
  }

  /** The active key this secret belongs to, or null. */
  verify(key: string): ApiKeyInfo | null {
    const row = this.byHash.get(hashApiKey(key));
    return row ? toInfo(row) : null;
  }

  hasActiveKeys(): boolean {
    return this.anyActive.get() === 1;
  }

  /**
   * Whether a key was ever created, revoked ones included: that is what turns authentication on for good.
   * Revoking every key must not reopen the server at its next start.
   */
  hasAnyKeys(): boolean {
    return this.anyEver.get() === 1;
  }
}

function toInfo(row: KeyRow): ApiKeyInfo {
  return { id: row.id, name: row.name, admin: row.admin === 1, prefix: row.prefix, createdAt: row.created_at, revokedAt: row.revoked_at };
}
