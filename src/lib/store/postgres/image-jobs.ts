// Image build jobs in PostgreSQL: each change of state is one statement (or one transaction),
// and the final states are never left.
import type { FinalState, ImageJobRow, ImageJobStore, JobState, NewImageJob } from '../port.js';
import { nowS, PgDb } from './db.js';

const UNFINISHED = `state IN ('queued', 'running')`;

export class PgImageJobs implements ImageJobStore {
  constructor(private readonly db: PgDb) {}

  async create(job: NewImageJob, dirs: { claimDir: (id: number) => { jobDir: string; logPath: string }; releaseDir: (jobDir: string) => void }): Promise<ImageJobRow> {
    return this.db.tx(async (c) => {
      const [{ id }] = await c.query<{ id: number }>(`INSERT INTO image_jobs (type, arch, backend, config, state, pid, host, created_at, job_dir, log_path, timeout_s, retry_of)
        VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, '', '', $8, $9) RETURNING id`,
      [job.type, job.arch, job.backend, job.config, job.pid, job.host, nowS(), job.timeoutS ?? null, job.retryOf ?? null]);
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

  async started(id: number, pid: number, host: string): Promise<boolean> {
    return (await this.db.query(`UPDATE image_jobs SET state = 'running', pid = $2, host = $3, started_at = $4 WHERE id = $1 AND state = 'queued' RETURNING id`,
      [id, pid, host, nowS()])).length === 1;
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
