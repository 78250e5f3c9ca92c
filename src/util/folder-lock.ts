// One writer at a time for a folder two commands may write into at once (two `retrain` runs choosing the
// same next version name: the second failed with a raw "already exists" after doing all its work). The lock
// is a file created exclusively, holding its owner's pid; one whose process is gone is taken over.
import fs from 'node:fs';
import path from 'node:path';
import { processAlive } from './abandoned-temp';

export class FolderLockedError extends Error {
  constructor(
    readonly folder: string,
    readonly pid: number,
  ) {
    super(`another process (pid ${pid}) is writing to ${folder}`);
  }
}

/**
 * Takes `<folder>/<name>` (creating the folder), or throws FolderLockedError naming the live process that
 * holds it. Returns the release, which removes the file only while it is still this process's.
 */
export function lockFolder(folder: string, name: string): () => void {
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(err, file, folder);
      const holder = Number.parseInt(readOrEmpty(file), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) throw new FolderLockedError(folder, holder);
      // Its process died (killed mid-run): the lock is stale.
      fs.rmSync(file, { force: true });
    }
  }
  return () => {
    if (readOrEmpty(file).trim() === String(process.pid)) fs.rmSync(file, { force: true });
  };
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function lockError(err: unknown, file: string, folder: string): Error {
  if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return err as Error;
  // Taken by another process between our removing a stale lock and creating ours.
  return new FolderLockedError(folder, Number.parseInt(readOrEmpty(file), 10) || 0);
}
