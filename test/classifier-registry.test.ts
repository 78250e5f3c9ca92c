// The registry that hot-swaps the serving classifier when CURRENT names a new version.
import fs from 'node:fs';
import path from 'node:path';
import { ClassifierRegistry, type ClassifierLoader, nextVersion } from '../src/routing/classifier-registry';
import type { SuccessClassifier } from '../src/routing/classifier';
import { makeTempDir } from './support/temp-dir';

/** A loader that reads the version folder's classifier.json and fails as a real one would on bad JSON. */
const jsonLoader: ClassifierLoader = async (dir) => {
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'classifier.json'), 'utf8')) as { models: string[]; version?: string };
  const classifier: SuccessClassifier = {
    // As the sidecar says, which a dropped-in classifier may set to anything.
    version: spec.version ?? path.basename(dir),
    models: spec.models,
    embedderId: 'fake',
    inputDim: 1,
    featureKind: 'embedding',
    reference: null,
    predict: async (_features, rows) => new Float32Array(rows * spec.models.length),
    dispose: async () => {},
  };
  return classifier;
};

describe('classifier registry', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  const put = (version: string, text: string) => {
    fs.mkdirSync(path.join(tmp.dir, version), { recursive: true });
    fs.writeFileSync(path.join(tmp.dir, version, 'classifier.json'), text);
  };
  const point = (version: string) => fs.writeFileSync(path.join(tmp.dir, 'CURRENT'), `${version}\n`);

  it('keeps serving the last good version past a broken one, logs the failure once, and loads it once it is fixed', async () => {
    const errors: string[] = [];
    const registry = new ClassifierRegistry({ dir: tmp.dir, load: jsonLoader, onError: (m) => errors.push(m) });
    put('v0001', '{"models": ["a", "b"]}');
    point('v0001');
    expect(await registry.refresh()).toBe(true);
    put('v0002', '{"models": [');
    point('v0002');
    expect(await registry.refresh()).toBe(false);
    expect(await registry.refresh()).toBe(false);
    expect(registry.current()?.version).toBe('v0001');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^classifier v0002 not loaded: /);
    // Repaired in place: the next poll sees a changed file and retries.
    put('v0002', '{"models": ["a", "b", "c"]}');
    expect(await registry.refresh()).toBe(true);
    expect(registry.current()).toMatchObject({ version: 'v0002', models: ['a', 'b', 'c'] });
    expect(errors).toHaveLength(1);
    await registry.dispose();
  });

  it('loads a version once even when its sidecar calls it something other than its folder', async () => {
    const loaded: string[] = [];
    const registry = new ClassifierRegistry({ dir: tmp.dir, load: jsonLoader, onLoad: (v) => loaded.push(v) });
    put('v0003', '{"models": ["a"], "version": "skl-2026-01"}');
    point('v0003');
    expect(await registry.refresh()).toBe(true);
    expect(await registry.refresh()).toBe(false);
    expect(await registry.refresh()).toBe(false);
    expect(loaded).toEqual(['v0003']);
    expect(registry.current()?.version).toBe('skl-2026-01');
    await registry.dispose();
  });

  it('goes cold-start when CURRENT is removed, as score and a restart would, and loads again once it is back', async () => {
    const events: string[] = [];
    const disposed: string[] = [];
    const loader: ClassifierLoader = async (dir) => ({ ...(await jsonLoader(dir, {})), dispose: async () => void disposed.push(path.basename(dir)) });
    const registry = new ClassifierRegistry({ dir: tmp.dir, load: loader, retireAfterMs: 0, onLoad: (v) => events.push(`load ${v}`), onUnload: () => events.push('unload') });
    put('v0004', '{"models": ["a"]}');
    point('v0004');
    expect(await registry.refresh()).toBe(true);
    fs.rmSync(path.join(tmp.dir, 'CURRENT'));
    expect(await registry.refresh()).toBe(true);
    expect(registry.current()).toBeNull();
    expect(await registry.refresh()).toBe(false);
    await new Promise((r) => setTimeout(r, 10));
    expect(disposed).toEqual(['v0004']);
    point('v0004');
    expect(await registry.refresh()).toBe(true);
    expect(events).toEqual(['load v0004', 'unload', 'load v0004']);
    await registry.dispose();
  });

  it('disposes of a replaced classifier only once the requests that hold it are done', async () => {
    const dir = path.join(tmp.dir, 'leases');
    fs.mkdirSync(dir);
    const disposed: string[] = [];
    const tracking: ClassifierLoader = async (folder, opts) => ({ ...(await jsonLoader(folder, opts)), dispose: async () => void disposed.push(path.basename(folder)) });
    const registry = new ClassifierRegistry({ dir, load: tracking, retireAfterMs: 0 });
    const write = (version: string) => {
      fs.mkdirSync(path.join(dir, version));
      fs.writeFileSync(path.join(dir, version, 'classifier.json'), '{"models": ["a", "b"]}');
      fs.writeFileSync(path.join(dir, 'CURRENT'), `${version}\n`);
    };
    write('v0001');
    await registry.refresh();
    const slow = registry.acquire(); // a request still embedding its prompt
    write('v0002');
    expect(await registry.refresh()).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(slow.classifier?.version).toBe('v0001');
    expect(disposed).toEqual([]);
    slow.release();
    slow.release(); // twice is once
    expect(disposed).toEqual(['v0001']);
    // Not held: gone after the grace.
    write('v0003');
    await registry.refresh();
    await new Promise((r) => setTimeout(r, 20));
    expect(disposed).toEqual(['v0001', 'v0002']);
    await registry.dispose();
    expect(disposed).toEqual(['v0001', 'v0002', 'v0003']);
  });

  it('never gives the current name to a new version, and reloads a folder replaced under its name', async () => {
    const dir = path.join(tmp.dir, 'replaced');
    fs.mkdirSync(dir);
    const write = (version: string, models: string[]) => {
      fs.mkdirSync(path.join(dir, version), { recursive: true });
      fs.writeFileSync(path.join(dir, version, 'classifier.json'), JSON.stringify({ models }));
    };
    write('v0001', ['a']);
    write('v0002', ['a', 'b']);
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'v0002\n');
    const registry = new ClassifierRegistry({ dir, load: jsonLoader });
    expect(await registry.refresh()).toBe(true);
    // The current folder deleted by hand: the next retrain must not call its classifier v0002 again.
    fs.rmSync(path.join(dir, 'v0002'), { recursive: true });
    expect(nextVersion(dir)).toBe('v0003');
    // Replaced under the same name all the same (copied in by hand): the server loads the new files.
    write('v0002', ['a', 'b', 'c']);
    expect(await registry.refresh()).toBe(true);
    expect(registry.current()?.models).toEqual(['a', 'b', 'c']);
    expect(await registry.refresh()).toBe(false);
    await registry.dispose();
  });
});
