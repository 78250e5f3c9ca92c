// Flag parsing shared by the commands: node's parseArgs in strict mode, with usage errors that name the
// command and its flags.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<O extends Options>(command: string, argv: string[], options: O, usage: string, positionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}\nusage: ${usage}`);
  }
}

export function requireFlag(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${flag}\nusage: ${usage}`);
  return value;
}
