// What every command needs, built from the config file: resolved paths, the store, the embedder.
// Relative paths in the config are taken from the config file's folder, so a command works from any cwd.
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../config/load-config';
import type { SwitchyardConfig } from '../config/schema';
import { ConfigError } from '../errors';

export interface LoadedConfig {
  config: SwitchyardConfig;
  file: string;
  /** Resolves a config path against the config file's folder. */
  resolve(p: string): string;
}

export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(flag ?? env.SWITCHYARD_CONFIG ?? 'switchyard.yaml');
}

export function loadConfigFile(file: string): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (pass --config <file> or set SWITCHYARD_CONFIG)`,
      'config_missing',
    );
  }
  const config = parseConfig(text, file);
  const base = path.dirname(file);
  return { config, file, resolve: (p) => (p === ':memory:' ? p : path.resolve(base, p)) };
}
