// Image build jobs as records in the store (Copr's lesson: a job is a record that survives
// restarts). Every change of state is one statement or one transaction in the store, so a
// reader never sees half a record, and the state only moves forward: queued -> running -> one
// final state (a worker that is stopped puts its running job back: running -> queued). A job
// whose process has died is marked failed the next time anyone looks: at once on its own machine
// (its pid is gone), after its lease ran out on any other ("worker lost on HOST").
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ioMessage, UserError } from '../errors.js';
import { processAlive } from '../proc/alive.js';
import { groupBelongsTo, runnerAlive } from '../proc/liveness.js';
import { leaseMs } from '../proc/lease.js';
import { onThisHost, type WorkerRef } from '../proc/worker.js';
import type { FinalState, ImageJobRow, JobDirs, JobLogChunk, JobState, Store } from '../store/port.js';
import { killGroup } from './process-group.js';
import { ImageBuildConfig } from './types.js';

export type { FinalState, JobState } from '../store/port.js';

export interface ImageJob {
  id: number;
  type: string;
  arch: string;
  backend: string;
  config: ImageBuildConfig;
  state: JobState;
  pid: number | null;
  pgid: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  job_dir: string;
  log_path: string;
  artifacts: string[];
  error: string | null;
  timeout_s: number | null;
  retry_of: number | null;
  /** The machine whose process runs (or ran) the job; pid and pgid are that machine's. */
  host?: string | null;
  /** Who holds (or last held) the running job, and until when (store clock, ms) unless renewed. */
  worker_id?: string | null;
  lease_until?: number | null;
  /** Recorded for an `imagebuild worker` (--queue), which claims and runs it. */
  for_worker: boolean;
  /** The job's work folder while it exists on this machine (kept on failure, or with --keep-workdir); else null. */
  workdir: string | null;
}

/** The work folder inside a job folder. */
export const workDirOf = (jobDir: string): string => join(jobDir, 'work');

const decode = (r: ImageJobRow): ImageJob => {
  // A folder of another machine says nothing here, even where a path of that name exists.
  const work = r.job_dir && onThisHost(r.host) ? workDirOf(r.job_dir) : '';
  return {
    ...r, config: JSON.parse(r.config), artifacts: JSON.parse(r.artifacts), for_worker: Number(r.for_worker) === 1,
    workdir: work && existsSync(work) ? work : null,
  };
};

/** No folder yet: a job recorded for a worker gets one on the machine that runs it. */
const NO_DIR: JobDirs = { claimDir: () => ({ jobDir: '', logPath: '' }), releaseDir: () => undefined };

export class JobStore {
  constructor(private readonly store: Store) {}

  private get rows() {
    return this.store.imageJobs;
  }

  /**
   * A queued job and its own folder under `jobsRoot`. The folder is claimed with an exclusive
   * mkdir: two databases (or a database made anew) share the XDG jobs folder, and their job 1s
   * must not write into one another's folder. `pid` is the process responsible until a runner
   * takes over (default: this one).
   */
  async create(o: { config: ImageBuildConfig; backend: string; jobsRoot: string; timeoutS?: number; retryOf?: number; pid?: number }): Promise<ImageJob> {
    const row = await this.rows.create({
      type: o.config.type, arch: o.config.arch, backend: o.backend, config: JSON.stringify(o.config), pid: o.pid ?? process.pid,
      host: hostname(), timeoutS: o.timeoutS, retryOf: o.retryOf,
    }, jobDirs(o.jobsRoot));
    return decode(row);
  }

  /**
   * A job for an `imagebuild worker` of its arch, on this machine or (with a shared store) any
   * other: no process, no folder until a worker claims it.
   */
  async createForWorker(o: { config: ImageBuildConfig; backend: string; timeoutS?: number; retryOf?: number }): Promise<ImageJob> {
    const row = await this.rows.create({
      type: o.config.type, arch: o.config.arch, backend: o.backend, config: JSON.stringify(o.config), pid: null, host: null,
      timeoutS: o.timeoutS, retryOf: o.retryOf, forWorker: true,
    }, NO_DIR);
    return decode(row);
  }

  /**
   * The oldest job waiting for a worker of one of `arches`, now running and held by `worker`
   * under a lease, with its folder made under `jobsRoot` on this machine.
   */
  async claim(worker: WorkerRef, o: { arches: string[]; jobsRoot: string; leaseMs?: number }): Promise<ImageJob | undefined> {
    const row = await this.rows.claim(worker, { arches: o.arches, leaseMs: o.leaseMs ?? leaseMs() }, jobDirs(o.jobsRoot));
    return row && decode(row);
  }

  /** Extend the lease on a running job; false when `worker` holds it no longer (it ended, was canceled or given up). */
  renewLease(id: number, worker: WorkerRef, ms = leaseMs()): Promise<boolean> {
    return this.rows.renewLease(id, worker.id, ms);
  }

  /** A worker's running job back on the queue, for any worker to start afresh. */
  putBack(id: number, worker: WorkerRef): Promise<boolean> {
    return this.rows.putBack(id, worker.id);
  }

  appendLog(id: number, data: Buffer, keepBytes: number): Promise<void> {
    return this.rows.appendLog(id, data, keepBytes);
  }

  readLog(id: number, from: number, maxBytes: number): Promise<JobLogChunk[]> {
    return this.rows.readLog(id, from, maxBytes);
  }

  async get(id: number): Promise<ImageJob | undefined> {
    await this.reapDead();
    const r = await this.rows.get(id);
    return r && decode(r);
  }

  /** The record as it is, without looking for dead jobs first (a runner checking its own job often). */
  async record(id: number): Promise<ImageJob | undefined> {
    const r = await this.rows.get(id);
    return r && decode(r);
  }

  async list(): Promise<ImageJob[]> {
    await this.reapDead();
    return (await this.rows.list()).map(decode);
  }

  /** A detached runner takes over a queued job from the process that created it. */
  handOver(id: number, pid: number): Promise<void> {
    return this.rows.handOver(id, pid);
  }

  /**
   * queued -> running, held by `worker` under a lease it renews (so that other machines sharing
   * the store can tell when its machine is gone); false when the job is no longer queued
   * (canceled meanwhile): do not run it.
   */
  started(id: number, pid: number, worker?: WorkerRef, ms = leaseMs()): Promise<boolean> {
    return this.rows.started(id, pid, hostname(), worker && { workerId: worker.id, leaseMs: ms });
  }

  setProcessGroup(id: number, pgid: number | null): Promise<void> {
    return this.rows.setProcessGroup(id, pgid);
  }

  /**
   * Final state, in one statement, once: a job that is already final (canceled while its build
   * was ending, or given up as interrupted) keeps its record as it is, so every reader of a
   * final record sees the same one.
   */
  finished(id: number, state: FinalState, o: { artifacts?: string[]; error?: string } = {}): Promise<void> {
    return this.rows.finished(id, state, { artifacts: JSON.stringify(o.artifacts ?? []), error: o.error ?? null });
  }

  /** queued/running -> canceled; false when the job had already ended. `why` goes to the error. */
  markCanceled(id: number, why = 'canceled'): Promise<boolean> {
    return this.rows.markCanceled(id, why);
  }

  /**
   * Cancels in one transaction: either the job was still queued or running and is now canceled
   * (`canceled` true, with the pid and group to signal as they were at that moment), or it had
   * already ended and keeps its state.
   */
  async cancel(id: number): Promise<{ job: ImageJob; canceled: boolean }> {
    const { job, canceled } = await this.rows.cancel(id, 'canceled (imagebuild cancel)');
    return { job: decode(job), canceled };
  }

  /**
   * Jobs whose process is gone were interrupted (crash, kill -9, reboot). On this machine that is
   * known at once: a running job's pid counts only if that process started before the job did
   * (the pid may have been reused); its tool, orphaned in its own process group, is stopped when
   * it still carries the job's token. A pid of another machine means nothing here: a job running
   * there is given up once its lease ran out (its machine died, or lost its link to the store).
   */
  async reap(): Promise<void> {
    for (const r of await this.rows.unfinished()) {
      if (r.pid === null || r.pid === process.pid || !onThisHost(r.host)) continue;
      if (r.state === 'running' ? runnerAlive(r.pid, r.started_at, r.job_dir) : processAlive(r.pid)) continue;
      const who = Number(r.for_worker) === 1 ? `worker lost on ${r.host ?? hostname()}: its process` : 'interrupted: the job\'s process';
      const why = `${who} (pid ${r.pid}) ended before the job did; see its log`;
      const changed = await this.rows.markInterrupted(r.id, r.state, r.pid, why);
      if (changed && r.pgid && groupBelongsTo(r.pgid, r.job_dir)) killGroup(r.pgid);
    }
    for (const r of await this.rows.lapsed()) {
      if (onThisHost(r.host) || !r.worker_id) continue;
      const at = r.lease_until ? new Date(r.lease_until).toISOString().replace(/\.\d+Z$/, 'Z') : 'its deadline';
      await this.rows.markLost(r.id, r.worker_id, `worker lost on ${r.host}: ${r.worker_id} stopped renewing its lease on the job (killed, or cut off from the database); it ran out at ${at}`);
    }
  }

  private reapDead(): Promise<void> {
    return this.reap();
  }
}

/** Job folders claimed under `root` on this machine. */
function jobDirs(root: string): JobDirs {
  return {
    claimDir: (id) => {
      const dir = claimJobDir(root, id);
      return { jobDir: dir, logPath: join(dir, 'job.log') };
    },
    releaseDir: (dir) => rmdirSync(dir),
  };
}

/** `root/ID`, or `root/ID-2`, … when another job store already has a folder of that name. */
export function claimJobDir(root: string, id: number): string {
  try {
    mkdirSync(root, { recursive: true });
  } catch (e) {
    throw new UserError(`cannot create the jobs folder ${root}: ${ioMessage(e)}`, 1);
  }
  for (let n = 1; n <= 1000; n++) {
    const dir = join(root, n === 1 ? String(id) : `${id}-${n}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`cannot create the job folder ${dir}: ${ioMessage(e)}`, 1);
    }
  }
  throw new UserError(`cannot create a folder for job ${id} in ${root}: ${id} and ${id}-2 … ${id}-1000 all exist`, 1);
}
