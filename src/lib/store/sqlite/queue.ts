// The import queue in SQLite. Claims and the write of an RPM's rows are BEGIN IMMEDIATE
// transactions: SQLite has one writer at a time, so two processes never claim the same row, and
// the lease checked at the start of a write cannot change before its commit. The clock is this
// machine's (every process that opens the file runs here).
import type { Database, Statement } from 'better-sqlite3';
import { lazyStatements } from './statements.js';
import type {
  BuildJob, BuildState, Claim, FollowMark, ImportQueueStore, NewRpmJob, QueueOverview, RpmCompletion, RpmJob, RpmRecord, RpmWrite, WorkerRef,
} from '../port.js';

const now = (): number => Math.floor(Date.now() / 1000);

// A failed build goes back to fetching when its RPMs are listed already, else to be listed again.
const RETRY_BUILD = `UPDATE import_builds SET state = CASE WHEN EXISTS (SELECT 1 FROM import_rpms r WHERE r.job_id = import_builds.id)
                     THEN 'fetching' ELSE 'queued' END, updated_at = ?`;

// Back on the queue: no claimant, no lease.
const UNCLAIM = `state = 'queued', worker_pid = NULL, worker_id = NULL, host = NULL, lease_until = NULL`;

export class SqliteImportQueue implements ImportQueueStore {
  private readonly s: Record<string, Statement>;

  constructor(private readonly db: Database, private readonly guard: <T>(fn: () => T) => T,
    private readonly writeRpm: (rec: RpmRecord) => boolean) {
    const p = (sql: string): string => sql;
    // Queued RPMs first (import_rpms_state finds them), then claims whose lease ran out.
    const next = (where: string, limit = '1'): string => `SELECT * FROM import_rpms WHERE ${where} ORDER BY job_id, nvra LIMIT ${limit}`;
    this.s = lazyStatements(db, {
      buildByKojiId: p('SELECT * FROM import_builds WHERE instance = ? AND koji_build_id = ?'),
      buildById: p('SELECT * FROM import_builds WHERE id = ?'),
      addBuild: p(`INSERT INTO import_builds (instance, koji_build_id, nvr, state, created_at, updated_at)
                   VALUES (?, ?, ?, 'queued', ?, ?) ON CONFLICT (instance, koji_build_id) DO NOTHING`),
      setBuild: p(`UPDATE import_builds SET state = @state, koji_state = coalesce(@koji_state, koji_state),
                   nvr = coalesce(@nvr, nvr), last_error = @last_error, updated_at = @t WHERE id = @id`),
      buildsIn: p('SELECT * FROM import_builds WHERE instance = ? AND state = ? ORDER BY koji_build_id'),
      fullBuild: p(`UPDATE import_builds SET full_scan = 1, updated_at = ? WHERE instance = ? AND koji_build_id = ? AND full_scan = 0`),
      fullRpms: p(`UPDATE import_rpms SET full_scan = 1 WHERE full_scan = 0 AND state <> 'done'
                   AND job_id = (SELECT id FROM import_builds WHERE instance = ? AND koji_build_id = ?)`),
      addRpm: p(`INSERT INTO import_rpms (job_id, instance, koji_rpm_id, nvra, url, payloadhash, size, state, updated_at, full_scan)
                 VALUES (@job_id, @instance, @koji_rpm_id, @nvra, @url, @payloadhash, @size, 'queued', @t,
                         (SELECT full_scan FROM import_builds WHERE id = @job_id))
                 ON CONFLICT (instance, koji_rpm_id) DO NOTHING`),
      rpmsOfBuild: p('SELECT * FROM import_rpms WHERE job_id = ? ORDER BY nvra'),
      nextQueued: next(`instance = ? AND state = 'queued'`),
      nextQueuedAny: next(`state = 'queued'`),
      nextLapsed: next(`instance = ? AND state = 'running' AND lease_until < ?`),
      nextLapsedAny: next(`state = 'running' AND lease_until < ?`),
      nextQueuedN: next(`instance = ? AND state = 'queued'`, '?'),
      nextQueuedAnyN: next(`state = 'queued'`, '?'),
      nextLapsedN: next(`instance = ? AND state = 'running' AND lease_until < ?`, '?'),
      nextLapsedAnyN: next(`state = 'running' AND lease_until < ?`, '?'),
      claim: p(`UPDATE import_rpms SET state = 'running', worker_pid = @pid, worker_id = @worker, host = @host, heartbeat = @t,
                lease_until = @lease, attempts = attempts + 1, updated_at = @t WHERE id = @id`),
      renew: p(`UPDATE import_rpms SET heartbeat = @t, lease_until = @lease
                WHERE id IN (SELECT value FROM json_each(@ids)) AND state = 'running' AND worker_id = @worker`),
      held: p(`SELECT 1 FROM import_rpms WHERE id = ? AND state = 'running' AND worker_id = ? AND lease_until > ?`),
      finishRpm: p(`UPDATE import_rpms SET state = @state, last_error = @last_error, bytes_fetched = @bytes, method = @method,
                    worker_pid = NULL, lease_until = NULL, updated_at = @t WHERE id = @id`),
      running: p(`SELECT id, worker_id, host, worker_pid, heartbeat, lease_until FROM import_rpms WHERE state = 'running'`),
      queuedRpms: [`SELECT count(*) FROM import_rpms WHERE instance = ? AND state = 'queued'`, 'pluck'],
      runningElsewhere: [`SELECT count(*) FROM import_rpms r JOIN import_builds b ON b.id = r.job_id
                           WHERE r.instance = ? AND r.state = 'running' AND r.worker_id IS NOT ?
                           AND b.koji_build_id IN (SELECT value FROM json_each(?))`, 'pluck'],
      release: p(`UPDATE import_rpms SET ${UNCLAIM}, updated_at = @t
                  WHERE id = @id AND state = 'running' AND worker_id IS @worker AND (@worker IS NOT NULL OR worker_pid IS @pid)`),
      releaseWorker: p(`UPDATE import_rpms SET ${UNCLAIM}, updated_at = ? WHERE state = 'running' AND worker_id = ?`),
      retryRpms: p(`UPDATE import_rpms SET state = 'queued', updated_at = @t WHERE (@instance IS NULL OR instance = @instance) AND state = 'failed'`),
      retryBuilds: p(`${RETRY_BUILD.replace('?', '@t')} WHERE (@instance IS NULL OR instance = @instance) AND state = 'failed'`),
      withWork: p(`SELECT instance FROM import_builds WHERE state IN ('queued', 'building', 'fetching')
                   UNION SELECT instance FROM import_rpms WHERE state IN ('queued', 'running') ORDER BY instance`),
      followMark: p('SELECT instance, event_id, event_ts, since_ts FROM import_follow WHERE instance = ?'),
      followMarks: p('SELECT instance, event_id, event_ts, since_ts FROM import_follow ORDER BY instance'),
      setFollowMark: p(`INSERT INTO import_follow (instance, event_id, event_ts, since_ts, updated_at) VALUES (@instance, @event_id, @event_ts, @since_ts, @t)
                        ON CONFLICT (instance) DO UPDATE SET event_id = excluded.event_id, event_ts = excluded.event_ts,
                        since_ts = CASE WHEN @reset THEN excluded.since_ts ELSE import_follow.since_ts END, updated_at = excluded.updated_at
                        WHERE @reset OR excluded.event_ts >= import_follow.event_ts`),
      retryBuildRpms: p(`UPDATE import_rpms SET state = 'queued', updated_at = ? WHERE job_id = ? AND state = 'failed'`),
      retryBuild: p(`${RETRY_BUILD} WHERE id = ? AND state = 'failed'`),
      jobOf: [`SELECT job_id FROM import_rpms WHERE id = ?`, 'pluck'],
      rpmCounts: p(`SELECT count(*) AS total, coalesce(sum(state IN ('queued', 'running')), 0) AS pending,
                    coalesce(sum(state = 'failed'), 0) AS failed FROM import_rpms WHERE job_id = ?`),
    });
  }

  async addBuild(instance: string, kojiBuildId: number, nvr?: string, o: { fullScan?: boolean } = {}): Promise<BuildJob> {
    return (await this.addBuilds(instance, [{ kojiBuildId, nvr, fullScan: o.fullScan }]))[0];
  }

  async addBuilds(instance: string, builds: { kojiBuildId: number; nvr?: string; fullScan?: boolean }[]): Promise<BuildJob[]> {
    if (!builds.length) return [];
    return this.guard(() => this.db.transaction((): BuildJob[] => builds.map(({ kojiBuildId, nvr, fullScan }) => {
      this.s.addBuild.run(instance, kojiBuildId, nvr ?? null, now(), now());
      if (fullScan && this.s.fullBuild.run(now(), instance, kojiBuildId).changes) this.s.fullRpms.run(instance, kojiBuildId);
      return this.s.buildByKojiId.get(instance, kojiBuildId) as BuildJob;
    })).immediate());
  }

  async build(instance: string, kojiBuildId: number): Promise<BuildJob | undefined> {
    return this.guard(() => this.s.buildByKojiId.get(instance, kojiBuildId) as BuildJob | undefined);
  }

  async buildById(id: number): Promise<BuildJob | undefined> {
    return this.guard(() => this.s.buildById.get(id) as BuildJob | undefined);
  }

  async buildsIn(instance: string, state: BuildState): Promise<BuildJob[]> {
    return this.guard(() => this.s.buildsIn.all(instance, state) as BuildJob[]);
  }

  private setBuildNow(id: number, state: BuildState, o: { kojiState?: number; nvr?: string; error?: string | null } = {}): void {
    this.s.setBuild.run({ id, state, koji_state: o.kojiState ?? null, nvr: o.nvr ?? null, last_error: o.error ?? null, t: now() });
  }

  async setBuild(id: number, state: BuildState, o: { kojiState?: number; nvr?: string; error?: string | null } = {}): Promise<void> {
    this.guard(() => this.setBuildNow(id, state, o));
  }

  async expandBuild(job: BuildJob, rpms: NewRpmJob[], o: { kojiState: number; nvr: string }): Promise<void> {
    return this.expandBuilds([{ job, rpms, ...o }]);
  }

  async expandBuilds(items: { job: BuildJob; rpms: NewRpmJob[]; kojiState: number; nvr: string }[]): Promise<void> {
    if (!items.length) return;
    this.guard(() => this.db.transaction(() => {
      for (const { job, rpms, kojiState, nvr } of items) {
        for (const r of rpms) this.s.addRpm.run({ ...r, job_id: job.id, instance: job.instance, t: now() });
        this.setBuildNow(job.id, 'fetching', { kojiState, nvr });
      }
    }).immediate());
  }

  async rpmsOf(buildId: number): Promise<RpmJob[]> {
    return this.guard(() => this.s.rpmsOfBuild.all(buildId) as RpmJob[]);
  }

  async claimRpm(worker: WorkerRef, o: { instance?: string; leaseMs: number }): Promise<RpmJob | undefined> {
    return this.guard(() => this.db.transaction((): RpmJob | undefined => {
      const ms = Date.now();
      const r = (o.instance === undefined
        ? this.s.nextQueuedAny.get() ?? this.s.nextLapsedAny.get(ms)
        : this.s.nextQueued.get(o.instance) ?? this.s.nextLapsed.get(o.instance, ms)) as RpmJob | undefined;
      if (!r) return undefined;
      const claim = { id: r.id, pid: worker.pid, worker: worker.id, host: worker.host, t: now(), lease: ms + o.leaseMs };
      this.s.claim.run(claim);
      return { ...r, state: 'running', attempts: r.attempts + 1, worker_pid: worker.pid, worker_id: worker.id, host: worker.host, lease_until: claim.lease };
    }).immediate());
  }

  async claimRpms(worker: WorkerRef, o: { instance?: string; leaseMs: number; limit: number }): Promise<RpmJob[]> {
    const n = Math.floor(o.limit);
    if (!(n >= 1)) return [];
    return this.guard(() => this.db.transaction((): RpmJob[] => {
      const ms = Date.now();
      const rows = (o.instance === undefined ? this.s.nextQueuedAnyN.all(n) : this.s.nextQueuedN.all(o.instance, n)) as RpmJob[];
      if (rows.length < n) {
        rows.push(...(o.instance === undefined ? this.s.nextLapsedAnyN.all(ms, n - rows.length) : this.s.nextLapsedN.all(o.instance, ms, n - rows.length)) as RpmJob[]);
      }
      return rows.map((r) => {
        const claim = { id: r.id, pid: worker.pid, worker: worker.id, host: worker.host, t: now(), lease: ms + o.leaseMs };
        this.s.claim.run(claim);
        return { ...r, state: 'running', attempts: r.attempts + 1, worker_pid: worker.pid, worker_id: worker.id, host: worker.host, lease_until: claim.lease };
      });
    }).immediate());
  }

  async renewLeases(worker: WorkerRef, ids: number[], leaseMs: number): Promise<number> {
    if (!ids.length) return 0;
    return this.guard(() => this.s.renew.run({ t: now(), lease: Date.now() + leaseMs, ids: JSON.stringify(ids), worker: worker.id }).changes);
  }

  async completeRpm(id: number, worker: WorkerRef, rec: RpmRecord | undefined, o: { method: string; bytes: number }): Promise<RpmWrite> {
    return (await this.completeRpms(worker, [{ id, rec, method: o.method, bytes: o.bytes }]))[0];
  }

  async completeRpms(worker: WorkerRef, items: RpmCompletion[]): Promise<RpmWrite[]> {
    if (!items.length) return [];
    return this.guard(() => this.db.transaction((): RpmWrite[] => {
      const jobs = new Set<number>();
      const out = items.map(({ id, rec, method, bytes }): RpmWrite => {
        // The lease is judged here, inside the writing transaction: BEGIN IMMEDIATE holds the only
        // write lock, so no claimant can take the RPM over before this commits.
        if (this.s.held.get(id, worker.id, Date.now()) === undefined) return 'lost';
        const added = rec ? this.writeRpm(rec) : false;
        this.s.finishRpm.run({ id, state: 'done', last_error: null, bytes, method: rec && !added ? 'already' : method, t: now() });
        jobs.add(this.s.jobOf.get(id) as number);
        return added ? 'indexed' : 'already';
      });
      // The last RPM of a build settles it in the same commit, once per build of the batch.
      for (const job of jobs) this.settleNow(job);
      return out;
    }).immediate());
  }

  async failRpm(id: number, worker: WorkerRef, o: { error: string; bytes: number }): Promise<boolean> {
    return this.guard(() => this.db.transaction((): boolean => {
      if (this.s.held.get(id, worker.id, Date.now()) === undefined) return false;
      this.s.finishRpm.run({ id, state: 'failed', last_error: o.error, bytes: o.bytes, method: null, t: now() });
      this.settleNow(this.s.jobOf.get(id) as number);
      return true;
    }).immediate());
  }

  async queuedRpms(instance: string): Promise<number> {
    return this.guard(() => this.s.queuedRpms.get(instance) as number);
  }

  async runningElsewhere(instance: string, worker: WorkerRef, kojiBuildIds: number[]): Promise<number> {
    return this.guard(() => this.s.runningElsewhere.get(instance, worker.id, JSON.stringify(kojiBuildIds)) as number);
  }

  async runningClaims(): Promise<{ now: number; claims: Claim[] }> {
    return this.guard(() => ({ now: Date.now(), claims: this.s.running.all() as Claim[] }));
  }

  async releaseClaims(claims: { id: number; worker_id: string | null; worker_pid?: number | null }[]): Promise<number> {
    if (!claims.length) return 0;
    return this.guard(() => this.db.transaction((): number => {
      let n = 0;
      for (const c of claims) n += this.s.release.run({ id: c.id, worker: c.worker_id, pid: c.worker_pid ?? null, t: now() }).changes;
      return n;
    }).immediate());
  }

  async releaseWorker(worker: WorkerRef): Promise<number> {
    return this.guard(() => this.s.releaseWorker.run(now(), worker.id).changes);
  }

  async retryFailed(instance?: string): Promise<number> {
    return this.guard(() => this.db.transaction((): number => {
      this.s.retryRpms.run({ t: now(), instance: instance ?? null });
      return this.s.retryBuilds.run({ t: now(), instance: instance ?? null }).changes;
    }).immediate());
  }

  async instancesWithWork(): Promise<string[]> {
    return this.guard(() => (this.s.withWork.all() as { instance: string }[]).map((r) => r.instance));
  }

  async followMark(instance: string): Promise<FollowMark | undefined> {
    return this.guard(() => this.s.followMark.get(instance) as FollowMark | undefined);
  }

  async setFollowMark(mark: FollowMark, o: { reset?: boolean } = {}): Promise<FollowMark> {
    return this.guard(() => this.db.transaction((): FollowMark => {
      this.s.setFollowMark.run({ ...mark, reset: o.reset ? 1 : 0, t: now() });
      return this.s.followMark.get(mark.instance) as FollowMark;
    }).immediate());
  }

  async retryBuild(buildId: number): Promise<void> {
    this.guard(() => this.db.transaction(() => {
      this.s.retryBuildRpms.run(now(), buildId);
      this.s.retryBuild.run(now(), buildId);
    }).immediate());
  }

  async settleBuild(buildId: number): Promise<BuildState> {
    return this.guard(() => this.db.transaction((): BuildState => this.settleNow(buildId)).immediate());
  }

  /** Inside a transaction: a build none of whose RPMs is pending becomes done or failed. */
  private settleNow(buildId: number): BuildState {
    const c = this.s.rpmCounts.get(buildId) as { total: number; pending: number; failed: number };
    if (c.pending > 0) return 'fetching';
    const state: BuildState = c.failed ? 'failed' : 'done';
    this.setBuildNow(buildId, state, { error: c.failed ? `${c.failed} of ${c.total} RPMs failed` : null });
    return state;
  }

  async overview(): Promise<QueueOverview> {
    return this.guard(() => {
      const group = (sql: string): Record<string, number> =>
        Object.fromEntries((this.db.prepare(sql).raw().all() as [string, number][]));
      return {
        builds: group('SELECT state, count(*) FROM import_builds GROUP BY state ORDER BY state'),
        rpms: group('SELECT state, count(*) FROM import_rpms GROUP BY state ORDER BY state'),
        pending: this.db.prepare(`SELECT b.*, (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id) AS rpms_total,
            (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id AND r.state = 'done') AS rpms_done,
            (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id AND r.state = 'failed') AS rpms_failed
          FROM import_builds b WHERE b.state NOT IN ('done') ORDER BY b.instance, b.koji_build_id`).all() as QueueOverview['pending'],
        failedRpms: this.db.prepare(`SELECT * FROM import_rpms WHERE state IN ('failed', 'running') ORDER BY instance, nvra`).all() as RpmJob[],
        now: Date.now(),
        // A database an older darkforge wrote, opened read-only, has no follow marks yet.
        follow: this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'import_follow'`).get()
          ? this.s.followMarks.all() as FollowMark[] : [],
      };
    });
  }
}
