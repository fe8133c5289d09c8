// Image build jobs in SQLite: each change of state is one statement (or one BEGIN IMMEDIATE
// transaction), and the final states are never left. SQLite has one writer at a time, so two
// workers never claim the same job; leases are judged by this machine's clock (every process
// that opens the file runs here).
import type { Database, Statement } from 'better-sqlite3';
import { lazyStatements } from './statements.js';
import type { FinalState, ImageJobRow, ImageJobStore, JobDirs, JobLease, JobLogChunk, JobState, NewImageJob, WorkerRef } from '../port.js';

const now = (): number => Math.floor(Date.now() / 1000);

// Back on the queue for any worker: no process, no folder, no lease.
const UNCLAIM = `state = 'queued', pid = NULL, pgid = NULL, host = NULL, worker_id = NULL, lease_until = NULL, started_at = NULL,
                 job_dir = '', log_path = ''`;

export class SqliteImageJobs implements ImageJobStore {
  private readonly s: Record<string, Statement>;

  constructor(private readonly db: Database, private readonly guard: <T>(fn: () => T) => T) {
    const p = (sql: string): string => sql;
    this.s = lazyStatements(db, {
      insert: p(`INSERT INTO image_jobs (type, arch, backend, config, state, pid, host, created_at, job_dir, log_path, timeout_s, retry_of, for_worker)
                 VALUES (@type, @arch, @backend, @config, 'queued', @pid, @host, @t, '', '', @timeoutS, @retryOf, @forWorker)`),
      setDir: p('UPDATE image_jobs SET job_dir = ?, log_path = ? WHERE id = ?'),
      get: p('SELECT * FROM image_jobs WHERE id = ?'),
      list: p('SELECT * FROM image_jobs ORDER BY id'),
      handOver: p(`UPDATE image_jobs SET pid = ? WHERE id = ? AND state = 'queued'`),
      started: p(`UPDATE image_jobs SET state = 'running', pid = @pid, host = @host, started_at = @t, worker_id = @worker, lease_until = @lease
                  WHERE id = @id AND state = 'queued'`),
      waiting: p(`SELECT id FROM image_jobs WHERE state = 'queued' AND for_worker = 1 AND arch IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT 1`),
      claim: p(`UPDATE image_jobs SET state = 'running', pid = @pid, host = @host, started_at = @t, worker_id = @worker, lease_until = @lease,
                job_dir = @jobDir, log_path = @logPath WHERE id = @id AND state = 'queued' AND for_worker = 1`),
      renew: p(`UPDATE image_jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND worker_id = ?`),
      lapsed: p(`SELECT * FROM image_jobs WHERE state = 'running' AND lease_until < ?`),
      lost: p(`UPDATE image_jobs SET state = 'failed', error = @why, finished_at = @t, pgid = NULL
               WHERE id = @id AND state = 'running' AND worker_id = @worker AND lease_until < @ms`),
      putBack: p(`UPDATE image_jobs SET ${UNCLAIM} WHERE id = ? AND state = 'running' AND for_worker = 1 AND worker_id = ?`),
      setProcessGroup: p('UPDATE image_jobs SET pgid = ? WHERE id = ?'),
      finished: p(`UPDATE image_jobs SET state = ?, finished_at = ?, artifacts = ?, error = ?, pgid = NULL
                   WHERE id = ? AND state IN ('queued', 'running')`),
      markCanceled: p(`UPDATE image_jobs SET state = 'canceled', finished_at = ?, error = ? WHERE id = ? AND state IN ('queued', 'running')`),
      unfinished: p(`SELECT * FROM image_jobs WHERE state IN ('queued', 'running') AND pid IS NOT NULL`),
      interrupted: p(`UPDATE image_jobs SET state = 'failed', error = ?, finished_at = ?, pgid = NULL WHERE id = ? AND state = ? AND pid = ?`),
      logEnd: [`SELECT pos + length(data) FROM image_job_logs WHERE job_id = ? ORDER BY pos DESC LIMIT 1`, 'pluck'],
      logAppend: p('INSERT INTO image_job_logs (job_id, pos, data) VALUES (?, ?, ?)'),
      logTrim: p('DELETE FROM image_job_logs WHERE job_id = ? AND pos + length(data) <= ?'),
      // The pieces are contiguous, so those that start before first + maxBytes hold about maxBytes.
      logRead: p(`SELECT pos, data FROM image_job_logs WHERE job_id = @id AND pos >= @from
                  AND pos < max(@from, (SELECT min(pos) FROM image_job_logs WHERE job_id = @id AND pos >= @from)) + @max ORDER BY pos`),
    });
  }

  async create(job: NewImageJob, dirs: JobDirs): Promise<ImageJobRow> {
    return this.guard(() => this.db.transaction((): ImageJobRow => {
      const id = Number(this.s.insert.run({ ...job, t: now(), timeoutS: job.timeoutS ?? null, retryOf: job.retryOf ?? null, forWorker: job.forWorker ? 1 : 0 }).lastInsertRowid);
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

  async started(id: number, pid: number, host: string, lease?: JobLease): Promise<boolean> {
    return this.guard(() => this.s.started.run({
      id, pid, host, t: now(), worker: lease?.workerId ?? null, lease: lease ? Date.now() + lease.leaseMs : null,
    }).changes === 1);
  }

  async claim(worker: WorkerRef, o: { arches: string[]; leaseMs: number }, dirs: JobDirs): Promise<ImageJobRow | undefined> {
    return this.guard(() => this.db.transaction((): ImageJobRow | undefined => {
      const next = this.s.waiting.get(JSON.stringify(o.arches)) as { id: number } | undefined;
      if (!next) return undefined;
      const { jobDir, logPath } = dirs.claimDir(next.id);
      try {
        this.s.claim.run({
          id: next.id, pid: worker.pid, host: worker.host, worker: worker.id, t: now(), lease: Date.now() + o.leaseMs, jobDir, logPath,
        });
        return this.s.get.get(next.id) as ImageJobRow;
      } catch (e) {
        dirs.releaseDir(jobDir);
        throw e;
      }
    }).immediate());
  }

  async renewLease(id: number, workerId: string, leaseMs: number): Promise<boolean> {
    return this.guard(() => this.s.renew.run(Date.now() + leaseMs, id, workerId).changes === 1);
  }

  async lapsed(): Promise<ImageJobRow[]> {
    return this.guard(() => this.s.lapsed.all(Date.now()) as ImageJobRow[]);
  }

  async markLost(id: number, workerId: string, why: string): Promise<boolean> {
    return this.guard(() => this.s.lost.run({ id, worker: workerId, why, t: now(), ms: Date.now() }).changes === 1);
  }

  async putBack(id: number, workerId: string): Promise<boolean> {
    return this.guard(() => this.s.putBack.run(id, workerId).changes === 1);
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

  async appendLog(id: number, data: Buffer, keepBytes: number): Promise<void> {
    if (!data.length) return;
    this.guard(() => this.db.transaction(() => {
      const pos = (this.s.logEnd.get(id) as number | undefined) ?? 0;
      this.s.logAppend.run(id, pos, data);
      this.s.logTrim.run(id, pos + data.length - keepBytes);
    }).immediate());
  }

  async readLog(id: number, from: number, maxBytes: number): Promise<JobLogChunk[]> {
    return this.guard(() => this.s.logRead.all({ id, from, max: maxBytes }) as JobLogChunk[]);
  }
}
