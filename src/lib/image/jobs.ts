// Image build jobs as rows of the index database (Copr's lesson: a job is a record that
// survives restarts). A job whose process has died is marked failed ("interrupted") the next
// time anyone looks.
import type { Database } from 'better-sqlite3';
import { processAlive } from '../proc/alive.js';
import { ImageBuildConfig } from './types.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

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
}

type Row = Omit<ImageJob, 'config' | 'artifacts'> & { config: string; artifacts: string };

const now = (): number => Math.floor(Date.now() / 1000);
const decode = (r: Row): ImageJob => ({ ...r, config: JSON.parse(r.config), artifacts: JSON.parse(r.artifacts) });

export class JobStore {
  constructor(private readonly db: Database) {}

  create(o: { config: ImageBuildConfig; backend: string; jobsDir: (id: number) => string; timeoutS?: number; retryOf?: number }): ImageJob {
    return this.db.transaction((): ImageJob => {
      const id = Number(this.db.prepare(`INSERT INTO image_jobs (type, arch, backend, config, state, created_at, job_dir, log_path, timeout_s, retry_of)
        VALUES (?, ?, ?, ?, 'queued', ?, '', '', ?, ?)`).run(o.config.type, o.config.arch, o.backend, JSON.stringify(o.config), now(),
        o.timeoutS ?? null, o.retryOf ?? null).lastInsertRowid);
      const dir = o.jobsDir(id);
      this.db.prepare('UPDATE image_jobs SET job_dir = ?, log_path = ? WHERE id = ?').run(dir, `${dir}/job.log`, id);
      return this.get(id)!;
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

  started(id: number, pid: number): void {
    this.db.prepare(`UPDATE image_jobs SET state = 'running', pid = ?, started_at = ? WHERE id = ?`).run(pid, now(), id);
  }

  setProcessGroup(id: number, pgid: number | null): void {
    this.db.prepare('UPDATE image_jobs SET pgid = ? WHERE id = ?').run(pgid, id);
  }

  /** Final state; a job already canceled stays canceled. */
  finished(id: number, state: 'succeeded' | 'failed' | 'canceled', o: { artifacts?: string[]; error?: string } = {}): void {
    this.db.prepare(`UPDATE image_jobs SET state = CASE WHEN state = 'canceled' THEN 'canceled' ELSE ? END,
      finished_at = ?, artifacts = ?, error = coalesce(?, error), pgid = NULL WHERE id = ?`)
      .run(state, now(), JSON.stringify(o.artifacts ?? []), o.error ?? null, id);
  }

  markCanceled(id: number): void {
    this.db.prepare(`UPDATE image_jobs SET state = 'canceled', finished_at = ?, error = 'canceled' WHERE id = ? AND state IN ('queued', 'running')`).run(now(), id);
  }

  /** Running jobs whose process is gone were interrupted (crash, kill -9, reboot). */
  private reapDead(): void {
    const rows = this.db.prepare(`SELECT id, pid FROM image_jobs WHERE state = 'running'`).all() as { id: number; pid: number | null }[];
    for (const r of rows) {
      if (r.pid && processAlive(r.pid)) continue;
      this.db.prepare(`UPDATE image_jobs SET state = 'failed', error = 'interrupted', finished_at = ? WHERE id = ? AND state = 'running'`).run(now(), r.id);
    }
  }
}
