// `darkserver import --worker --follow`: an import worker that keeps running, as a service, the
// way the original darkserver's darkjobworker waited for jobs: one pass over the queue of every
// instance (drainQueue), a pause of --poll seconds, the next pass, until stopped. Producers
// (`import --queue`, `import --follow --queue`… on any machine) only fill the queue.
//
// Quiet, as a service should be: one line on stdout for each pass that imported, skipped or
// failed something (a JSON object per line with --json), one on stderr for each problem. A problem
// that persists (a hub that stays down) is told once, not at every pass, and told again if it
// comes back after it went away. BUILDING builds are asked about again at every pass and are no
// problem: they are imported by the pass after Koji completes them.
//
// Stopping: SIGTERM, SIGINT or SIGHUP between two passes ends it at once with exit 0. During a
// pass, the RPMs in flight are put back on the queue (nothing of them was written) and it exits
// 128 + the signal. A database that cannot be reached is waited out (drainQueue); any other
// failure of the database ends it with exit 1, its claims put back.
import { drainQueue, type WorkerOptions } from '../import/worker.js';
import type { Store } from '../store/port.js';
import { formatBytes } from './format.js';
import { workerLine } from './import-summary.js';
import { note } from './output.js';
import { progressBar } from './progress.js';
import { serviceLoop } from './service-loop.js';

export interface WorkerFollowRequest extends Omit<WorkerOptions, 'onProgress' | 'onError' | 'onNote' | 'waitBuildingMs' | 'quietBuilding'> {
  pollS: number;
  json?: boolean;
}

export async function runWorkerFollow(store: Store, req: WorkerFollowRequest, label: string): Promise<void> {
  const tty = process.stderr.isTTY && !req.json;
  const bar = progressBar(!req.json, '{bar} {value}/{total} RPMs | {builds} builds | {fetched} fetched');
  /** Problems told in the last pass, and those seen in this one. */
  let told = new Set<string>();
  let seen = new Set<string>();
  const say = (line: string): void => { bar.stop(); note(label, line); };
  const problem = (subject: string, message: string): void => {
    const line = `${subject}: ${message}`;
    seen.add(line);
    if (!told.has(line)) say(line);
  };
  // --retry-failed: failed work is queued again once, at the start; later failures stay failed.
  let retryFailed = req.retryFailed;
  let passes = 0;
  await serviceLoop(store, {
    start: async () => {
      if (tty) say(`working the queue of every instance in the database, looking again every ${req.pollS} s when it is empty (Ctrl-C stops)`);
    },
    startInterrupted: 'interrupted while starting; nothing was changed',
    intervalMs: req.pollS * 1000,
    quiet: () => bar.stop(),
    interrupted: (signal, back) => `interrupted by ${signal} during a pass: ${back} RPMs in progress put back on the queue; `
      + 'the next "darkserver import --worker" takes them',
    step: async () => {
      seen = new Set();
      const sum = await drainQueue(store, {
        ...req, retryFailed, quietBuilding: true,
        onProgress: (p) => bar.update(p.rpmsDone, p.rpmsTotal, { builds: p.builds, fetched: formatBytes(p.bytes) }),
        onError: problem,
        onNote: say,
      });
      retryFailed = false;
      passes++;
      told = seen;
      bar.stop();
      const b = sum.builds;
      if (!b.imported && !b.skipped && !b.failed && !sum.rpms.failed) return;
      process.stdout.write(`${req.json ? JSON.stringify({ ...sum, pass: passes }) : workerLine(sum)}\n`);
    },
  });
  if (tty) say(`stopped after ${passes} passes`);
}
