// Image build jobs in PostgreSQL: each change of state is one statement (or one transaction),
// and the final states are never left. Workers on any number of machines claim jobs with
// SELECT … FOR UPDATE SKIP LOCKED (concurrent claimants neither wait for each other nor get the
// same job); leases are judged by the server's clock (NOW_MS), so the machines' clocks need not agree.
import type { FinalState, ImageJobRow, ImageJobStore, JobDirs, JobLease, JobLogChunk, JobState, NewImageJob, WorkerRef } from '../port.js';
import { NOW_MS, nowS, PgDb } from './db.js';

const UNFINISHED = `state IN ('queued', 'running')`;

// Back on the queue for any worker: no process, no folder, no lease.
const UNCLAIM = `state = 'queued', pid = NULL, pgid = NULL, host = NULL, worker_id = NULL, lease_until = NULL, started_at = NULL,
                 job_dir = '', log_path = ''`;

export class PgImageJobs implements ImageJobStore {
  constructor(private readonly db: PgDb) {}

  async create(job: NewImageJob, dirs: JobDirs): Promise<ImageJobRow> {
    return this.db.tx(async (c) => {
      const [{ id }] = await c.query<{ id: number }>(`INSERT INTO image_jobs (type, arch, backend, config, state, pid, host, created_at, job_dir, log_path, timeout_s, retry_of, for_worker)
        VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, '', '', $8, $9, $10) RETURNING id`,
      [job.type, job.arch, job.backend, job.config, job.pid, job.host, nowS(), job.timeoutS ?? null, job.retryOf ?? null, job.forWorker ? 1 : 0]);
      const { jobDir, logPath } = dirs.claimDir(id);
      try {
        const [row] = await c.query<ImageJobRow>('UPDATE image_jobs SET job_dir = $2, log_path = $3 WHERE id = $1 RETURNING *', [id, jobDir, logPath]);
        return row;
      } catch (e) {
        dirs.releaseDir(jobDir);
        throw e;
      }
    });
  }

  async get(id: number): Promise<ImageJobRow | undefined> {
    return (await this.db.query<ImageJobRow>({ name: 'dfj_get', text: 'SELECT * FROM image_jobs WHERE id = $1' }, [id]))[0];
  }

  async list(): Promise<ImageJobRow[]> {
    return this.db.query<ImageJobRow>('SELECT * FROM image_jobs ORDER BY id');
  }

  async handOver(id: number, pid: number): Promise<void> {
    await this.db.query(`UPDATE image_jobs SET pid = $2 WHERE id = $1 AND state = 'queued'`, [id, pid]);
  }

  async started(id: number, pid: number, host: string, lease?: JobLease): Promise<boolean> {
    return (await this.db.query(`UPDATE image_jobs SET state = 'running', pid = $2, host = $3, started_at = $4,
        worker_id = $5, lease_until = CASE WHEN $6::bigint IS NULL THEN NULL ELSE ${NOW_MS} + $6::bigint END
      WHERE id = $1 AND state = 'queued' RETURNING id`,
    [id, pid, host, nowS(), lease?.workerId ?? null, lease ? Math.round(lease.leaseMs) : null])).length === 1;
  }

  async claim(worker: WorkerRef, o: { arches: string[]; leaseMs: number }, dirs: JobDirs): Promise<ImageJobRow | undefined> {
    return this.db.tx(async (c) => {
      const [next] = await c.query<{ id: number }>(`SELECT id FROM image_jobs WHERE state = 'queued' AND for_worker = 1 AND arch = ANY($1::text[])
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, [o.arches]);
      if (!next) return undefined;
      const { jobDir, logPath } = dirs.claimDir(next.id);
      try {
        const [row] = await c.query<ImageJobRow>(`UPDATE image_jobs SET state = 'running', pid = $2, host = $3, started_at = $4, worker_id = $5,
            lease_until = ${NOW_MS} + $6, job_dir = $7, log_path = $8 WHERE id = $1 RETURNING *`,
        [next.id, worker.pid, worker.host, nowS(), worker.id, Math.round(o.leaseMs), jobDir, logPath]);
        return row;
      } catch (e) {
        dirs.releaseDir(jobDir);
        throw e;
      }
    });
  }

  async renewLease(id: number, workerId: string, leaseMs: number): Promise<boolean> {
    return (await this.db.query({ name: 'dfj_renew', text: `UPDATE image_jobs SET lease_until = ${NOW_MS} + $3
      WHERE id = $1 AND state = 'running' AND worker_id = $2 RETURNING id` }, [id, workerId, Math.round(leaseMs)])).length === 1;
  }

  async lapsed(): Promise<ImageJobRow[]> {
    return this.db.query<ImageJobRow>({ name: 'dfj_lapsed', text: `SELECT * FROM image_jobs WHERE state = 'running' AND lease_until < ${NOW_MS}` });
  }

  async markLost(id: number, workerId: string, why: string): Promise<boolean> {
    return (await this.db.query(`UPDATE image_jobs SET state = 'failed', error = $3, finished_at = $4, pgid = NULL
      WHERE id = $1 AND state = 'running' AND worker_id = $2 AND lease_until < ${NOW_MS} RETURNING id`, [id, workerId, why, nowS()])).length === 1;
  }

  async putBack(id: number, workerId: string): Promise<boolean> {
    return (await this.db.query(`UPDATE image_jobs SET ${UNCLAIM} WHERE id = $1 AND state = 'running' AND for_worker = 1 AND worker_id = $2 RETURNING id`,
      [id, workerId])).length === 1;
  }

  async appendLog(id: number, data: Buffer, keepBytes: number): Promise<void> {
    if (!data.length) return;
    await this.db.tx(async (c) => {
      // One writer per job (its runner), so the end read here is still the end at the insert.
      const [last] = await c.query<{ end: number }>(`SELECT pos + octet_length(data) AS end FROM image_job_logs WHERE job_id = $1
        ORDER BY pos DESC LIMIT 1`, [id]);
      const pos = last?.end ?? 0;
      await c.query('INSERT INTO image_job_logs (job_id, pos, data) VALUES ($1, $2, $3)', [id, pos, data]);
      await c.query('DELETE FROM image_job_logs WHERE job_id = $1 AND pos + octet_length(data) <= $2', [id, pos + data.length - keepBytes]);
    });
  }

  async readLog(id: number, from: number, maxBytes: number): Promise<JobLogChunk[]> {
    // The pieces are contiguous, so those that start before first + maxBytes hold about maxBytes.
    return this.db.query<JobLogChunk>({ name: 'dfj_log', text: `SELECT pos, data FROM image_job_logs WHERE job_id = $1 AND pos >= $2
      AND pos < greatest($2, (SELECT min(pos) FROM image_job_logs WHERE job_id = $1 AND pos >= $2)) + $3 ORDER BY pos` }, [id, from, maxBytes]);
  }

  async setProcessGroup(id: number, pgid: number | null): Promise<void> {
    await this.db.query('UPDATE image_jobs SET pgid = $2 WHERE id = $1', [id, pgid]);
  }

  async finished(id: number, state: FinalState, o: { artifacts: string; error: string | null }): Promise<void> {
    await this.db.query(`UPDATE image_jobs SET state = $2, finished_at = $3, artifacts = $4, error = $5, pgid = NULL WHERE id = $1 AND ${UNFINISHED}`,
      [id, state, nowS(), o.artifacts, o.error]);
  }

  async markCanceled(id: number, why: string): Promise<boolean> {
    return (await this.db.query(`UPDATE image_jobs SET state = 'canceled', finished_at = $2, error = $3 WHERE id = $1 AND ${UNFINISHED} RETURNING id`,
      [id, nowS(), why])).length === 1;
  }

  async cancel(id: number, why: string): Promise<{ job: ImageJobRow; canceled: boolean }> {
    return this.db.tx(async (c) => {
      const canceled = (await c.query(`UPDATE image_jobs SET state = 'canceled', finished_at = $2, error = $3 WHERE id = $1 AND ${UNFINISHED} RETURNING id`,
        [id, nowS(), why])).length === 1;
      const [job] = await c.query<ImageJobRow>('SELECT * FROM image_jobs WHERE id = $1', [id]);
      return { job, canceled };
    });
  }

  async unfinished(): Promise<ImageJobRow[]> {
    return this.db.query<ImageJobRow>({ name: 'dfj_unfinished', text: `SELECT * FROM image_jobs WHERE ${UNFINISHED} AND pid IS NOT NULL` });
  }

  async markInterrupted(id: number, state: JobState, pid: number, why: string): Promise<boolean> {
    return (await this.db.query(`UPDATE image_jobs SET state = 'failed', error = $2, finished_at = $3, pgid = NULL
      WHERE id = $1 AND state = $4 AND pid = $5 RETURNING id`, [id, why, nowS(), state, pid])).length === 1;
  }
}
