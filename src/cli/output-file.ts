// Output files of the offline commands (score's --out, eval's --svg): checked before the work that fills
// them, never the input file, and written whole or not at all.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../errors';

/** Refuses an output path that names the input file (through any link): the output would replace it. */
export function refuseOverwritingInput(input: string, output: string, flag: string): void {
  const real = (file: string): string => {
    try {
      return fs.realpathSync(file);
    } catch {
      return path.resolve(file);
    }
  };
  if (real(input) === real(output)) throw new InvalidInputError(`${flag} ${output} is the --data file; writing there would replace it (give another file name)`);
}

/** A path's stat, or undefined when nothing is there (ENOTDIR: an ancestor is a file, which the caller names). */
function statIfThere(file: string, flag: string): fs.Stats | undefined {
  try {
    return fs.statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new InvalidInputError(`cannot write ${flag} ${file}: ${(err as Error).message}`, null, 'file_not_writable');
  }
}

/**
 * Checked before the work that fills it: an output path under a file, or a directory, would otherwise
 * fail with a raw system error once every prompt had been embedded.
 */
export function checkOutputPath(file: string, flag: string): void {
  if (statIfThere(file, flag)?.isDirectory()) throw new InvalidInputError(`${flag} ${file} is a directory; give a file name`);
  // The nearest ancestor that exists must be a directory (the rest is created).
  for (let dir = path.dirname(path.resolve(file)); ; dir = path.dirname(dir)) {
    const up = statIfThere(dir, flag);
    if (up) {
      if (!up.isDirectory()) throw new InvalidInputError(`cannot write ${flag} ${file}: ${dir} is a file, not a directory`, null, 'file_not_writable');
      return;
    }
    if (path.dirname(dir) === dir) return;
  }
}

/** Writes through a temporary file and a rename, so a failed run never leaves a truncated output. */
export function writeAtomic(file: string, content: string, flag: string): void {
  checkOutputPath(file, flag);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new InvalidInputError(`cannot write ${flag} ${file}: ${(err as Error).message}`, null, 'file_not_writable');
  }
}
