// The import queue in PostgreSQL, shared by import workers on any number of machines. A claim
// takes the next pending row with SELECT … FOR UPDATE SKIP LOCKED, so concurrent claimants never
// wait for each other nor get the same row; leases are judged by the server's clock (NOW_MS). The
// writing transaction locks the RPM's queue row first and checks the lease there: a worker that
// lost its claim writes nothing, and a claimant skips a row that is being written.
import type {
  BuildJob, BuildState, Claim, FollowMark, ImportQueueStore, NewRpmJob, QueueOverview, RpmCompletion, RpmJob, RpmRecord, RpmWrite, WorkerRef,
} from '../port.js';
import { NOW_MS, nowS, PgDb, TxClient } from './db.js';

// A failed build goes back to fetching when its RPMs are listed already, else to be listed again.
const RETRY_BUILD = `UPDATE import_builds SET state = CASE WHEN EXISTS (SELECT 1 FROM import_rpms r WHERE r.job_id = import_builds.id)
                     THEN 'fetching' ELSE 'queued' END, updated_at = $1`;

// Back on the queue: no claimant, no lease.
const UNCLAIM = `state = 'queued', worker_pid = NULL, worker_id = NULL, host = NULL, lease_until = NULL`;

const Q = {
  buildByKojiId: { name: 'dfq_build', text: 'SELECT * FROM import_builds WHERE instance = $1 AND koji_build_id = $2' },
  buildById: { name: 'dfq_build_by_id', text: 'SELECT * FROM import_builds WHERE id = $1' },
  addBuild: {
    name: 'dfq_add_build',
    text: `INSERT INTO import_builds (instance, koji_build_id, nvr, state, created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $4)
           ON CONFLICT (instance, koji_build_id) DO NOTHING`,
  },
  setBuild: {
    name: 'dfq_set_build',
    text: `UPDATE import_builds SET state = $2, koji_state = coalesce($3, koji_state), nvr = coalesce($4, nvr), last_error = $5, updated_at = $6
           WHERE id = $1`,
  },
  buildsIn: { name: 'dfq_builds_in', text: 'SELECT * FROM import_builds WHERE instance = $1 AND state = $2 ORDER BY koji_build_id' },
  rpmsOfBuild: { name: 'dfq_rpms_of', text: 'SELECT * FROM import_rpms WHERE job_id = $1 ORDER BY nvra' },
  claim: {
    name: 'dfq_claim',
    text: `UPDATE import_rpms SET state = 'running', worker_pid = $2, worker_id = $3, host = $4, heartbeat = $5,
             lease_until = ${NOW_MS} + $6, attempts = attempts + 1, updated_at = $5
           WHERE id = (SELECT id FROM import_rpms
                       WHERE ($1::text IS NULL OR instance = $1) AND (state = 'queued' OR (state = 'running' AND lease_until < ${NOW_MS}))
                       ORDER BY job_id, nvra LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING *`,
  },
  claimMany: {
    name: 'dfq_claim_many',
    text: `UPDATE import_rpms SET state = 'running', worker_pid = $2, worker_id = $3, host = $4, heartbeat = $5,
             lease_until = ${NOW_MS} + $6, attempts = attempts + 1, updated_at = $5
           WHERE id IN (SELECT id FROM import_rpms
                        WHERE ($1::text IS NULL OR instance = $1) AND (state = 'queued' OR (state = 'running' AND lease_until < ${NOW_MS}))
                        ORDER BY (state = 'running'), job_id, nvra LIMIT $7 FOR UPDATE SKIP LOCKED)
           RETURNING *`,
  },
  renew: {
    name: 'dfq_renew',
    text: `UPDATE import_rpms SET heartbeat = $3, lease_until = ${NOW_MS} + $4
           WHERE id = ANY($1::integer[]) AND state = 'running' AND worker_id = $2`,
  },
  held: {
    name: 'dfq_held',
    text: `SELECT job_id FROM import_rpms WHERE id = $1 AND state = 'running' AND worker_id = $2 AND lease_until > ${NOW_MS} FOR UPDATE`,
  },
  finishRpm: {
    name: 'dfq_finish',
    text: `UPDATE import_rpms SET state = $2, last_error = $3, bytes_fetched = $4, method = $5, worker_pid = NULL, lease_until = NULL, updated_at = $6
           WHERE id = $1`,
  },
  running: { name: 'dfq_running', text: `SELECT id, worker_id, host, worker_pid, heartbeat, lease_until FROM import_rpms WHERE state = 'running'` },
  queuedRpms: { name: 'dfq_queued', text: `SELECT count(*) AS n FROM import_rpms WHERE instance = $1 AND state = 'queued'` },
  runningElsewhere: {
    name: 'dfq_elsewhere',
    text: `SELECT count(*) AS n FROM import_rpms r JOIN import_builds b ON b.id = r.job_id
           WHERE r.instance = $1 AND r.state = 'running' AND r.worker_id IS DISTINCT FROM $2 AND b.koji_build_id = ANY($3::bigint[])`,
  },
  followMark: { name: 'dfq_follow_mark', text: 'SELECT instance, event_id, event_ts, since_ts FROM import_follow WHERE instance = $1' },
  followMarks: { name: 'dfq_follow_marks', text: 'SELECT instance, event_id, event_ts, since_ts FROM import_follow ORDER BY instance' },
  release: {
    name: 'dfq_release',
    text: `UPDATE import_rpms SET ${UNCLAIM}, updated_at = $4
           WHERE id = $1 AND state = 'running' AND worker_id IS NOT DISTINCT FROM $2::text
           AND ($2::text IS NOT NULL OR worker_pid IS NOT DISTINCT FROM $3::integer)`,
  },
};

export class PgImportQueue implements ImportQueueStore {
  constructor(private readonly db: PgDb, private readonly writeRpm: (c: TxClient, rec: RpmRecord) => Promise<boolean>) {}

  async addBuild(instance: string, kojiBuildId: number, nvr?: string, o: { fullScan?: boolean } = {}): Promise<BuildJob> {
    return (await this.addBuilds(instance, [{ kojiBuildId, nvr, fullScan: o.fullScan }]))[0];
  }

  async addBuilds(instance: string, builds: { kojiBuildId: number; nvr?: string; fullScan?: boolean }[]): Promise<BuildJob[]> {
    if (!builds.length) return [];
    const ids = builds.map((b) => b.kojiBuildId);
    const full = builds.filter((b) => b.fullScan).map((b) => b.kojiBuildId);
    const rows = await this.db.tx(async (c) => {
      await c.query(`INSERT INTO import_builds (instance, koji_build_id, nvr, state, created_at, updated_at)
        SELECT $1, u.id, u.nvr, 'queued', $2, $2 FROM unnest($3::bigint[], $4::text[]) WITH ORDINALITY AS u(id, nvr, n)
        ORDER BY u.n ON CONFLICT (instance, koji_build_id) DO NOTHING`, [instance, nowS(), ids, builds.map((b) => b.nvr ?? null)]);
      if (full.length) {
        // Once marked, a build stays full; its RPMs not done yet are read whole too.
        const marked = await c.query<{ id: number }>(`UPDATE import_builds SET full_scan = 1, updated_at = $3
          WHERE instance = $1 AND koji_build_id = ANY($2::bigint[]) AND full_scan = 0 RETURNING id`, [instance, full, nowS()]);
        if (marked.length) {
          await c.query(`UPDATE import_rpms SET full_scan = 1 WHERE job_id = ANY($1::bigint[]) AND full_scan = 0 AND state <> 'done'`, [marked.map((m) => m.id)]);
        }
      }
      return c.query<BuildJob>('SELECT * FROM import_builds WHERE instance = $1 AND koji_build_id = ANY($2::bigint[])', [instance, ids]);
    });
    const byId = new Map(rows.map((r) => [Number(r.koji_build_id), r]));
    return ids.map((id) => byId.get(id)!);
  }

  async build(instance: string, kojiBuildId: number): Promise<BuildJob | undefined> {
    return (await this.db.query<BuildJob>(Q.buildByKojiId, [instance, kojiBuildId]))[0];
  }

  async buildById(id: number): Promise<BuildJob | undefined> {
    return (await this.db.query<BuildJob>(Q.buildById, [id]))[0];
  }

  async buildsIn(instance: string, state: BuildState): Promise<BuildJob[]> {
    return this.db.query<BuildJob>(Q.buildsIn, [instance, state]);
  }

  private setValues(id: number, state: BuildState, o: { kojiState?: number; nvr?: string; error?: string | null }): unknown[] {
    return [id, state, o.kojiState ?? null, o.nvr ?? null, o.error ?? null, nowS()];
  }

  async setBuild(id: number, state: BuildState, o: { kojiState?: number; nvr?: string; error?: string | null } = {}): Promise<void> {
    await this.db.query(Q.setBuild, this.setValues(id, state, o));
  }

  async expandBuild(job: BuildJob, rpms: NewRpmJob[], o: { kojiState: number; nvr: string }): Promise<void> {
    return this.expandBuilds([{ job, rpms, ...o }]);
  }

  async expandBuilds(items: { job: BuildJob; rpms: NewRpmJob[]; kojiState: number; nvr: string }[]): Promise<void> {
    if (!items.length) return;
    await this.db.tx(async (c) => {
      for (const { job, rpms, ...o } of items) await this.expandIn(c, job, rpms, o);
    });
  }

  private async expandIn(c: TxClient, job: BuildJob, rpms: NewRpmJob[], o: { kojiState: number; nvr: string }): Promise<void> {
    if (rpms.length) {
      await c.query(`INSERT INTO import_rpms (job_id, instance, koji_rpm_id, nvra, url, payloadhash, size, state, updated_at, full_scan)
        SELECT $1, $2, u.koji_rpm_id, u.nvra, u.url, u.payloadhash, u.size, 'queued', $3, (SELECT full_scan FROM import_builds WHERE id = $1)
        FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[]) AS u(koji_rpm_id, nvra, url, payloadhash, size)
        ON CONFLICT (instance, koji_rpm_id) DO NOTHING`,
      [job.id, job.instance, nowS(), rpms.map((r) => r.koji_rpm_id), rpms.map((r) => r.nvra), rpms.map((r) => r.url),
        rpms.map((r) => r.payloadhash), rpms.map((r) => r.size)]);
    }
    await c.query(Q.setBuild, this.setValues(job.id, 'fetching', o));
  }

  async rpmsOf(buildId: number): Promise<RpmJob[]> {
    return this.db.query<RpmJob>(Q.rpmsOfBuild, [buildId]);
  }

  async claimRpm(worker: WorkerRef, o: { instance?: string; leaseMs: number }): Promise<RpmJob | undefined> {
    return (await this.db.query<RpmJob>(Q.claim, [o.instance ?? null, worker.pid, worker.id, worker.host, nowS(), Math.round(o.leaseMs)]))[0];
  }

  async claimRpms(worker: WorkerRef, o: { instance?: string; leaseMs: number; limit: number }): Promise<RpmJob[]> {
    const n = Math.floor(o.limit);
    if (!(n >= 1)) return [];
    const rows = await this.db.query<RpmJob>(Q.claimMany, [o.instance ?? null, worker.pid, worker.id, worker.host, nowS(), Math.round(o.leaseMs), n]);
    // RETURNING follows no order: give them in queue order.
    return rows.sort((a, b) => a.job_id - b.job_id || (a.nvra < b.nvra ? -1 : a.nvra > b.nvra ? 1 : 0));
  }

  async renewLeases(worker: WorkerRef, ids: number[], leaseMs: number): Promise<number> {
    if (!ids.length) return 0;
    const rows = await this.db.query(`${Q.renew.text} RETURNING id`, [ids, worker.id, nowS(), Math.round(leaseMs)]);
    return rows.length;
  }

  async completeRpm(id: number, worker: WorkerRef, rec: RpmRecord | undefined, o: { method: string; bytes: number }): Promise<RpmWrite> {
    return (await this.completeRpms(worker, [{ id, rec, method: o.method, bytes: o.bytes }]))[0];
  }

  async completeRpms(worker: WorkerRef, items: RpmCompletion[]): Promise<RpmWrite[]> {
    if (!items.length) return [];
    return this.db.tx(async (c): Promise<RpmWrite[]> => {
      const out: RpmWrite[] = [];
      const jobs = new Set<number>();
      for (const { id, rec, method, bytes } of items) {
        // Locked and checked in the writing transaction: a claimant skips the row until this commits.
        const [held] = await c.query<{ job_id: number }>(Q.held, [id, worker.id]);
        if (!held) { out.push('lost'); continue; }
        const added = rec ? await this.writeRpm(c, rec) : false;
        await c.query(Q.finishRpm, [id, 'done', null, bytes, rec && !added ? 'already' : method, nowS()]);
        jobs.add(Number(held.job_id));
        out.push(added ? 'indexed' : 'already');
      }
      // The last RPM of a build settles it in the same commit, once per build of the batch.
      for (const job of jobs) await this.settleIn(c, job);
      return out;
    });
  }

  async failRpm(id: number, worker: WorkerRef, o: { error: string; bytes: number }): Promise<boolean> {
    return this.db.tx(async (c) => {
      const [held] = await c.query<{ job_id: number }>(Q.held, [id, worker.id]);
      if (!held) return false;
      await c.query(Q.finishRpm, [id, 'failed', o.error, o.bytes, null, nowS()]);
      await this.settleIn(c, held.job_id);
      return true;
    });
  }

  async queuedRpms(instance: string): Promise<number> {
    return (await this.db.query<{ n: number }>(Q.queuedRpms, [instance]))[0].n;
  }

  async runningElsewhere(instance: string, worker: WorkerRef, kojiBuildIds: number[]): Promise<number> {
    return (await this.db.query<{ n: number }>(Q.runningElsewhere, [instance, worker.id, kojiBuildIds]))[0].n;
  }

  async runningClaims(): Promise<{ now: number; claims: Claim[] }> {
    return this.db.tx(async (c) => {
      const [t] = await c.query<{ now: number }>(`SELECT ${NOW_MS} AS now`);
      return { now: t.now, claims: await c.query<Claim>(Q.running) };
    });
  }

  async releaseClaims(claims: { id: number; worker_id: string | null; worker_pid?: number | null }[]): Promise<number> {
    if (!claims.length) return 0;
    return this.db.tx(async (c) => {
      let n = 0;
      for (const cl of claims) n += (await c.query(`${Q.release.text} RETURNING id`, [cl.id, cl.worker_id, cl.worker_pid ?? null, nowS()])).length;
      return n;
    });
  }

  async releaseWorker(worker: WorkerRef): Promise<number> {
    return (await this.db.query(`UPDATE import_rpms SET ${UNCLAIM}, updated_at = $1 WHERE state = 'running' AND worker_id = $2 RETURNING id`,
      [nowS(), worker.id])).length;
  }

  async retryFailed(instance?: string): Promise<number> {
    return this.db.tx(async (c) => {
      const which = `($2::text IS NULL OR instance = $2) AND state = 'failed'`;
      await c.query(`UPDATE import_rpms SET state = 'queued', updated_at = $1 WHERE ${which}`, [nowS(), instance ?? null]);
      return (await c.query(`${RETRY_BUILD} WHERE ${which} RETURNING id`, [nowS(), instance ?? null])).length;
    });
  }

  async instancesWithWork(): Promise<string[]> {
    return (await this.db.query<{ instance: string }>(`SELECT instance FROM import_builds WHERE state IN ('queued', 'building', 'fetching')
      UNION SELECT instance FROM import_rpms WHERE state IN ('queued', 'running') ORDER BY instance`)).map((r) => r.instance);
  }

  async followMark(instance: string): Promise<FollowMark | undefined> {
    return (await this.db.query<FollowMark>(Q.followMark, [instance]))[0];
  }

  async setFollowMark(mark: FollowMark, o: { reset?: boolean } = {}): Promise<FollowMark> {
    return this.db.tx(async (c) => {
      await c.query(`INSERT INTO import_follow (instance, event_id, event_ts, since_ts, updated_at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (instance) DO UPDATE SET event_id = excluded.event_id, event_ts = excluded.event_ts,
          since_ts = CASE WHEN $6 THEN excluded.since_ts ELSE import_follow.since_ts END, updated_at = excluded.updated_at
        WHERE $6 OR excluded.event_ts >= import_follow.event_ts`,
      [mark.instance, mark.event_id, mark.event_ts, mark.since_ts, nowS(), Boolean(o.reset)]);
      return (await c.query<FollowMark>(Q.followMark, [mark.instance]))[0];
    });
  }

  async retryBuild(buildId: number): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query(`UPDATE import_rpms SET state = 'queued', updated_at = $1 WHERE job_id = $2 AND state = 'failed'`, [nowS(), buildId]);
      await c.query(`${RETRY_BUILD} WHERE id = $2 AND state = 'failed'`, [nowS(), buildId]);
    });
  }

  async settleBuild(buildId: number): Promise<BuildState> {
    return this.db.tx((c) => this.settleIn(c, buildId));
  }

  /** Inside a transaction: a build none of whose RPMs is pending becomes done or failed. */
  private async settleIn(c: TxClient, buildId: number): Promise<BuildState> {
    {
      // One settler at a time per build: the counts and the update agree.
      await c.query('SELECT 1 FROM import_builds WHERE id = $1 FOR UPDATE', [buildId]);
      const [n] = await c.query<{ total: number; pending: number; failed: number }>(`SELECT count(*) AS total,
          count(*) FILTER (WHERE state IN ('queued', 'running')) AS pending, count(*) FILTER (WHERE state = 'failed') AS failed
        FROM import_rpms WHERE job_id = $1`, [buildId]);
      if (n.pending > 0) return 'fetching';
      const state: BuildState = n.failed ? 'failed' : 'done';
      await c.query(Q.setBuild, this.setValues(buildId, state, { error: n.failed ? `${n.failed} of ${n.total} RPMs failed` : null }));
      return state;
    }
  }

  async overview(): Promise<QueueOverview> {
    return this.db.tx(async (c) => {
      const group = async (sql: string): Promise<Record<string, number>> =>
        Object.fromEntries((await c.query<{ k: string; n: number }>(sql)).map((r) => [r.k, r.n]));
      const builds = await group('SELECT state AS k, count(*) AS n FROM import_builds GROUP BY state ORDER BY state');
      const rpms = await group('SELECT state AS k, count(*) AS n FROM import_rpms GROUP BY state ORDER BY state');
      const pending = await c.query<QueueOverview['pending'][number]>(`SELECT b.*, (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id) AS rpms_total,
          (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id AND r.state = 'done') AS rpms_done,
          (SELECT count(*) FROM import_rpms r WHERE r.job_id = b.id AND r.state = 'failed') AS rpms_failed
        FROM import_builds b WHERE b.state NOT IN ('done') ORDER BY b.instance, b.koji_build_id`);
      const failedRpms = await c.query<RpmJob>(`SELECT * FROM import_rpms WHERE state IN ('failed', 'running') ORDER BY instance, nvra`);
      const [t] = await c.query<{ now: number }>(`SELECT ${NOW_MS} AS now`);
      const follow = await c.query<FollowMark>(Q.followMarks);
      return { builds, rpms, pending, failedRpms, now: t.now, follow };
    });
  }
}
