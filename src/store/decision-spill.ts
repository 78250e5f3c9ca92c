// Decision rows the store would not take at shutdown (another process held the write lock past the wait,
// or the disk was full) are saved aside in a JSON-lines file beside the database, and written into the
// store at the next start. Without this they died with the process: "no decision that got a response is
// lost" (issue 3) must hold when a deploy restarts the server during an import or a retrain.
import fs from 'node:fs';
import path from 'node:path';
import type { DecisionRecord } from './decision-types';

/** Where rows the store refused at shutdown wait for the next start. */
export const spillPath = (databasePath: string): string => `${databasePath}.unwritten.jsonl`;

/**
 * Adds `rows` to the spill file, atomically: the old file is copied to a temporary one, the rows appended
 * one write each (built as one string, hundreds of MB of prompts passed V8's string limit and every row
 * was lost), then it is synced and renamed over the old one, so a crash midway leaves the previous file
 * whole. Throws when it cannot write.
 */
export function spillRows(file: string, rows: readonly DecisionRecord[]): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    if (fs.existsSync(file)) fs.copyFileSync(file, temp);
    const fd = fs.openSync(temp, 'a');
    try {
      for (const row of rows) fs.writeSync(fd, `${JSON.stringify(row)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

export interface ReplayResult {
  /** Rows in the file that the store did not hold yet, now written. */
  written: number;
  /** Rows the store already held (a replay cut short before the file was removed). */
  present: number;
  /** Lines that are not a decision row; kept in `keptAs` for the operator. */
  unreadable: number;
  /** Where the file was moved when it held unreadable lines (null: it was removed). */
  keptAs: string | null;
}

const isRow = (value: unknown): value is DecisionRecord =>
  typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' &&
  typeof (value as { createdAt?: unknown }).createdAt === 'number' && Array.isArray((value as { candidates?: unknown }).candidates) &&
  Array.isArray((value as { attempts?: unknown }).attempts);

/**
 * Writes the spill file's rows into the store (those it lacks, in one transaction) and then removes the
 * file; null when there is none. A line that is not a row (the file edited by hand) is not guessed at: the
 * file is kept, renamed, for the operator. Throws, leaving the file in place, when the store refuses the write.
 */
export function replaySpill(file: string, insertMissing: (rows: readonly DecisionRecord[]) => number, now: () => number): ReplayResult | null {
  if (!fs.existsSync(file)) return null;
  const rows: DecisionRecord[] = [];
  let unreadable = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (isRow(value)) rows.push(value);
    else unreadable += 1;
  }
  const written = rows.length > 0 ? insertMissing(rows) : 0;
  let keptAs: string | null = null;
  if (unreadable > 0) {
    keptAs = file.replace(/\.jsonl$/, `.unreadable-${now()}.jsonl`);
    fs.renameSync(file, keptAs);
  } else {
    fs.rmSync(file);
  }
  return { written, present: rows.length - written, unreadable, keptAs };
}
