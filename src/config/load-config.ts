// Reads and validates the YAML configuration, reporting every bad field at once with its path.
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors';
import { configSchema, type SwitchyardConfig } from './schema';

/** Formats zod issues as "path: message" lines, one per bad field. */
export function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .map((i) => `  - ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

/** Parses config text (YAML or JSON). `origin` names the file in error messages. */
export function parseConfig(text: string, origin: string): SwitchyardConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return `  - line ${pos ? pos.line : '?'}${pos ? `, column ${pos.col}` : ''}: ${e.message.split('\n')[0]}`;
    });
    throw new ConfigError(`${origin}: the file is not valid YAML:\n${lines.join('\n')}`, 'config_invalid');
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(`${origin}: invalid configuration:\n${formatIssues(result.error.issues)}`, 'config_invalid');
  }
  return result.data;
}
