// Image build jobs as rows of the index database (Copr's lesson: a job is a record that
// survives restarts). Every change of state is one SQL statement or one transaction, so a
// reader never sees half a record, and the state only moves forward: queued -> running -> one
// final state. A job whose process has died is marked failed ("interrupted") the next time
// anyone looks.
import type { Database } from 'better-sqlite3';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { ioMessage, UserError } from '../errors.js';
import { processAlive } from '../proc/alive.js';
import { groupBelongsTo, runnerAlive } from '../proc/liveness.js';
import { killGroup } from './process-group.js';
import { ImageBuildConfig } from './types.js';

/**
 * `staging_failed`: the images were built but could not be sent to the staging target; they are
 * kept in the job folder (`artifacts` says where) and the error says why.
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'staging_failed' | 'failed' | 'canceled';
export type FinalState = Exclude<JobState, 'queued' | 'running'>;

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
  /** The job's work folder while it exists (kept on failure, or with --keep-workdir); else null. */
  workdir: string | null;
}

type Row = Omit<ImageJob, 'config' | 'artifacts' | 'workdir'> & { config: string; artifacts: string };

const now = (): number => Math.floor(Date.now() / 1000);

/** The work folder inside a job folder. */
export const workDirOf = (jobDir: string): string => join(jobDir, 'work');

const decode = (r: Row): ImageJob => {
  const work = r.job_dir ? workDirOf(r.job_dir) : '';
  return { ...r, config: JSON.parse(r.config), artifacts: JSON.parse(r.artifacts), workdir: work && existsSync(work) ? work : null };
};

export class JobStore {
  constructor(private readonly db: Database) {}

  /**
   * A queued job and its own folder under `jobsRoot`. The folder is claimed with an exclusive
   * mkdir: two databases (or a database made anew) share the XDG jobs folder, and their job 1s
   * must not write into one another's folder. `pid` is the process responsible until a runner
   * takes over (default: this one).
   */
  create(o: { config: ImageBuildConfig; backend: string; jobsRoot: string; timeoutS?: number; retryOf?: number; pid?: number }): ImageJob {
    return this.db.transaction((): ImageJob => {
      const id = Number(this.db.prepare(`INSERT INTO image_jobs (type, arch, backend, config, state, pid, created_at, job_dir, log_path, timeout_s, retry_of)
        VALUES (?, ?, ?, ?, 'queued', ?, ?, '', '', ?, ?)`).run(o.config.type, o.config.arch, o.backend, JSON.stringify(o.config), o.pid ?? process.pid, now(),
        o.timeoutS ?? null, o.retryOf ?? null).lastInsertRowid);
      const dir = claimJobDir(o.jobsRoot, id);
      try {
        this.db.prepare('UPDATE image_jobs SET job_dir = ?, log_path = ? WHERE id = ?').run(dir, join(dir, 'job.log'), id);
        return this.get(id)!;
      } catch (e) {
        rmdirSync(dir);
        throw e;
      }
    }).immediate();
  }

  get(id: number): ImageJob | undefined {
    this.reapDead();
    const r = this.db.prepare('SELECT * FROM image_jobs WHERE id = ?').get(id) as Row | undefined;
    return r && decode(r);
  }

  list(): ImageJob[] {
    this.reapDead();
    return (this.db.prepare('SELECT * FROM image_jobs ORDER BY id').all() as Row[]).map(decode);
  }

  /** A detached runner takes over a queued job from the process that created it. */
  handOver(id: number, pid: number): void {
    this.db.prepare(`UPDATE image_jobs SET pid = ? WHERE id = ? AND state = 'queued'`).run(pid, id);
  }

  /** queued -> running; false when the job is no longer queued (canceled meanwhile): do not run it. */
  started(id: number, pid: number): boolean {
    return this.db.prepare(`UPDATE image_jobs SET state = 'running', pid = ?, started_at = ? WHERE id = ? AND state = 'queued'`).run(pid, now(), id).changes === 1;
  }

  setProcessGroup(id: number, pgid: number | null): void {
    this.db.prepare('UPDATE image_jobs SET pgid = ? WHERE id = ?').run(pgid, id);
  }

  /**
   * Final state, in one statement, once: a job that is already final (canceled while its build
   * was ending, or given up as interrupted) keeps its record as it is, so every reader of a
   * final record sees the same one.
   */
  finished(id: number, state: FinalState, o: { artifacts?: string[]; error?: string } = {}): void {
    this.db.prepare(`UPDATE image_jobs SET state = ?, finished_at = ?, artifacts = ?, error = ?, pgid = NULL
      WHERE id = ? AND state IN ('queued', 'running')`)
      .run(state, now(), JSON.stringify(o.artifacts ?? []), o.error ?? null, id);
  }

  /** queued/running -> canceled; false when the job had already ended. `why` goes to the error. */
  markCanceled(id: number, why = 'canceled'): boolean {
    return this.db.prepare(`UPDATE image_jobs SET state = 'canceled', finished_at = ?, error = ? WHERE id = ? AND state IN ('queued', 'running')`)
      .run(now(), why, id).changes === 1;
  }

  /**
   * Cancels in one transaction: either the job was still queued or running and is now canceled
   * (`canceled` true, with the pid and group to signal as they were at that moment), or it had
   * already ended and keeps its state.
   */
  cancel(id: number): { job: ImageJob; canceled: boolean } {
    return this.db.transaction(() => {
      const canceled = this.markCanceled(id, 'canceled (imagebuild cancel)');
      const r = this.db.prepare('SELECT * FROM image_jobs WHERE id = ?').get(id) as Row;
      return { job: decode(r), canceled };
    }).immediate();
  }

  /**
   * Jobs whose process is gone were interrupted (crash, kill -9, reboot). A running job's pid
   * counts only if that process started before the job did (the pid may have been reused); its
   * tool, orphaned in its own process group, is stopped when it still carries the job's token.
   */
  private reapDead(): void {
    const rows = this.db.prepare(`SELECT id, state, pid, pgid, started_at, job_dir FROM image_jobs WHERE state IN ('queued', 'running') AND pid IS NOT NULL`)
      .all() as { id: number; state: JobState; pid: number; pgid: number | null; started_at: number | null; job_dir: string }[];
    for (const r of rows) {
      if (r.pid === process.pid) continue;
      if (r.state === 'running' ? runnerAlive(r.pid, r.started_at, r.job_dir) : processAlive(r.pid)) continue;
      const why = `interrupted: the job's process (pid ${r.pid}) ended before the job did; see its log`;
      const changed = this.db.prepare(`UPDATE image_jobs SET state = 'failed', error = ?, finished_at = ?, pgid = NULL WHERE id = ? AND state = ? AND pid = ?`)
        .run(why, now(), r.id, r.state, r.pid).changes === 1;
      if (changed && r.pgid && groupBelongsTo(r.pgid, r.job_dir)) killGroup(r.pgid);
    }
  }
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
