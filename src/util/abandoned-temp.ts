// Temporary folders of a process that died before renaming them into place (killed, out of memory) stay
// behind forever unless a later run clears them. Their names carry the pid that made them.
import fs from 'node:fs';
import path from 'node:path';

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the entries of `dir` whose names `pattern` matches with the pid as its first group, when that
 * process is gone (never this process's own).
 */
export function removeAbandoned(dir: string, pattern: RegExp): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = pattern.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || processAlive(Number(pid))) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}
