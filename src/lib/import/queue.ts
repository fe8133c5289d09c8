// The import work queue, kept in the store so an interrupted import resumes, and shared by every
// import process that uses the same store (on this machine or, with PostgreSQL, on others).
// Builds: queued -> building (Koji still building) | fetching (RPM rows made) -> done | failed
// | skipped (deleted, failed, canceled or missing in Koji). RPMs: queued -> running -> done | failed.
// An RPM is claimed with a lease: a deadline its worker renews while it works. A claim whose
// lease ran out is taken over by the next worker that looks; one made by a process of this
// machine that is gone (kill -9, then maybe pid reuse) is given back at once.
import { leaseMs } from '../proc/lease.js';
import { runnerAlive } from '../proc/liveness.js';
import { onThisHost, thisWorker, type WorkerRef } from '../proc/worker.js';
import type { BuildJob, BuildState, Claim, NewRpmJob, RpmCompletion, RpmJob, RpmWrite, Store } from '../store/port.js';

export type { BuildJob, BuildState, NewRpmJob, QueueOverview, RpmJob, RpmState } from '../store/port.js';

/** A claim older than this without a heartbeat is abandoned even if its pid is alive (pid reuse); for claims without a lease. */
const STALE_SECONDS = 600;

export { leaseMs };

export class ImportQueue {
  readonly leaseMs: number;

  constructor(private readonly store: Store, readonly instance: string, readonly worker: WorkerRef = thisWorker(), lease = leaseMs()) {
    this.leaseMs = lease;
  }

  private get q() {
    return this.store.queue;
  }

  /** Put a build on the queue (no-op if it is there already); returns its row. `fullScan`: its RPMs are read whole, by whichever run takes them. */
  addBuild(kojiBuildId: number, nvr?: string, o: { fullScan?: boolean } = {}): Promise<BuildJob> {
    return this.q.addBuild(this.instance, kojiBuildId, nvr, o);
  }

  /** addBuild for many builds in one transaction; their rows, in the order given. */
  addBuilds(builds: { kojiBuildId: number; nvr?: string; fullScan?: boolean }[]): Promise<BuildJob[]> {
    return this.q.addBuilds(this.instance, builds);
  }

  build(kojiBuildId: number): Promise<BuildJob | undefined> {
    return this.q.build(this.instance, kojiBuildId);
  }

  /** The build an RPM job belongs to. */
  async buildOf(job: RpmJob): Promise<BuildJob> {
    return (await this.q.buildById(job.job_id))!;
  }

  buildsIn(state: BuildState): Promise<BuildJob[]> {
    return this.q.buildsIn(this.instance, state);
  }

  setBuild(id: number, state: BuildState, o: { kojiState?: number; nvr?: string; error?: string | null } = {}): Promise<void> {
    return this.q.setBuild(id, state, o);
  }

  /** Record the RPMs of a page of COMPLETE builds and mark them fetching, in one transaction. */
  expandMany(items: { job: BuildJob; rpms: NewRpmJob[]; kojiState: number; nvr: string }[]): Promise<void> {
    return this.q.expandBuilds(items);
  }

  rpmsOf(job: BuildJob): Promise<RpmJob[]> {
    return this.q.rpmsOf(job.id);
  }

  /** Claim up to `n` RPMs of any instance, not only this queue's (import --worker), in one transaction. */
  claimAny(n: number): Promise<RpmJob[]> {
    return this.q.claimRpms(this.worker, { leaseMs: this.leaseMs, limit: n });
  }

  buildById(id: number): Promise<BuildJob | undefined> {
    return this.q.buildById(id);
  }

  /** RPMs of any instance that other processes hold now (their leases may have run out). */
  async heldElsewhere(): Promise<number> {
    return (await this.q.runningClaims()).claims.filter((c) => c.worker_id !== this.worker.id).length;
  }

  /** Claim up to `n` queued RPMs (or ones whose lease ran out) at once. */
  claimMany(n: number): Promise<RpmJob[]> {
    return this.q.claimRpms(this.worker, { instance: this.instance, leaseMs: this.leaseMs, limit: n });
  }

  /** Best effort: a renewal that cannot be written (database busy, server away) only lets the leases run shorter. */
  async renew(ids: number[]): Promise<void> {
    try {
      await this.q.renewLeases(this.worker, ids, this.leaseMs);
    } catch { /* the next one may succeed */ }
  }

  /** RPMs of this instance waiting for a worker. */
  queuedRpms(): Promise<number> {
    return this.q.queuedRpms(this.instance);
  }

  /** RPMs of these Koji builds that another process is fetching now. */
  runningElsewhere(kojiBuildIds: Iterable<number>): Promise<number> {
    return this.q.runningElsewhere(this.instance, this.worker, [...kojiBuildIds]);
  }

  /** Several RPMs' rows and queue rows done in one transaction, each only while this process holds its lease. */
  completeMany(items: RpmCompletion[]): Promise<RpmWrite[]> {
    return this.q.completeRpms(this.worker, items);
  }

  /** Mark a claimed RPM failed (only while this process holds it). */
  fail(job: RpmJob, o: { error: string; bytes: number }): Promise<boolean> {
    return this.q.failRpm(job.id, this.worker, o);
  }

  /**
   * Give back claims whose lease ran out, and at once those of processes of this machine that
   * died (kill -9, crash, power loss), even before their lease ends.
   */
  async releaseAbandoned(): Promise<number> {
    const { now, claims } = await this.q.runningClaims();
    return this.q.releaseClaims(claims.filter((c) => this.abandoned(c, now)));
  }

  private abandoned(c: Claim, nowMs: number): boolean {
    if (c.worker_id === this.worker.id) return false;
    if (c.lease_until !== null && c.lease_until < nowMs) return true;
    if (!onThisHost(c.host)) return false;
    // A claim made before leases (no worker id) by this very pid is a leftover of an earlier life of it.
    if (c.worker_id === null && c.worker_pid === process.pid) return true;
    if (!c.worker_pid || !runnerAlive(c.worker_pid, c.heartbeat)) return true;
    return c.lease_until === null && (c.heartbeat ?? 0) < Date.now() / 1000 - STALE_SECONDS;
  }

  /** This instance's failed builds and RPMs back on the queue; returns how many builds. */
  retryFailed(): Promise<number> {
    return this.q.retryFailed(this.instance);
  }

  /** Put one failed build and its failed RPMs back on the queue (it was asked for again). */
  retryBuild(job: BuildJob): Promise<void> {
    return this.q.retryBuild(job.id);
  }

  /** Settle a fetching build once none of its RPMs is pending. */
  settle(job: BuildJob): Promise<BuildState> {
    return this.q.settleBuild(job.id);
  }
}

/**
 * Put the RPMs this process has claimed back on the queue (interrupted, or stopped by a database
 * failure), so that `darkserver jobs` shows them pending and the next import takes them.
 * Best effort: returns how many, or undefined when the store refused the write.
 */
export async function releaseClaims(store: Store, worker: WorkerRef = thisWorker()): Promise<number | undefined> {
  try {
    return await store.queue.releaseWorker(worker);
  } catch {
    return undefined; // claims of a dead process are released by the next run anyway
  }
}

/** What `darkserver jobs` shows: counts by state and every row that is not done. */
export function queueOverview(store: Store) {
  return store.queue.overview();
}
