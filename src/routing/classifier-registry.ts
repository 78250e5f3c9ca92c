// Versioned classifiers on disk: models/router/<version>/ folders and a CURRENT file naming the one in
// use. The server polls CURRENT and swaps in a newly promoted version without a restart; a version that
// fails to load is reported and the old one keeps serving.
import fs from 'node:fs';
import path from 'node:path';
import { CURRENT_FILE } from './classifier-sidecar';
import type { SuccessClassifier } from './classifier';
import { loadOnnxClassifier } from './onnx-classifier';

const VERSION_PATTERN = /^v(\d{4,})$/;

export function listVersions(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && VERSION_PATTERN.test(e.name))
    .map((e) => e.name)
    .sort();
}

export function readCurrentVersion(dir: string): string | null {
  try {
    const v = fs.readFileSync(path.join(dir, CURRENT_FILE), 'utf8').trim();
    return v === '' ? null : v;
  } catch {
    return null;
  }
}

/** Atomic: a reader sees the old name or the new one, never a partial file. */
export function writeCurrentVersion(dir: string, version: string): void {
  const tmp = path.join(dir, `.${CURRENT_FILE}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${version}\n`);
  fs.renameSync(tmp, path.join(dir, CURRENT_FILE));
}

/**
 * The next version's name: past every folder and past the one CURRENT names, so deleting the current
 * version's folder does not give its name to a different classifier (a server that loaded it would not
 * see the change, and the decision log would give one name to two models).
 */
export function nextVersion(dir: string): string {
  const current = readCurrentVersion(dir);
  const names = current !== null && VERSION_PATTERN.test(current) ? [...listVersions(dir), current] : listVersions(dir);
  const last = names.map((v) => Number(VERSION_PATTERN.exec(v)![1])).reduce((a, b) => Math.max(a, b), 0);
  return `v${String(last + 1).padStart(4, '0')}`;
}

export type ClassifierLoader = (dir: string, opts: { expectEmbedderId?: string; expectEmbedderDimension?: number }) => Promise<SuccessClassifier>;

export interface ClassifierRegistryOptions {
  dir: string;
  expectEmbedderId?: string;
  expectEmbedderDimension?: number;
  load?: ClassifierLoader;
  onError?: (message: string) => void;
  onLoad?: (version: string) => void;
  /** CURRENT is gone: the loaded classifier is let go, and routing is cold start until one is promoted. */
  onUnload?: () => void;
  /** How long a replaced classifier is kept for callers of current() before it goes (default 5 s). */
  retireAfterMs?: number;
}

export class ClassifierRegistry {
  private loaded: SuccessClassifier | null = null;
  /** The folder CURRENT named when `loaded` was loaded: a drop-in sidecar's `version` need not be its name. */
  private loadedFolder: string | null = null;
  private loadedStamp: string | null = null;
  /** The version that last failed to load, and what its files looked like then (see `filesStamp`). */
  private failed: { version: string; stamp: string } | null = null;
  private refreshing: Promise<boolean> | null = null;
  private readonly load: ClassifierLoader;
  /** Requests routing on each classifier now (acquire → release). */
  private readonly leases = new Map<SuccessClassifier, number>();
  /** Replaced classifiers whose grace has passed, released when their last lease ends. */
  private readonly retired = new Set<SuccessClassifier>();

  constructor(private readonly options: ClassifierRegistryOptions) {
    this.load = options.load ?? loadOnnxClassifier;
  }

  current(): SuccessClassifier | null {
    return this.loaded;
  }

  /**
   * The classifier serving now, held until `release`: a replaced classifier is disposed of only once the
   * requests routing on it are done (a request slower than the grace, say behind a slow embedder, got
   * "Session already disposed").
   */
  acquire(): { classifier: SuccessClassifier | null; release: () => void } {
    const classifier = this.loaded;
    if (!classifier) return { classifier, release: () => {} };
    this.leases.set(classifier, (this.leases.get(classifier) ?? 0) + 1);
    let released = false;
    return {
      classifier,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.leases.get(classifier) ?? 1) - 1;
        if (left > 0) {
          this.leases.set(classifier, left);
          return;
        }
        this.leases.delete(classifier);
        if (this.retired.delete(classifier)) void classifier.dispose();
      },
    };
  }

  /** Disposes of a replaced classifier now, or when its last lease ends. */
  private retire(classifier: SuccessClassifier): void {
    if (classifier === this.loaded) return;
    if (this.leases.has(classifier)) this.retired.add(classifier);
    else void classifier.dispose();
  }

  /** Loads CURRENT if it names a version other than the one serving. Resolves true when it swapped. */
  refresh(): Promise<boolean> {
    // One refresh at a time: a poll that fires during a slow load must not load the same version twice.
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const version = readCurrentVersion(this.options.dir);
    if (version === null) {
      // CURRENT removed (or emptied) by the operator: serve what `score` and a restart would, cold start,
      // rather than the last version until the next restart. (Promotion renames CURRENT in whole, so a
      // retrain never makes it missing.)
      const previous = this.loaded;
      if (!previous) return false;
      this.loaded = null;
      this.loadedFolder = null;
      this.loadedStamp = null;
      this.options.onUnload?.();
      setTimeout(() => this.retire(previous), this.options.retireAfterMs ?? 5_000).unref();
      return true;
    }
    // The loaded version is reloaded when its files or CURRENT change (a folder replaced under the same
    // name); a version that failed is retried then too, not on every poll: that would log the same
    // failure every tick.
    const stamp = filesStamp(this.options.dir, version);
    if (version === this.loadedFolder && stamp === this.loadedStamp) return false;
    if (this.failed?.version === version && this.failed.stamp === stamp) return false;
    try {
      const next = await this.load(path.join(this.options.dir, version), { expectEmbedderId: this.options.expectEmbedderId, expectEmbedderDimension: this.options.expectEmbedderDimension });
      const previous = this.loaded;
      this.loaded = next;
      this.loadedFolder = version;
      this.loadedStamp = stamp;
      this.failed = null;
      this.options.onLoad?.(version);
      // Callers of current() (no lease) may still be predicting on the old one: a grace, then it goes
      // once no request holds it.
      if (previous) setTimeout(() => this.retire(previous), this.options.retireAfterMs ?? 5_000).unref();
      return true;
    } catch (err) {
      this.failed = { version, stamp };
      this.options.onError?.(`classifier ${version} not loaded: ${(err as Error).message}`);
      return false;
    }
  }

  async dispose(): Promise<void> {
    // A load in flight would otherwise install a classifier after this, never to be released.
    await this.refreshing;
    for (const old of this.retired) await old.dispose();
    this.retired.clear();
    const c = this.loaded;
    this.loaded = null;
    this.loadedFolder = null;
    if (c) await c.dispose();
  }
}

/** Names, sizes and modification times of CURRENT and the version folder's files: changes when any is rewritten. */
function filesStamp(dir: string, version: string): string {
  const parts: string[] = [];
  const add = (file: string): void => {
    try {
      const st = fs.statSync(file);
      parts.push(`${path.basename(file)}:${st.size}:${st.mtimeMs}`);
    } catch {
      parts.push(`${path.basename(file)}:-`);
    }
  };
  add(path.join(dir, CURRENT_FILE));
  const folder = path.join(dir, version);
  let names: string[] = [];
  try {
    names = fs.readdirSync(folder).sort();
  } catch {
    // no folder yet: the stamp changes when it appears
  }
  for (const name of names) add(path.join(folder, name));
  return parts.join('|');
}
