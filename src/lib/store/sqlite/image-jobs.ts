// Image build jobs in SQLite: each change of state is one statement (or one BEGIN IMMEDIATE
// transaction), and the final states are never left.
import type { Database, Statement } from 'better-sqlite3';
import { lazyStatements } from './statements.js';
import type { FinalState, ImageJobRow, ImageJobStore, JobState, NewImageJob } from '../port.js';

const now = (): number => Math.floor(Date.now() / 1000);

export class SqliteImageJobs implements ImageJobStore {
  private readonly s: Record<string, Statement>;

  constructor(private readonly db: Database, private readonly guard: <T>(fn: () => T) => T) {
    const p = (sql: string): string => sql;
    this.s = lazyStatements(db, {
      insert: p(`INSERT INTO image_jobs (type, arch, backend, config, state, pid, host, created_at, job_dir, log_path, timeout_s, retry_of)
                 VALUES (@type, @arch, @backend, @config, 'queued', @pid, @host, @t, '', '', @timeoutS, @retryOf)`),
      setDir: p('UPDATE image_jobs SET job_dir = ?, log_path = ? WHERE id = ?'),
      get: p('SELECT * FROM image_jobs WHERE id = ?'),
      list: p('SELECT * FROM image_jobs ORDER BY id'),
      handOver: p(`UPDATE image_jobs SET pid = ? WHERE id = ? AND state = 'queued'`),
      started: p(`UPDATE image_jobs SET state = 'running', pid = ?, host = ?, started_at = ? WHERE id = ? AND state = 'queued'`),
      setProcessGroup: p('UPDATE image_jobs SET pgid = ? WHERE id = ?'),
      finished: p(`UPDATE image_jobs SET state = ?, finished_at = ?, artifacts = ?, error = ?, pgid = NULL
                   WHERE id = ? AND state IN ('queued', 'running')`),
      markCanceled: p(`UPDATE image_jobs SET state = 'canceled', finished_at = ?, error = ? WHERE id = ? AND state IN ('queued', 'running')`),
      unfinished: p(`SELECT * FROM image_jobs WHERE state IN ('queued', 'running') AND pid IS NOT NULL`),
      interrupted: p(`UPDATE image_jobs SET state = 'failed', error = ?, finished_at = ?, pgid = NULL WHERE id = ? AND state = ? AND pid = ?`),
    });
  }

  async create(job: NewImageJob, dirs: { claimDir: (id: number) => { jobDir: string; logPath: string }; releaseDir: (jobDir: string) => void }): Promise<ImageJobRow> {
    return this.guard(() => this.db.transaction((): ImageJobRow => {
      const id = Number(this.s.insert.run({ ...job, t: now(), timeoutS: job.timeoutS ?? null, retryOf: job.retryOf ?? null }).lastInsertRowid);
      const { jobDir, logPath } = dirs.claimDir(id);
      try {
        this.s.setDir.run(jobDir, logPath, id);
        return this.s.get.get(id) as ImageJobRow;
      } catch (e) {
        dirs.releaseDir(jobDir);
        throw e;
      }
    }).immediate());
  }

  async get(id: number): Promise<ImageJobRow | undefined> {
    return this.guard(() => this.s.get.get(id) as ImageJobRow | undefined);
  }

  async list(): Promise<ImageJobRow[]> {
    return this.guard(() => this.s.list.all() as ImageJobRow[]);
  }

  async handOver(id: number, pid: number): Promise<void> {
    this.guard(() => this.s.handOver.run(pid, id));
  }

  async started(id: number, pid: number, host: string): Promise<boolean> {
    return this.guard(() => this.s.started.run(pid, host, now(), id).changes === 1);
  }

  async setProcessGroup(id: number, pgid: number | null): Promise<void> {
    this.guard(() => this.s.setProcessGroup.run(pgid, id));
  }

  async finished(id: number, state: FinalState, o: { artifacts: string; error: string | null }): Promise<void> {
    this.guard(() => this.s.finished.run(state, now(), o.artifacts, o.error, id));
  }

  private markCanceledNow(id: number, why: string): boolean {
    return this.s.markCanceled.run(now(), why, id).changes === 1;
  }

  async markCanceled(id: number, why: string): Promise<boolean> {
    return this.guard(() => this.markCanceledNow(id, why));
  }

  async cancel(id: number, why: string): Promise<{ job: ImageJobRow; canceled: boolean }> {
    return this.guard(() => this.db.transaction(() => {
      const canceled = this.markCanceledNow(id, why);
      return { job: this.s.get.get(id) as ImageJobRow, canceled };
    }).immediate());
  }

  async unfinished(): Promise<ImageJobRow[]> {
    return this.guard(() => this.s.unfinished.all() as ImageJobRow[]);
  }

  async markInterrupted(id: number, state: JobState, pid: number, why: string): Promise<boolean> {
    return this.guard(() => this.s.interrupted.run(why, now(), id, state, pid).changes === 1);
  }
}
