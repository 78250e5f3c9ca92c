// Benchmarks that go through the command line as a user would: the CLI's own output is kept out of the
// report, and shown when a command fails.
import { runCli } from '../src/main';

export async function runCliQuietly(args: string[]): Promise<void> {
  const write = process.stderr.write.bind(process.stderr);
  const log: string[] = [];
  process.stderr.write = ((chunk: string | Uint8Array) => log.push(String(chunk)) > 0) as typeof process.stderr.write;
  let code: number;
  try {
    code = await runCli(args);
  } finally {
    process.stderr.write = write;
  }
  if (code !== 0) throw new Error(`switchyard ${args.join(' ')} failed (exit ${code}):\n${log.join('')}`);
}
