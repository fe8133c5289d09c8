// Import throughput with 1, 2 and 4 `darkserver import --worker` processes on one queue in
// PostgreSQL (a throwaway cluster, test/helpers/pg.ts), against the fake Koji hub answering every
// request after latency_ms, as a distant hub does. The workers are plain processes on this
// machine, reaching PostgreSQL and the hub over loopback (the network-namespace tests show they
// work across machines; here only the queue and the hub's latency are measured). Each run queues
// the builds into a new database with `import --queue` (untimed, no latency), then times the
// workers from their start until the last one has exited.
import { availableParallelism } from 'node:os';
import { execa } from 'execa';
import { buildsFromRpmDir, startFakeKoji, type FakeBuildSpec } from '../test/helpers/fake-koji.ts';
import { startPg } from '../test/helpers/pg.ts';
import { ensureSmallRpms } from './corpus.ts';
import { infoRow, sec, times, type Row } from './report.ts';
import { DARKSERVER, log, median, nowMs } from './util.ts';

export const WORKERS_TOOLS = ['rpmbuild', 'rpm', 'python3'];
const WORKER_COUNTS = [1, 2, 4];
const BUILDS = 200;
const LATENCY_MS = 50;
/** --jobs of each worker (import's default). */
const JOBS = 4;

export interface WorkersCase { workers: number; runsMs: number[]; medianMs: number; rpmsPerSec: number; requests: number }
export interface WorkersResult {
  builds: number; rpms: number; corpusBytes: number; latencyMs: number; jobs: number; cpus: number;
  queueMs: number; cases: WorkersCase[]; checks: string[];
}

/** Every RPM of the corpus as a Koji build of its own (package = the RPM's name), as most Koji builds of small packages are. */
function singleRpmBuilds(rpms: string[]): FakeBuildSpec[] {
  const all = buildsFromRpmDir(rpms, { firstId: 100_000 }).flatMap((b) => b.rpms.filter((r) => r.arch !== 'src'));
  return all.map((r, i) => {
    const id = 100_000 + i;
    return {
      id, package_id: i + 1, package_name: r.name, name: r.name, version: r.version, release: r.release, epoch: r.epoch,
      nvr: r.nvr, state: 1, volume_name: 'DEFAULT', task_id: id * 10, rpms: [{ ...r, id: id * 100 + 1, build_id: id }],
    };
  });
}

export async function workersBench(runs: number): Promise<WorkersResult> {
  const corpus = await ensureSmallRpms(BUILDS);
  const builds = singleRpmBuilds(corpus.rpms);
  const hub = await startFakeKoji({ builds });
  const pg = await startPg();
  const env = { NO_COLOR: '1', DARKFORGE_DEBUG: '' };
  const checks: string[] = [];
  const cases: WorkersCase[] = [];
  let queueMs = 0;
  try {
    for (const n of WORKER_COUNTS) {
      const c: WorkersCase = { workers: n, runsMs: [], medianMs: 0, rpmsPerSec: 0, requests: 0 };
      for (let i = 0; i < runs; i++) {
        const db = await pg.newDatabase(`w${n}`);
        await hub.control({ faults: { latency_ms: 0 } });
        const q0 = nowMs();
        const q = await execa(process.execPath, [DARKSERVER, 'import', '--queue', '--json', '--db', db, '--hub', hub.hub, '--topurl', hub.topurl,
          '--instance', 'bench', ...builds.map((b) => String(b.id))], { reject: false, env });
        queueMs = nowMs() - q0;
        if (q.exitCode !== 0) throw new Error(`darkserver import --queue exited ${q.exitCode}: ${q.stderr.trim().split('\n').slice(-3).join(' / ')}`);
        await hub.control({ faults: { latency_ms: LATENCY_MS } });
        const before = hub.requests().length;
        const t0 = nowMs();
        const done = await Promise.all(Array.from({ length: n }, () => execa(process.execPath,
          [DARKSERVER, 'import', '--worker', '--json', '--jobs', String(JOBS), '--db', db], { reject: false, env })));
        const ms = nowMs() - t0;
        c.runsMs.push(ms);
        c.requests = hub.requests().length - before;
        let indexed = 0;
        for (const d of done) {
          if (d.exitCode !== 0) { checks.push(`${n} workers: a worker exited ${d.exitCode}: ${d.stderr.trim().split('\n').slice(-2).join(' / ')}`); continue; }
          indexed += (JSON.parse(d.stdout) as { rpms: { indexed: number } }).rpms.indexed;
        }
        if (indexed !== builds.length) checks.push(`${n} workers: ${indexed} RPMs indexed, the queue held ${builds.length}`);
        log(`import workers: ${n} worker(s) x --jobs ${JOBS}, run ${i + 1}/${runs}: ${builds.length} RPMs in ${sec(ms)}`);
      }
      c.medianMs = median(c.runsMs);
      c.rpmsPerSec = builds.length / (c.medianMs / 1000);
      cases.push(c);
    }
  } finally {
    await hub.stop();
    await pg.stop();
  }
  return { builds: builds.length, rpms: builds.length, corpusBytes: corpus.bytes, latencyMs: LATENCY_MS, jobs: JOBS, cpus: availableParallelism(), queueMs, cases, checks };
}

export function workersRows(r: WorkersResult): Row[] {
  const one = r.cases.find((c) => c.workers === 1);
  return r.cases.map((c) => infoRow(`import throughput, ${c.workers} worker${c.workers > 1 ? 's' : ''} x --jobs ${r.jobs} (PostgreSQL, hub latency ${r.latencyMs} ms)`,
    `${c.rpmsPerSec.toFixed(1)} RPMs/s`, `${r.rpms} single-RPM builds in ${sec(c.medianMs)}`,
    one && c !== one ? `${times(one.medianMs / c.medianMs)} of 1 worker` : ''));
}

export function workersNotes(r: WorkersResult): string[] {
  return [
    `import workers: ${r.rpms} single-RPM Koji builds (${(r.corpusBytes / r.rpms / 1024).toFixed(0)} KiB each on average, header-only), queued with "import --queue" into a new PostgreSQL database for each run; `
      + `then N "import --worker --jobs ${r.jobs}" processes on this ${r.cpus}-CPU machine (plain processes on loopback, no namespaces) until the last exits, node start-up included; `
      + `every hub request (XML-RPC and file GET) answered after ${r.latencyMs} ms; ${r.cases[0]?.requests ?? 0} requests per run.`,
  ];
}
