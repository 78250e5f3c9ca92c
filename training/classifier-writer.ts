// Writes a classifier version folder atomically: files go to a hidden temporary folder that is renamed
// into place, so a crash never leaves a half-written version for the server to load.
import fs from 'node:fs';
import path from 'node:path';
import { CLASSIFIER_FILE, SIDECAR_FILE, type ClassifierSidecar } from '../src/routing/classifier-sidecar';

export function writeClassifierVersion(dir: string, sidecar: ClassifierSidecar, onnxBytes: Uint8Array): string {
  fs.mkdirSync(dir, { recursive: true });
  const final = path.join(dir, sidecar.version);
  if (fs.existsSync(final)) throw new Error(`classifier version ${final} already exists`);
  const tmp = path.join(dir, `.${sidecar.version}.${process.pid}.tmp`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    fs.writeFileSync(path.join(tmp, CLASSIFIER_FILE), onnxBytes);
    fs.writeFileSync(path.join(tmp, SIDECAR_FILE), `${JSON.stringify(sidecar, null, 2)}\n`);
    fs.renameSync(tmp, final);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return final;
}
