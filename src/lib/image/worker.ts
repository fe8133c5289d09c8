// `imagebuild worker`: runs the image jobs recorded for workers (imagebuild boot|dvd|live
// --queue, or an arch the submitting host cannot build) whose arch this machine can build, with
// the same runner as an attached job. Workers meet only in the store: on one machine with SQLite,
// on any number of machines with PostgreSQL. A job is claimed with a lease the runner renews
// while it works; a worker that dies (kill -9, its machine cut off) loses its job once the lease
// runs out, and whoever looks next (another worker's sweep, a status or list anywhere) marks it
// failed, "worker lost on HOST". A cancel from any machine reaches the runner through the record
// within a second. Staging and mail happen here, on the worker's machine.
//
// Stopping (what Koji's kojid does with its tasks): SIGTERM, SIGINT or SIGHUP end the running
// tools and put their jobs back on the queue, for any worker to start afresh, then exit 0; a
// second signal exits at once (the jobs come back when their leases run out). SIGQUIT drains:
// no new job is taken, the running ones finish, then the worker exits 0.
import { hostname } from 'node:os';
import { DatabaseError } from '../index/db-errors.js';
import { thisWorker, type WorkerRef } from '../proc/worker.js';
import type { Store } from '../store/port.js';
import type { Credentials } from './config.js';
import { ImageJob, JobStore } from './jobs.js';
import { jobsRoot } from './location.js';
import { runJob } from './runner.js';
import { JobSecrets, recoverSecrets, secretsFrom } from './secrets.js';
import type { ImageBuildConfig } from './types.js';

export interface WorkerOptions {
  store: Store;
  /** The arches this worker takes jobs of. */
  arches: string[];
  /** Jobs run at once (--jobs). */
  slots: number;
  /** Take jobs until none is waiting, then exit (--once). */
  once: boolean;
  /** How often to look for new jobs. */
  pollMs: number;
  /** Passwords of this machine (--config FILE), for jobs whose record masks them. */
  credentials?: Credentials;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** A line per job that ended (stdout). */
  ended?: (job: ImageJob) => void;
  worker?: WorkerRef;
  env?: NodeJS.ProcessEnv;
}

export interface WorkerResult {
  /** The jobs this worker ran to an end. */
  ran: ImageJob[];
  /** Jobs it put back on the queue when it was stopped. */
  putBack: number[];
  /** The signal that stopped it, if one did. */
  signal?: NodeJS.Signals;
}

interface Active {
  job: ImageJob;
  abort: AbortController;
  done: Promise<void>;
}

/** The passwords a job's record masks, as this machine knows them: its --config first, else the job's own file where this machine has it. */
export async function workerSecrets(cfg: ImageBuildConfig, own?: Credentials): Promise<JobSecrets> {
  const recovered = await recoverSecrets(cfg).catch((): JobSecrets => ({}));
  const mine = own ? secretsFrom(cfg, own) : {};
  return { ...recovered, ...mine };
}

export async function runWorker(o: WorkerOptions): Promise<WorkerResult> {
  const jobs = new JobStore(o.store);
  const me = o.worker ?? thisWorker();
  const active = new Map<number, Active>();
  const result: WorkerResult = { ran: [], putBack: [] };
  let stopping: 'put-back' | 'drain' | undefined;
  let wake: (() => void) | undefined;
  const nap = (ms: number): Promise<void> => new Promise((r) => {
    const t = setTimeout(() => { wake = undefined; r(); }, ms);
    wake = () => { clearTimeout(t); wake = undefined; r(); };
  });

  const onStop = (signal: NodeJS.Signals): void => {
    if (stopping === 'put-back') {
      o.log(`${signal} again: exiting now; the running jobs go back to the queue when their leases run out`);
      process.exit(0);
    }
    result.signal = signal;
    if (signal === 'SIGQUIT') {
      if (!stopping) o.log(`${signal}: taking no new job; ${active.size ? `waiting for ${active.size} running job(s) to finish` : 'none is running'}`);
      stopping ??= 'drain';
    } else {
      stopping = 'put-back';
      o.log(`${signal}: stopping; ${active.size ? `job(s) ${[...active.keys()].join(', ')} go back on the queue` : 'no job was running'}`);
      for (const a of active.values()) a.abort.abort();
    }
    wake?.();
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'];
  for (const s of signals) process.on(s, onStop);

  let storeTrouble = false;
  const storeError = (e: unknown): void => {
    if (!(e instanceof DatabaseError)) throw e;
    // A server that restarts or a link that drops is waited out: the worker is a service.
    if (!storeTrouble) o.log(`${e.message}; trying again every ${Math.round(o.pollMs / 1000)} s`);
    storeTrouble = true;
  };

  const start = async (job: ImageJob): Promise<void> => {
    const abort = new AbortController();
    o.log(`job ${job.id} claimed: ${job.type} for ${job.arch}, job folder ${job.job_dir}`);
    const secrets = await workerSecrets(job.config, o.credentials);
    const done = runJob(job, {
      jobs, attached: false, secrets, worker: me, claimed: true, handleSignals: false, abort: abort.signal, env: o.env,
    }).then(async (final) => {
      if (abort.signal.aborted) {
        if (await jobs.putBack(job.id, me)) {
          result.putBack.push(job.id);
          o.log(`job ${job.id} is back on the queue`);
        } else {
          o.log(`job ${job.id} was not put back: it is ${(await jobs.get(job.id))?.state ?? 'gone'}`);
        }
        return;
      }
      result.ran.push(final);
      o.log(`job ${job.id} ${final.state}${final.error ? `: ${final.error}` : ''}`);
      o.ended?.(final);
    }).catch((e: unknown) => {
      // The store went away at the end of the job: its lease runs out, and others see it lost.
      o.log(`job ${job.id}: ${(e as Error)?.message ?? String(e)}`);
    }).finally(() => {
      active.delete(job.id);
      wake?.();
    });
    active.set(job.id, { job, abort, done });
  };

  try {
    o.log(`worker ${me.id} on ${hostname()}: ${o.arches.join(' ')} jobs, ${o.slots} at a time${o.once ? ', until none is waiting' : ''}`);
    for (;;) {
      let claimedNone = false;
      try {
        // The sweep: jobs of workers whose leases ran out are given up, whoever's they are.
        if (!stopping) await jobs.reap();
        while (active.size < o.slots && !stopping) {
          const job = await jobs.claim(me, { arches: o.arches, jobsRoot: jobsRoot(o.env) });
          if (!job) {
            claimedNone = true;
            break;
          }
          await start(job);
        }
        if (storeTrouble) o.log('the database answers again');
        storeTrouble = false;
      } catch (e) {
        storeError(e);
      }
      if (!active.size && (stopping || (o.once && claimedNone))) break;
      await nap(stopping ? 60_000 : o.pollMs);
    }
    await Promise.all([...active.values()].map((a) => a.done));
  } finally {
    for (const s of signals) process.removeListener(s, onStop);
  }
  return result;
}
