// Gateway overhead and throughput. The gateway runs as `switchyard serve` in its own process (as in
// production), with the real default embedder, a classifier trained here, and decision logging on; its
// models point at a minimal OpenAI-style upstream in a third process. Measures:
//   overhead   – p50/p99 latency through the gateway minus calling the same upstream directly, one request
//                at a time, alternating the two;
//   throughput – non-streaming requests per second with 64 connections kept busy;
//   lost rows  – after SIGTERM, every decision id a client received must be a row in the log.
// Targets on 2 cores: overhead p50 ≤ 2 ms, ≥ 1,500 req/s, no lost rows.
//   npm run build && npm run bench:gateway -- [--requests 2000] [--seconds 10] [--concurrency 64]
//     [--data-dir ../shared/data] [--dataset routellm/gsm8k.train.jsonl] [--models-dir models/embedder] [--profile dir]
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite-store';
import { createTransformersEmbedder, ensureDefaultEmbedder, resolveEmbedderDir } from '../src/embedding/transformers-embedder';
import { readOutcomeFile } from '../training/outcome-file';
import { readPriceFile } from '../training/prices';
import { retrain } from '../training/retrain';
import { resolveDataDir } from './data-dir';

const REPO = path.resolve(__dirname, '..', '..');

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const sortNum = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
const ms = (x: number): string => `${x.toFixed(3)} ms`;

/**
 * The cheapest possible OpenAI-compatible upstream: one canned answer, no parsing beyond draining the
 * body. It runs in a process of its own, as a real upstream would, so the direct calls and the gateway's
 * calls both cross a process boundary and the difference between them is the gateway's own cost.
 */
const UPSTREAM_SCRIPT = `
const http = require('node:http');
const body = Buffer.from(JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model: 'upstream',
  choices: [{ index: 0, message: { role: 'assistant', content: 'The answer is 42.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 120, completion_tokens: 8, total_tokens: 128 },
}));
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

async function startUpstream(): Promise<{ url: string; close: () => void }> {
  const child = spawn(process.execPath, ['-e', UPSTREAM_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => child.kill('SIGTERM') };
}

interface Answer {
  status: number;
  decisionId: string | undefined;
}

/** A keep-alive HTTP client: one POST, body read to the end. */
function makeClient(agent: http.Agent) {
  return (url: string, payload: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        res.resume();
        res.on('end', () => {
          const id = res.headers['x-switchyard-decision-id'];
          resolve({ status: res.statusCode ?? 0, decisionId: typeof id === 'string' ? id : undefined });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
}

/** CPU time (user + system) a process has used, from /proc; null where there is no /proc. */
function processCpuMs(pid: number | undefined): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at the last ')'; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

async function startGateway(configFile: string, profileDir: string | undefined): Promise<{ child: ChildProcess; url: string; logs: string[] }> {
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(REPO, 'bin', 'switchyard.js'), 'serve', '--config', configFile, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        const m = /switchyard listening on (http:\/\/\S+)/.exec(line);
        if (m) resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening:\n${logs.join('\n')}`)));
  });
  return { child, url, logs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' },
      'data-dir': { type: 'string' }, dataset: { type: 'string' }, 'models-dir': { type: 'string' },
      /** Writes a V8 CPU profile of the gateway process into this folder (open it in Chrome DevTools). */
      profile: { type: 'string' },
      /** Serve without a classifier (cold-start routing: no embedding), to see what routing itself costs. */
      'no-classifier': { type: 'boolean' },
    },
  });
  const sequential = Number(values.requests ?? 2000);
  const seconds = Number(values.seconds ?? 10);
  const concurrency = Number(values.concurrency ?? 64);
  const dataDir = resolveDataDir(values['data-dir'], process.env);
  const file = dataDir ? path.join(dataDir, values.dataset ?? 'routellm/gsm8k.train.jsonl') : path.join(REPO, 'data', 'examples', 'outcomes.jsonl');
  const rows = readOutcomeFile(file);
  const models = [...new Set(rows.flatMap((r) => Object.keys(r.outcomes)))].sort();
  const priceFile = path.join(path.dirname(file), 'models.json');
  const known = fs.existsSync(priceFile) ? readPriceFile(priceFile) : {};
  const prices = Object.fromEntries(models.map((m, i) => [m, known[m] ?? { inputPerMTok: 0.5 * (i + 1), outputPerMTok: 1.5 * (i + 1) }]));

  const modelsDir = path.resolve(values['models-dir'] ?? path.join(REPO, 'models', 'embedder'));
  const hadEmbedder = fs.existsSync(resolveEmbedderDir('default', modelsDir));
  await ensureDefaultEmbedder({ modelsDir, onProgress: (m) => console.error(m) });
  const loadAvg = os.loadavg()[0];
  console.log(`machine: ${os.cpus().length} cores, load average ${loadAvg.toFixed(2)}${loadAvg > 0.5 ? ' (other work is running: figures will be lower than on an idle machine)' : ''}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-gateway-bench-'));
  const upstream = await startUpstream();
  let gateway: Awaited<ReturnType<typeof startGateway>> | null = null;
  try {
    // Train the classifier the gateway will load, with the same embedder it will use.
    const embedder = createTransformersEmbedder({ model: 'default', modelsDir });
    const { id: embedderId } = await embedder.load();
    const store = new SqliteStore({ path: path.join(tmp, 'train.db') });
    const t0 = Date.now();
    try {
      store.importSamples(rows.map((r) => ({ ...r, origin: 'import' as const })));
      if (!values['no-classifier']) await retrain({ store, embedder, classifierDir: path.join(tmp, 'router'), prices, log: () => undefined }, { seed: 1 });
    } finally {
      store.close();
      await embedder.dispose();
    }
    console.log(`setup: embedder ${embedderId}${hadEmbedder ? '' : ' (built now)'}; ${values['no-classifier'] ? 'NO classifier (cold-start routing), data from' : 'classifier trained on'} ${rows.length} rows of ${path.relative(REPO, file) || file} in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${models.length} models: ${models.join(', ')}`);

    const dbPath = path.join(tmp, 'gateway.db');
    const configFile = path.join(tmp, 'switchyard.yaml');
    fs.writeFileSync(
      configFile,
      [
        'server: { host: 127.0.0.1, port: 0, shutdownGraceMs: 10000 }',
        `storage: { path: ${JSON.stringify(dbPath)} }`,
        `embedding: { model: default, modelsDir: ${JSON.stringify(modelsDir)} }`,
        `routing: { classifierDir: ${JSON.stringify(path.join(tmp, 'router'))}, minSuccess: 0.7, reloadIntervalMs: 0 }`,
        'models:',
        ...models.map((m) => `  - { id: ${JSON.stringify(m)}, provider: openai, baseUrl: "${upstream.url}/v1", upstreamModel: up-${m}, price: { inputPerMTok: ${prices[m].inputPerMTok}, outputPerMTok: ${prices[m].outputPerMTok} } }`),
      ].join('\n'),
    );
    gateway = await startGateway(configFile, values.profile);
    const gw = gateway;

    const prompts = rows.map((r) => r.prompt);
    const payload = (i: number, model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: prompts[i % prompts.length] }], max_tokens: 64 });
    const directUrl = `${upstream.url}/v1/chat/completions`;
    const gatewayUrl = `${gw.url}/v1/chat/completions`;
    const ids: string[] = [];
    const failures: number[] = [];
    const record = (a: Answer) => {
      if (a.status !== 200) failures.push(a.status);
      if (a.decisionId) ids.push(a.decisionId);
    };

    // ---- Overhead: one at a time, direct and through the gateway alternately, same prompts. ----------
    const seqAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = makeClient(seqAgent);
    for (let i = 0; i < Math.min(300, sequential); i++) {
      await post(directUrl, payload(i, models[0]));
      record(await post(gatewayUrl, payload(i, 'auto')));
    }
    const direct: number[] = [];
    const via: number[] = [];
    for (let i = 0; i < sequential; i++) {
      let t = performance.now();
      await post(directUrl, payload(i, models[0]));
      direct.push(performance.now() - t);
      t = performance.now();
      record(await post(gatewayUrl, payload(i, 'auto')));
      via.push(performance.now() - t);
    }
    seqAgent.destroy();
    const sequentialIds = new Set(ids);
    if (sequential > 0) {
      const d = sortNum(direct);
      const g = sortNum(via);
      console.log(`\noverhead (${sequential} sequential requests each way, model "auto", logging on):`);
      console.log(`  direct to upstream   p50 ${ms(percentile(d, 0.5))}  p99 ${ms(percentile(d, 0.99))}`);
      console.log(`  through gateway      p50 ${ms(percentile(g, 0.5))}  p99 ${ms(percentile(g, 0.99))}`);
      console.log(`  added by gateway     p50 ${ms(percentile(g, 0.5) - percentile(d, 0.5))}  p99 ${ms(percentile(g, 0.99) - percentile(d, 0.99))}   (target p50 ≤ 2 ms)`);
    }

    // ---- Throughput: `concurrency` connections kept busy for `seconds`. ------------------------------
    const loadAgent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const load = makeClient(loadAgent);
    const latencies: number[] = [];
    let next = 0;
    const runFor = async (target: string, model: string, untilMs: number, keep: boolean) => {
      let done = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < untilMs) {
            const i = next++;
            const t = performance.now();
            const a = await load(target, payload(i, model));
            if (keep) {
              latencies.push(performance.now() - t);
              record(a);
            }
            done += 1;
          }
        }),
      );
      return done;
    };
    await runFor(gatewayUrl, 'auto', performance.now() + 1_000, true); // warm-up, still logged
    const cpu0 = processCpuMs(gw.child.pid);
    const start = performance.now();
    const count = await runFor(gatewayUrl, 'auto', start + seconds * 1000, true);
    const elapsed = (performance.now() - start) / 1000;
    const cpu1 = processCpuMs(gw.child.pid);
    const directCount = await runFor(directUrl, models[0], performance.now() + 2_000, false);
    loadAgent.destroy();
    const l = sortNum(latencies);
    console.log(`\nthroughput (${concurrency} connections, non-streaming, logging on, ${seconds} s):`);
    console.log(`  gateway  ${(count / elapsed).toFixed(0)} req/s   latency p50 ${ms(percentile(l, 0.5))}  p99 ${ms(percentile(l, 0.99))}   (target ≥ 1,500 req/s)`);
    if (cpu0 !== null && cpu1 !== null) {
      const perRequest = ((cpu1 - cpu0) * 1000) / count;
      console.log(`  gateway process CPU ${(perRequest).toFixed(0)} µs per request (${((cpu1 - cpu0) / 10 / elapsed).toFixed(0)}% of a core), i.e. ${(1e6 / perRequest).toFixed(0)} req/s per core`);
    }
    console.log(`  (upstream alone, called from this process: ${(directCount / 2).toFixed(0)} req/s)`);

    // ---- What logging cost, as the gateway measured it. -----------------------------------------------
    const stats = await new Promise<string>((resolve, reject) => {
      http.get(`${gw.url}/v1/stats`, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    const log = (JSON.parse(stats) as { log: Record<string, number | null> }).log;
    console.log(`\ndecision log writer: ${log.written} rows in ${log.batches} batches (largest ${log.max_batch_rows}), flush mean ${log.flush_ms_mean} ms, max ${log.flush_ms_max} ms, forced ${log.forced_flushes}, dropped ${log.dropped}`);

    // ---- SIGTERM, then every decision id a client saw must be in the log. ----------------------------
    const exited = new Promise<number | null>((resolve) => gw.child.once('exit', (code) => resolve(code)));
    gw.child.kill('SIGTERM');
    const code = await exited;
    gateway = null;
    const db = new Database(dbPath, { readonly: true });
    const logged = new Set(db.prepare('SELECT id FROM decisions').pluck().all() as string[]);
    const routed = db.prepare("SELECT reason, COUNT(*) AS n FROM decisions GROUP BY reason").all() as { reason: string; n: number }[];
    const timings = db.prepare('SELECT id, embed_ms + classify_ms AS routing, upstream_ms AS upstream, total_ms AS total FROM decisions').all() as {
      id: string;
      routing: number;
      upstream: number;
      total: number;
    }[];
    db.close();
    const lost = ids.filter((id) => !logged.has(id)).length;
    console.log(`\nlost rows: ${lost} of ${ids.length} answered requests (gateway exit code ${code}, ${failures.length} non-200 answers, ${logged.size} rows in the log)`);
    console.log(`reasons: ${routed.map((x) => `${x.reason} ${x.n}`).join(', ')}`);
    // The gateway's own timings (from the log), one request at a time and under load: queueing shows here.
    for (const [phase, rows] of [
      ['sequential', timings.filter((t) => sequentialIds.has(t.id))],
      [`${concurrency} connections`, timings.filter((t) => !sequentialIds.has(t.id))],
    ] as const) {
      if (rows.length === 0) continue;
      const p50 = (f: (t: (typeof rows)[number]) => number) => ms(percentile(sortNum(rows.map(f)), 0.5));
      console.log(`inside the gateway, ${phase}: total p50 ${p50((t) => t.total)} = routing ${p50((t) => t.routing)} + upstream call ${p50((t) => t.upstream)} + the rest`);
    }
    if (lost > 0 || failures.length > 0 || code !== 0) process.exitCode = 1;
  } finally {
    gateway?.child.kill('SIGKILL');
    upstream.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
