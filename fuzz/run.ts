// npm run fuzz: every parser target (see targets.ts) for its number of cases (2000-3000 each,
// 19 000 in all), two targets at a time, each on a worker thread watched for hangs and
// heap blow-ups. Prints per-target counts, outcome classes and time; on a failure, the seed
// and fast-check path that replay it, the message, and a file holding the input; exits 1.
//
//   npm run fuzz -- [--target NAME[,NAME]] [--seed N|random] [--runs N] [--path P] [--jobs N]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { formatOutcomes, type Stats } from './harness.ts';

const TARGETS: Record<string, number> = {
  'rpm-header': 3000, 'rpm-scan': 2000, cpio: 2500, elf: 2500, core: 2000, xmlrpc: 3000, kickstart: 2000, conf: 2000,
};
const DEFAULT_SEED = 82_024;
/** No new case for this long: the current one is stuck. */
const HANG_MS = 30_000;
/** Loading the seeds (decompressing the fixture payloads) before the first case. */
const START_MS = 120_000;
/** Per worker: a case that builds a huge JS heap ends the worker, not the machine. */
const HEAP_MB = 1024;
/** A case slower than this is a failure here (not in npm test, where the machine may be loaded). */
const SLOW_MS = 10_000;

const USAGE = `usage: npm run fuzz -- [--target NAME[,NAME]] [--seed N|random] [--runs N] [--path P] [--jobs N]
targets: ${Object.keys(TARGETS).join(', ')}`;

const { values } = parseArgs({
  options: {
    target: { type: 'string' }, seed: { type: 'string' }, runs: { type: 'string' }, path: { type: 'string' },
    jobs: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const names = values.target ? values.target.split(',').map((s) => s.trim()) : Object.keys(TARGETS);
for (const n of names) {
  if (!(n in TARGETS)) {
    console.error(`unknown target "${n}"\n${USAGE}`);
    process.exit(2);
  }
}
const seed = values.seed === 'random' ? Math.floor(Math.random() * 2 ** 31) : values.seed ? Number(values.seed) : DEFAULT_SEED;
const runsOverride = values.runs ? Number(values.runs) : undefined;
if (!Number.isInteger(seed) || (runsOverride !== undefined && !(runsOverride > 0))) {
  console.error(USAGE);
  process.exit(2);
}
const jobs = Math.max(1, Number(values.jobs ?? Math.min(2, availableParallelism())));
// The targets' scratch files (extracted members, spill files, cores, conf folders) go here;
// removed at the end, whatever the workers managed to clean up.
const scratchRoot = mkdtempSync(join(process.platform === 'linux' ? '/dev/shm' : tmpdir(), 'darkforge-fuzz-'));
process.on('exit', () => rmSync(scratchRoot, { recursive: true, force: true }));

function runTarget(name: string): Promise<Stats> {
  const heartbeat = new SharedArrayBuffer(4);
  const beat = new Int32Array(heartbeat);
  // A path replays one case (the counterexample) unless --runs says otherwise.
  const runs = runsOverride ?? (values.path ? 1 : TARGETS[name]);
  const started = Date.now();
  return new Promise((resolve) => {
    const w = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { name, seed, runs, path: values.path, heartbeat, slowMs: SLOW_MS },
      resourceLimits: { maxOldGenerationSizeMb: HEAP_MB },
      // Decoders run in process: the fuzz cases must not each start a decoder program.
      env: { ...process.env, DARKFORGE_EXTERNAL_DECODERS: process.env.DARKFORGE_EXTERNAL_DECODERS ?? '0', DARKFORGE_FUZZ_TMP: scratchRoot },
    });
    let last = 0;
    let lastAt = Date.now();
    let settled = false;
    const finish = (s: Stats): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      resolve(s);
    };
    const stuck = (message: string): void => {
      const n = Atomics.load(beat, 0);
      finish({
        target: name, runs: n, ms: Date.now() - started, outcomes: {},
        failure: { seed, path: n ? String(n - 1) : null, message },
      });
      void w.terminate();
    };
    const watch = setInterval(() => {
      const n = Atomics.load(beat, 0);
      if (n !== last) { last = n; lastAt = Date.now(); return; }
      const limit = n === 0 ? START_MS : HANG_MS;
      if (Date.now() - lastAt > limit) stuck(`case ${n - 1} gave no answer within ${limit / 1000} s (a hang)`);
    }, 1000);
    w.on('message', (s: Stats) => finish(s));
    w.on('error', (e) => stuck(`the worker died: ${e.name}: ${e.message}${(e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ? ` (heap over ${HEAP_MB} MB)` : ''}`));
    w.on('exit', (code) => { if (!settled) stuck(`the worker exited with code ${code} before reporting`); });
  });
}

function report(s: Stats): void {
  const secs = (s.ms / 1000).toFixed(1);
  console.log(`${s.target.padEnd(11)} ${String(s.runs).padStart(6)} cases ${secs.padStart(6)} s  ${formatOutcomes(s.outcomes)}`);
  if (!s.failure) return;
  const f = s.failure;
  console.log(`  FAILED: ${f.message}`);
  console.log(`  replay: npm run fuzz -- --target ${s.target} --seed ${f.seed}${f.path ? ` --path ${f.path}` : ''}`);
  if (f.stack) console.log(f.stack.split('\n').slice(0, 8).map((l) => `    ${l}`).join('\n'));
  if (f.input !== undefined) {
    const dir = join(tmpdir(), 'darkforge-fuzz-failures');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${s.target}-${f.seed}-${(f.path ?? 'x').replace(/:/g, '_')}.bin`);
    writeFileSync(file, f.input);
    console.log(`  input: ${file}`);
  }
}

console.log(`darkforge fuzz: seed ${seed}, ${names.length} targets, ${jobs} at a time`);
const started = Date.now();
const queue = [...names];
const results: Stats[] = [];
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  for (let name = queue.shift(); name; name = queue.shift()) {
    const s = await runTarget(name);
    report(s);
    results.push(s);
  }
}));
const total = results.reduce((a, s) => a + s.runs, 0);
const failed = results.filter((s) => s.failure);
console.log(`${total} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; ${failed.length ? `${failed.length} target(s) FAILED: ${failed.map((s) => s.target).join(', ')}` : 'no failures'}`);
process.exit(failed.length ? 1 : 0);
