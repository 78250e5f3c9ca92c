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
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = pidIn(file);
      if (holder === process.pid || (holder > 0 && processAlive(holder)) || attempt >= 3) throw new FolderLockedError(folder, holder);
      takeOverStale(file, holder, folder);
    }
  }
  return () => {
    if (pidIn(file) === process.pid) fs.rmSync(file, { force: true });
  };
}

/**
 * Moves a dead process's lock aside, atomically: of two processes taking over the same stale lock, one
 * rename wins. Removing it instead let the slower one delete the faster one's new lock (both ran, in 10
 * of 40 races). A lock that turns out not to be the dead one's (taken meanwhile) is put back.
 */
function takeOverStale(file: string, dead: number, folder: string): void {
  const aside = `${file}.stale.${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another process moved it first
    throw err;
  }
  const moved = pidIn(aside);
  if (moved !== dead && moved > 0 && processAlive(moved)) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // a third process has locked since: it holds the folder now
    }
    fs.rmSync(aside, { force: true });
    throw new FolderLockedError(folder, moved);
  }
  fs.rmSync(aside, { force: true });
}

/** The pid a lock file holds, or 0 when it is gone or unreadable. */
function pidIn(file: string): number {
  return Number.parseInt(readOrEmpty(file), 10) || 0;
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
