// Writes a classifier version folder atomically: files go to a hidden temporary folder that is renamed
// into place, so a crash never leaves a half-written version for the server to load.
import fs from 'node:fs';
import path from 'node:path';
import { CLASSIFIER_FILE, SIDECAR_FILE, type ClassifierSidecar } from '../src/routing/classifier-sidecar';
import { type ClassifierReference, REFERENCE_FILE } from '../src/routing/classifier-reference';
import { hashString } from './matrix';
import { removeAbandoned } from '../src/util/abandoned-temp';

/** Inside a version folder: the same learner fitted without the validation rows, for honest comparisons. */
export const HOLDOUT_DIR = 'holdout';

export function writeClassifierVersion(
  dir: string,
  sidecar: ClassifierSidecar,
  onnxBytes: Uint8Array,
  reference?: ClassifierReference,
  holdout?: { sidecar: ClassifierSidecar; onnx: Uint8Array },
): string {
  return stageClassifierVersion(dir, sidecar, onnxBytes, reference, holdout).commit();
}

export interface StagedVersion {
  /** The temporary folder holding the files: load and measure from here, patch the sidecars here. */
  folder: string;
  /** Renames the folder into place as the version; returns the final path. */
  commit(): string;
}

/**
 * Writes a version's files into a temporary folder beside the versions, to be renamed into place once
 * complete: a run killed before `commit` leaves no version behind (a later run clears its folder), and one
 * killed after leaves a finished one, its validation figures included.
 */
export function stageClassifierVersion(
  dir: string,
  sidecar: ClassifierSidecar,
  onnxBytes: Uint8Array,
  reference?: ClassifierReference,
  holdout?: { sidecar: ClassifierSidecar; onnx: Uint8Array },
): StagedVersion {
  fs.mkdirSync(dir, { recursive: true });
  const final = path.join(dir, sidecar.version);
  if (fs.existsSync(final)) throw new Error(`classifier version ${final} already exists`);
  // Temporary folders of retrains that died before their rename.
  removeAbandoned(dir, /^\.v\d+\.(\d+)\.tmp$/);
  const tmp = path.join(dir, `.${sidecar.version}.${process.pid}.tmp`);
  const discard = (): void => fs.rmSync(tmp, { recursive: true, force: true });
  discard();
  fs.mkdirSync(tmp);
  try {
    fs.writeFileSync(path.join(tmp, CLASSIFIER_FILE), onnxBytes);
    fs.writeFileSync(path.join(tmp, SIDECAR_FILE), `${JSON.stringify(sidecar, null, 2)}\n`);
    if (reference) fs.writeFileSync(path.join(tmp, REFERENCE_FILE), `${JSON.stringify(reference)}\n`);
    if (holdout) {
      fs.mkdirSync(path.join(tmp, HOLDOUT_DIR));
      fs.writeFileSync(path.join(tmp, HOLDOUT_DIR, CLASSIFIER_FILE), holdout.onnx);
      fs.writeFileSync(path.join(tmp, HOLDOUT_DIR, SIDECAR_FILE), `${JSON.stringify(holdout.sidecar, null, 2)}\n`);
    }
  } catch (err) {
    discard();
    throw err;
  }
  return {
    folder: tmp,
    commit() {
      try {
        fs.renameSync(tmp, final);
      } catch (err) {
        discard();
        throw err;
      }
      return final;
    },
  };
}

/**
 * The reference the average policy sets λ from: out-of-fold predictions (a classifier's predictions on
 * its own training rows are overconfident, which would make every target look cheaper to reach) for at
 * most `limit` prompts, picked by a seeded hash of their ids so the sample is stable.
 */
export function buildReference(
  models: readonly string[],
  rows: readonly { id: string; prompt: string }[],
  outOfFold: Float32Array,
  estimateTokens: (text: string) => number,
  seed: number,
  limit = 2000,
): ClassifierReference {
  const m = models.length;
  const picked = rows
    .map((r, i) => ({ i, h: hashString(r.id, seed) }))
    .sort((a, b) => a.h - b.h || a.i - b.i)
    .slice(0, limit)
    .map((x) => x.i)
    .sort((a, b) => a - b);
  return {
    format: 'switchyard-reference/1',
    models: [...models],
    inputTokens: picked.map((i) => estimateTokens(rows[i].prompt)),
    // Four decimals: the file stays small and λ does not move.
    p: picked.map((i) => Array.from(outOfFold.subarray(i * m, (i + 1) * m), (v) => Math.round(v * 1e4) / 1e4)),
  };
}
