// The import work queue, kept in the index database so an interrupted import resumes.
// Builds: queued -> building (Koji still building) | fetching (RPM rows made) -> done | failed
// | skipped (deleted, failed, canceled or missing in Koji). RPMs: queued -> running -> done | failed.
// A row is claimed with the worker's pid and a heartbeat; a claim whose process is gone is
// returned to the queue on the next run. "Gone" includes a pid the kernel has since given to a
// process that started after the claim (kill -9, then pid reuse), and a claim whose heartbeat
// stopped long ago.
import type { Database, Statement } from 'better-sqlite3';
import { runnerAlive } from '../proc/liveness.js';

export type BuildState = 'queued' | 'building' | 'fetching' | 'done' | 'failed' | 'skipped';
export type RpmState = 'queued' | 'running' | 'done' | 'failed';

export interface BuildJob {
  id: number;
  instance: string;
  koji_build_id: number;
  nvr: string | null;
  state: BuildState;
  koji_state: number | null;
  attempts: number;
  last_error: string | null;
}

export interface RpmJob {
  id: number;
  job_id: number;
  instance: string;
  koji_rpm_id: number;
  nvra: string;
  url: string;
  payloadhash: string | null;
  size: number | null;
  state: RpmState;
  attempts: number;
  last_error: string | null;
  worker_pid: number | null;
}

export interface NewRpmJob {
  koji_rpm_id: number;
  nvra: string;
  url: string;
  payloadhash: string | null;
  size: number | null;
}

const now = (): number => Math.floor(Date.now() / 1000);
/** A claim older than this without a heartbeat is abandoned even if its pid is alive (pid reuse). */
const STALE_SECONDS = 600;

// A failed build goes back to fetching when its RPMs are listed already, else to be listed again.
const RETRY_BUILD = `UPDATE import_builds SET state = CASE WHEN EXISTS (SELECT 1 FROM import_rpms r WHERE r.job_id = import_builds.id)
                     THEN 'fetching' ELSE 'queued' END, updated_at = ?`;

export class ImportQueue {
  private readonly s: Record<string, Statement>;

  constructor(private readonly db: Database, readonly instance: string) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.s = {
      buildByKojiId: p('SELECT * FROM import_builds WHERE instance = ? AND koji_build_id = ?'),
      buildById: p('SELECT * FROM import_builds WHERE id = ?'),
      addBuild: p(`INSERT INTO import_builds (instance, koji_build_id, nvr, state, created_at, updated_at)
                   VALUES (?, ?, ?, 'queued', ?, ?) ON CONFLICT (instance, koji_build_id) DO NOTHING`),
      setBuild: p(`UPDATE import_builds SET state = @state, koji_state = coalesce(@koji_state, koji_state),
                   nvr = coalesce(@nvr, nvr), last_error = @last_error, updated_at = @t WHERE id = @id`),
      buildsIn: p('SELECT * FROM import_builds WHERE instance = ? AND state = ? ORDER BY koji_build_id'),
      addRpm: p(`INSERT INTO import_rpms (job_id, instance, koji_rpm_id, nvra, url, payloadhash, size, state, updated_at)
                 VALUES (@job_id, @instance, @koji_rpm_id, @nvra, @url, @payloadhash, @size, 'queued', @t)
                 ON CONFLICT (instance, koji_rpm_id) DO NOTHING`),
      rpmsOfBuild: p('SELECT * FROM import_rpms WHERE job_id = ? ORDER BY nvra'),
      nextRpm: p(`SELECT * FROM import_rpms WHERE instance = ? AND state = 'queued' ORDER BY job_id, nvra LIMIT 1`),
      claim: p(`UPDATE import_rpms SET state = 'running', worker_pid = ?, heartbeat = ?, attempts = attempts + 1, updated_at = ?
                WHERE id = ? AND state = 'queued'`),
      heartbeat: p('UPDATE import_rpms SET heartbeat = ? WHERE id = ?'),
      finishRpm: p(`UPDATE import_rpms SET state = @state, last_error = @last_error, bytes_fetched = @bytes, method = @method,
                    worker_pid = NULL, updated_at = @t WHERE id = @id`),
      running: p(`SELECT id, worker_pid, heartbeat FROM import_rpms WHERE state = 'running'`),
      queuedRpms: p(`SELECT count(*) FROM import_rpms WHERE instance = ? AND state = 'queued'`).pluck(),
      runningElsewhere: p(`SELECT count(*) FROM import_rpms r JOIN import_builds b ON b.id = r.job_id
                           WHERE r.instance = ? AND r.state = 'running' AND r.worker_pid IS NOT ?
                           AND b.koji_build_id IN (SELECT value FROM json_each(?))`).pluck(),
      release: p(`UPDATE import_rpms SET state = 'queued', worker_pid = NULL, updated_at = ? WHERE id = ?`),
      retryRpms: p(`UPDATE import_rpms SET state = 'queued', updated_at = ? WHERE instance = ? AND state = 'failed'`),
      retryBuilds: p(`${RETRY_BUILD} WHERE instance = ? AND state = 'failed'`),
      retryBuildRpms: p(`UPDATE import_rpms SET state = 'queued', updated_at = ? WHERE job_id = ? AND state = 'failed'`),
      retryBuild: p(`${RETRY_BUILD} WHERE id = ? AND state = 'failed'`),
    };
  }

  /** Put a build on the queue (no-op if it is there already); returns its row. */
  addBuild(kojiBuildId: number, nvr?: string): BuildJob {
    this.s.addBuild.run(this.instance, kojiBuildId, nvr ?? null, now(), now());
    return this.build(kojiBuildId)!;
  }

  build(kojiBuildId: number): BuildJob | undefined {
    return this.s.buildByKojiId.get(this.instance, kojiBuildId) as BuildJob | undefined;
  }

  /** The build an RPM job belongs to. */
  buildOf(job: RpmJob): BuildJob {
    return this.s.buildById.get(job.job_id) as BuildJob;
  }

  buildsIn(state: BuildState): BuildJob[] {
    return this.s.buildsIn.all(this.instance, state) as BuildJob[];
  }

  setBuild(id: number, state: BuildState, o: { kojiState?: number; nvr?: string; error?: string | null } = {}): void {
    this.s.setBuild.run({ id, state, koji_state: o.kojiState ?? null, nvr: o.nvr ?? null, last_error: o.error ?? null, t: now() });
  }

  /** Record a COMPLETE build's RPMs and mark it fetching, in one transaction. */
  expand(job: BuildJob, rpms: NewRpmJob[], o: { kojiState: number; nvr: string }): void {
    this.db.transaction(() => {
      for (const r of rpms) this.s.addRpm.run({ ...r, job_id: job.id, instance: this.instance, t: now() });
      this.setBuild(job.id, 'fetching', o);
    }).immediate();
  }

  rpmsOf(job: BuildJob): RpmJob[] {
    return this.s.rpmsOfBuild.all(job.id) as RpmJob[];
  }

  /** Claim the next queued RPM for this process. */
  claim(): RpmJob | undefined {
    return this.db.transaction((): RpmJob | undefined => {
      const r = this.s.nextRpm.get(this.instance) as RpmJob | undefined;
      if (!r) return undefined;
      this.s.claim.run(process.pid, now(), now(), r.id);
      return { ...r, state: 'running', attempts: r.attempts + 1 };
    }).immediate();
  }

  /** Best effort: a heartbeat that cannot be written (database busy or full) only makes the claim look older. */
  heartbeat(id: number): void {
    try {
      this.s.heartbeat.run(now(), id);
    } catch { /* the next one may succeed */ }
  }

  /** RPMs of this instance waiting for a worker. */
  queuedRpms(): number {
    return this.s.queuedRpms.get(this.instance) as number;
  }

  /** RPMs of these Koji builds that another process is fetching now. */
  runningElsewhere(kojiBuildIds: Iterable<number>): number {
    return this.s.runningElsewhere.get(this.instance, process.pid, JSON.stringify([...kojiBuildIds])) as number;
  }

  /** Mark an RPM finished. Call inside the transaction that wrote its index rows. */
  finishRpm(id: number, state: 'done' | 'failed', o: { error?: string; bytes?: number; method?: string } = {}): void {
    this.s.finishRpm.run({ id, state, last_error: o.error ?? null, bytes: o.bytes ?? null, method: o.method ?? null, t: now() });
  }

  /** Give back claims of processes that died (kill -9, crash, power loss). */
  releaseAbandoned(): number {
    let n = 0;
    this.db.transaction(() => {
      for (const r of this.s.running.all() as { id: number; worker_pid: number | null; heartbeat: number | null }[]) {
        const dead = !r.worker_pid || !runnerAlive(r.worker_pid, r.heartbeat) || (r.heartbeat ?? 0) < now() - STALE_SECONDS;
        if (dead || r.worker_pid === process.pid) { this.s.release.run(now(), r.id); n++; }
      }
    }).immediate();
    return n;
  }

  retryFailed(): void {
    this.db.transaction(() => {
      this.s.retryRpms.run(now(), this.instance);
      this.s.retryBuilds.run(now(), this.instance);
    }).immediate();
  }

  /** Put one failed build and its failed RPMs back on the queue (it was asked for again). */
  retryBuild(job: BuildJob): void {
    this.db.transaction(() => {
      this.s.retryBuildRpms.run(now(), job.id);
      this.s.retryBuild.run(now(), job.id);
    }).immediate();
  }

  /** Settle a fetching build once none of its RPMs is pending. */
  settle(job: BuildJob): BuildState {
    const rpms = this.rpmsOf(job);
    if (rpms.some((r) => r.state === 'queued' || r.state === 'running')) return 'fetching';
    const failed = rpms.filter((r) => r.state === 'failed');
    const state: BuildState = failed.length ? 'failed' : 'done';
    this.setBuild(job.id, state, { error: failed.length ? `${failed.length} of ${rpms.length} RPMs failed` : null });
    return state;
  }
}

/**
 * Put the RPMs this process has claimed back on the queue (interrupted, or stopped by a database
 * failure), so that `darkserver jobs` shows them pending and the next import takes them.
 * Best effort: returns how many, or undefined when the database refused the write.
 */
export function releaseClaims(db: Database, pid = process.pid): number | undefined {
  try {
    return db.prepare(`UPDATE import_rpms SET state = 'queued', worker_pid = NULL, updated_at = ? WHERE state = 'running' AND worker_pid = ?`)
      .run(now(), pid).changes;
  } catch {
    return undefined; // claims of a dead process are released by the next run anyway
  }
}

export interface QueueOverview {
  builds: Record<string, number>;
  rpms: Record<string, number>;
  pending: (BuildJob & { rpms_total: number; rpms_done: number; rpms_failed: number })[];
  failedRpms: RpmJob[];
}

/** What `darkserver jobs` shows: counts by state and every row that is not done. */
export function queueOverview(db: Database): QueueOverview {
  const group = (sql: string): Record<string, number> =>
    Object.fromEntries((db.prepare(sql).raw().all() as [string, number][]));
  return {
    builds: group('SELECT state, count(*) FROM import_builds GROUP BY state ORDER BY state'),
    rpms: group('SELECT state, count(*) FROM import_rpms GROUP BY state ORDER BY state'),
    pending: db.prepare(`SELECT b.*, (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id) AS rpms_total,
        (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id AND r.state = 'done') AS rpms_done,
        (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id AND r.state = 'failed') AS rpms_failed
      FROM import_builds b WHERE b.state NOT IN ('done') ORDER BY b.instance, b.koji_build_id`).all() as QueueOverview['pending'],
    failedRpms: db.prepare(`SELECT * FROM import_rpms WHERE state IN ('failed', 'running') ORDER BY instance, nvra`).all() as RpmJob[],
  };
}
