// One fuzz target on its own thread, so that run.ts can stop a case stuck in a synchronous loop
// (terminate() interrupts running JavaScript) and a heap blow-up ends only this thread.
import { parentPort, workerData } from 'node:worker_threads';
import { checkTarget } from './harness.ts';
import { allTargets } from './targets.ts';

const { name, seed, runs, path, heartbeat, slowMs } = workerData as {
  name: string; seed: number; runs: number; path?: string; heartbeat: SharedArrayBuffer; slowMs?: number;
};
const beat = new Int32Array(heartbeat);

const target = (await allTargets()).find((t) => t.name === name);
if (!target) throw new Error(`no fuzz target ${name}`);
const stats = await checkTarget(target, {
  seed, runs, path, shrink: path === undefined, slowMs,
  onCase: (n) => { Atomics.store(beat, 0, n + 1); },
});
parentPort!.postMessage(stats);
