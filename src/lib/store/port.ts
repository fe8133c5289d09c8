// The store port: everything darkforge keeps (the build-id index, the import queue, the image
// jobs), as domain operations. Two adapters implement it: SQLite (store/sqlite, the embedded
// default) and PostgreSQL (store/postgres, shared by processes on many machines); openStore()
// (store/open.ts) picks one from --db. SQL lives in the adapters only.
//
// Every operation is async (a PostgreSQL client is) and atomic on its own: an operation that
// changes several rows does it in one transaction inside the adapter, so callers never hold a
// transaction open across an await. A failure of the database itself (disk full, read-only,
// server gone) is thrown as a DatabaseError (index/db-errors.ts): one sentence naming the store.
import type { FileType } from '../index/filetype.js';
import type { FileRow } from '../index/rows.js';
import type { KojiInstance } from '../koji/instances.js';
import type { WorkerRef } from '../proc/worker.js';

// ---------------------------------------------------------------------------------------------
// The index

export interface RpmRecord {
  instance: string;
  pkgid: string;
  build: { name: string; version: string; release: string; nvr: string; kojiBuildId?: number; distro: string };
  name: string;
  epoch?: number;
  version: string;
  release: string;
  arch: string;
  nvra: string;
  sourceRpm?: string;
  url: string;
  size?: number;
  payloadCompressor?: string;
  method: string;
  elfFiles: number;
  elfWithoutBuildId: number;
  rows: FileRow[];
}

export interface MatchRow {
  buildid: string;
  elf: string;
  rpm: string;
  distro: string;
  url: string;
  type: FileType;
  arch: string;
  nvr: string;
  instance: string;
  kojibuildid: number | null;
}

/** Columns a match carries for building download URLs; not printed. */
export interface MatchCoordinates {
  rpmName: string;
  rpmVersion: string;
  rpmRelease: string;
}

export type Match = MatchRow & MatchCoordinates;

export interface IndexStats {
  builds: number;
  rpms: number;
  files: number;
  buildids: number;
  elfWithoutBuildId: number;
  elfFiles: number;
  byType: Record<string, number>;
  byInstance: Record<string, number>;
  byMethod: Record<string, number>;
  schemaVersion: number;
}

/** What the index remembers of a Koji instance, to build download URLs later. */
export type InstanceRecord = Omit<KojiInstance, 'source'>;

export interface RpmSummary {
  nvra: string;
  name: string;
  version: string;
  release: string;
  arch: string;
  url: string;
  instance: string;
  kojibuildid: number | null;
  distro: string;
}

/**
 * Answers come in one order on every backend: by N-V-R.A, then path (byte order, as SQLite
 * compares text), then the order the rows were written (one NVRA in two instances, a path twice
 * in one RPM).
 */
export interface IndexStore {
  hasRpm(instance: string, pkgid: string): Promise<boolean>;
  /** Write one RPM and its files atomically. Returns false when that package was already indexed. */
  addRpm(rec: RpmRecord): Promise<boolean>;
  /** Matches of a lowercase hex build-id (an odd number of digits matches nothing). */
  byBuildId(hex: string): Promise<Match[]>;
  byNvra(nvra: string): Promise<Match[]>;
  hasNvra(nvra: string): Promise<boolean>;
  /** Matches of one path in any RPM. */
  byPath(path: string): Promise<Match[]>;
  /** RPMs by N-V-R.A or by package name (darkserver's /package/ route), by instance then NVRA. */
  rpmsNamed(q: string): Promise<RpmSummary[]>;
  /** Every RPM of every build that has a file with this build-id (for its -debugsource RPM), local ones first. */
  buildSiblings(hex: string): Promise<RpmSummary[]>;
  saveInstance(i: InstanceRecord): Promise<void>;
  instances(): Promise<Map<string, InstanceRecord>>;
  stats(): Promise<IndexStats>;
}

// ---------------------------------------------------------------------------------------------
// Workers: who holds a claim

export type { WorkerRef } from '../proc/worker.js';

// ---------------------------------------------------------------------------------------------
// The import queue
// Builds: queued -> building (Koji still building) | fetching (RPM rows made) -> done | failed
// | skipped (deleted, failed, canceled or missing in Koji). RPMs: queued -> running -> done | failed.

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
  /** 1: its RPMs are read whole (--full), also by a later run that resumes them; else 0. */
  full_scan: number;
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
  /** The claimant (WorkerRef.id) while running; null otherwise, and on claims older darkforges made. */
  worker_id?: string | null;
  host?: string | null;
  /** When the claim lapses unless renewed, in milliseconds since 1970 by the store's clock. */
  lease_until?: number | null;
  /** 1: read the whole payload (the build was queued with --full); else 0. */
  full_scan: number;
}

export interface NewRpmJob {
  koji_rpm_id: number;
  nvra: string;
  url: string;
  payloadhash: string | null;
  size: number | null;
}

/** A running claim, as whoever looks for abandoned work sees it. */
export interface Claim {
  id: number;
  worker_id: string | null;
  host: string | null;
  worker_pid: number | null;
  /** Last renewal, Unix seconds. */
  heartbeat: number | null;
  lease_until: number | null;
}

/**
 * Where `darkserver import --follow` stands in one Koji instance: the last Koji event it has
 * looked up to (id and time, by the hub's clock, seconds since 1970), and the time it was asked
 * to start from (the first start, or --since): builds that completed before that are never its
 * business, however far back it looks for late commits.
 */
export interface FollowMark {
  instance: string;
  /** Null when the start was a date that no Koji event precedes. */
  event_id: number | null;
  event_ts: number;
  since_ts: number;
}

export interface QueueOverview {
  builds: Record<string, number>;
  rpms: Record<string, number>;
  pending: (BuildJob & { rpms_total: number; rpms_done: number; rpms_failed: number })[];
  /** Failed RPMs and the ones running now (with who holds them). */
  failedRpms: RpmJob[];
  /** The store's clock when this was read (milliseconds), to tell how long each lease has left. */
  now: number;
  /** Every instance that `import --follow` follows, by instance name. */
  follow: FollowMark[];
}

/** What became of an RPM's result: rows written; nothing new (already indexed, or no rows); or the lease was lost, nothing written. */
export type RpmWrite = 'indexed' | 'already' | 'lost';

/** One claimed RPM to finish: its rows (`rec`; undefined when there are none to write) and its queue row. */
export interface RpmCompletion {
  id: number;
  rec?: RpmRecord;
  method: string;
  bytes: number;
}

export interface ImportQueueStore {
  /**
   * Put a build on the queue (no-op if it is there already); returns its row. `fullScan` marks
   * it, and its RPMs not done yet, to be read whole (once marked, it stays so).
   */
  addBuild(instance: string, kojiBuildId: number, nvr?: string, o?: { fullScan?: boolean }): Promise<BuildJob>;
  /** addBuild for many builds in one transaction; their rows, in the order given. */
  addBuilds(instance: string, builds: { kojiBuildId: number; nvr?: string; fullScan?: boolean }[]): Promise<BuildJob[]>;
  build(instance: string, kojiBuildId: number): Promise<BuildJob | undefined>;
  buildById(id: number): Promise<BuildJob | undefined>;
  buildsIn(instance: string, state: BuildState): Promise<BuildJob[]>;
  setBuild(id: number, state: BuildState, o?: { kojiState?: number; nvr?: string; error?: string | null }): Promise<void>;
  /** Record a COMPLETE build's RPMs (with the build's full_scan) and mark it fetching, in one transaction. */
  expandBuild(job: BuildJob, rpms: NewRpmJob[], o: { kojiState: number; nvr: string }): Promise<void>;
  /** expandBuild for several builds (a page of a multicall) in one transaction. */
  expandBuilds(items: { job: BuildJob; rpms: NewRpmJob[]; kojiState: number; nvr: string }[]): Promise<void>;
  rpmsOf(buildId: number): Promise<RpmJob[]>;
  /**
   * Claim the next RPM of `instance` (any instance when undefined) for `worker` until the store's
   * clock passes now + leaseMs: a queued one, or one whose claim lapsed (its worker stopped
   * renewing). Concurrent claimants never get the same row.
   */
  claimRpm(worker: WorkerRef, o: { instance?: string; leaseMs: number }): Promise<RpmJob | undefined>;
  /** Claim up to `limit` RPMs at once, in queue order, as claimRpm claims one; [] when none is free. */
  claimRpms(worker: WorkerRef, o: { instance?: string; leaseMs: number; limit: number }): Promise<RpmJob[]>;
  /** Extend the leases `worker` still holds among `ids`; returns how many it still holds. */
  renewLeases(worker: WorkerRef, ids: number[], leaseMs: number): Promise<number>;
  /**
   * The RPM's rows (`rec`; undefined when there are none to write) and its queue row marked done,
   * in one transaction, only while `worker` holds an unexpired lease on it. `o.method` is recorded
   * when rows were written, "already" when the package was indexed before. The last RPM of a
   * build to finish settles the build (as settleBuild) in the same transaction.
   */
  completeRpm(id: number, worker: WorkerRef, rec: RpmRecord | undefined, o: { method: string; bytes: number }): Promise<RpmWrite>;
  /**
   * completeRpm for several RPMs in one transaction (one commit for many RPMs): each RPM's rows
   * and queue row are written only while `worker` holds an unexpired lease on it, checked in this
   * transaction; the others answer 'lost' and write nothing. A build whose last RPM is among them
   * is settled in the same transaction. One answer per item, in order.
   */
  completeRpms(worker: WorkerRef, items: RpmCompletion[]): Promise<RpmWrite[]>;
  /** Mark a claimed RPM failed, only while `worker` holds it (settling its build if it was the last); false when it no longer does. */
  failRpm(id: number, worker: WorkerRef, o: { error: string; bytes: number }): Promise<boolean>;
  /** RPMs of this instance waiting for a worker. */
  queuedRpms(instance: string): Promise<number>;
  /** RPMs of these Koji builds that another worker is fetching now. */
  runningElsewhere(instance: string, worker: WorkerRef, kojiBuildIds: number[]): Promise<number>;
  /** Every running claim, with the store's clock (milliseconds) to judge leases by. */
  runningClaims(): Promise<{ now: number; claims: Claim[] }>;
  /** Put these claims back on the queue, each only if the same worker (null: a legacy claim) still holds it. */
  releaseClaims(claims: { id: number; worker_id: string | null; worker_pid?: number | null }[]): Promise<number>;
  /** Put every claim of `worker` back on the queue. */
  releaseWorker(worker: WorkerRef): Promise<number>;
  /** Failed builds and RPMs of this instance (undefined: of every instance) back on the queue; returns how many builds. */
  retryFailed(instance?: string): Promise<number>;
  /** Instances with builds queued, building or fetching, or RPMs queued or running, by name. */
  instancesWithWork(): Promise<string[]>;
  followMark(instance: string): Promise<FollowMark | undefined>;
  /**
   * Record where --follow stands. The mark only moves forward (a later event, or the same one),
   * so two followers of one instance never set each other back; `reset` (--since, a first
   * start) sets it as given. Returns the mark as stored.
   */
  setFollowMark(mark: FollowMark, o?: { reset?: boolean }): Promise<FollowMark>;
  /** One failed build and its failed RPMs back on the queue (it was asked for again). */
  retryBuild(buildId: number): Promise<void>;
  /** A fetching build becomes done or failed once none of its RPMs is pending; returns its state. */
  settleBuild(buildId: number): Promise<BuildState>;
  overview(): Promise<QueueOverview>;
}

// ---------------------------------------------------------------------------------------------
// Image jobs: queued -> running -> one final state, never changed after.

export type JobState = 'queued' | 'running' | 'succeeded' | 'staging_failed' | 'failed' | 'canceled';
export type FinalState = Exclude<JobState, 'queued' | 'running'>;

/** An image job as stored: `config` and `artifacts` are JSON text. */
export interface ImageJobRow {
  id: number;
  type: string;
  arch: string;
  backend: string;
  config: string;
  state: JobState;
  pid: number | null;
  pgid: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  job_dir: string;
  log_path: string;
  artifacts: string;
  error: string | null;
  timeout_s: number | null;
  retry_of: number | null;
  /** The machine whose process runs (or last ran) the job; its pid and group mean something there only. */
  host: string | null;
  /** The process that holds (or last held) the running job (WorkerRef.id), and until when (store clock, ms) unless it renews. */
  worker_id: string | null;
  lease_until: number | null;
  /** 1: recorded for an `imagebuild worker` (which claims it); 0: run by the command that made it. */
  for_worker: number;
}

/** One piece of a job's log as the store keeps it: `pos` is its byte offset in the whole log. */
export interface JobLogChunk {
  pos: number;
  data: Buffer;
}

/** How a job's folder on the machine that runs it is claimed, inside the transaction that records it. */
export interface JobDirs {
  claimDir: (id: number) => { jobDir: string; logPath: string };
  releaseDir: (jobDir: string) => void;
}

/** A claim on a running job: who holds it, for how long without renewal. */
export interface JobLease {
  workerId: string;
  leaseMs: number;
}

export interface NewImageJob {
  type: string;
  arch: string;
  backend: string;
  /** JSON text. */
  config: string;
  /** The process responsible until a runner takes over; null for a job waiting for a worker. */
  pid: number | null;
  host: string | null;
  timeoutS?: number;
  retryOf?: number;
  /** Waits for an `imagebuild worker` to claim it. */
  forWorker?: boolean;
}

export interface ImageJobStore {
  /**
   * A queued job. Its folder is claimed by `claimDir(id)` inside the same transaction; if the
   * record cannot be completed, `releaseDir(jobDir)` gives the folder up again.
   */
  create(job: NewImageJob, dirs: JobDirs): Promise<ImageJobRow>;
  get(id: number): Promise<ImageJobRow | undefined>;
  list(): Promise<ImageJobRow[]>;
  /** A detached runner takes over a queued job from the process that created it. */
  handOver(id: number, pid: number): Promise<void>;
  /** queued -> running, held under `lease` when given; false when the job is no longer queued. */
  started(id: number, pid: number, host: string, lease?: JobLease): Promise<boolean>;
  /**
   * A worker takes the oldest job waiting for one (queued, for_worker) whose arch is one of
   * `arches`: queued -> running, held by `worker` until the store's clock passes now + leaseMs,
   * with its folder claimed on the worker's machine. Concurrent claimants never get the same job.
   */
  claim(worker: WorkerRef, o: { arches: string[]; leaseMs: number }, dirs: JobDirs): Promise<ImageJobRow | undefined>;
  /** Extend the lease of a running job `workerId` holds; false when it holds it no longer (ended, canceled, given up). */
  renewLease(id: number, workerId: string, leaseMs: number): Promise<boolean>;
  /** Running jobs whose lease ran out by the store's clock. */
  lapsed(): Promise<ImageJobRow[]>;
  /** running -> failed with `why`, only if `workerId` still holds it and its lease ran out. */
  markLost(id: number, workerId: string, why: string): Promise<boolean>;
  /** A worker's running job -> queued again for any worker (its process, folder and lease forgotten), only if `workerId` holds it. */
  putBack(id: number, workerId: string): Promise<boolean>;
  /** Append to a job's log, keeping about its last `keepBytes` (older pieces are dropped). */
  appendLog(id: number, data: Buffer, keepBytes: number): Promise<void>;
  /** Pieces of a job's log that start at or after byte `from`, in order, about `maxBytes` at most (at least one). */
  readLog(id: number, from: number, maxBytes: number): Promise<JobLogChunk[]>;
  setProcessGroup(id: number, pgid: number | null): Promise<void>;
  /** Final state, in one statement, only if the job is not final yet. */
  finished(id: number, state: FinalState, o: { artifacts: string; error: string | null }): Promise<void>;
  /** queued/running -> canceled; false when the job had already ended. */
  markCanceled(id: number, why: string): Promise<boolean>;
  /** markCanceled and the record as it then is, in one transaction. */
  cancel(id: number, why: string): Promise<{ job: ImageJobRow; canceled: boolean }>;
  /** Queued and running jobs that have a pid, for the liveness check. */
  unfinished(): Promise<ImageJobRow[]>;
  /** A job whose process died: failed with `why`, only if it is still in `state` with `pid`. */
  markInterrupted(id: number, state: JobState, pid: number, why: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Copying a store (darkserver db copy): the index and the import queue as rows, table by table.
// Ids are kept, so a copy answers every query as its source did (ties are ordered by id).

/** The tables a copy carries, in the order they are written (a row's references come first). */
export const COPY_TABLES = ['builds', 'rpms', 'names', 'file_types', 'files', 'instances', 'import_builds', 'import_rpms', 'import_follow'] as const;
export type CopyTable = typeof COPY_TABLES[number];

/** Each table's columns, in the order a CopyRow holds them. The same on every backend and schema version this darkforge copies. */
export const COPY_COLUMNS: Record<CopyTable, readonly string[]> = {
  builds: ['id', 'instance', 'name', 'version', 'release', 'nvr', 'koji_build_id', 'distro'],
  rpms: ['id', 'build_id', 'instance', 'pkgid', 'name', 'epoch', 'version', 'release', 'arch', 'nvra', 'source_rpm', 'url', 'size',
    'payload_compressor', 'method', 'elf_files', 'elf_without_buildid', 'indexed_at'],
  names: ['id', 'name'],
  file_types: ['id', 'name'],
  files: ['rpm_id', 'seq', 'dir', 'stem', 'tail', 'type', 'buildid'],
  instances: ['name', 'hub', 'topurl', 'weburl', 'mirrors', 'retrace', 'updated_at'],
  import_builds: ['id', 'instance', 'koji_build_id', 'nvr', 'state', 'koji_state', 'attempts', 'last_error', 'worker_pid', 'heartbeat',
    'created_at', 'updated_at', 'full_scan'],
  import_rpms: ['id', 'job_id', 'instance', 'koji_rpm_id', 'nvra', 'url', 'payloadhash', 'size', 'state', 'attempts', 'last_error',
    'worker_pid', 'heartbeat', 'bytes_fetched', 'method', 'updated_at', 'worker_id', 'host', 'lease_until', 'full_scan'],
  import_follow: ['instance', 'event_id', 'event_ts', 'since_ts', 'updated_at'],
};

/** The primary key each table is read in: the stable order of an export, the same on every backend. */
export const COPY_ORDER: Record<CopyTable, readonly string[]> = {
  builds: ['id'], rpms: ['id'], names: ['id'], file_types: ['id'], files: ['rpm_id', 'seq'], instances: ['name'],
  import_builds: ['id'], import_rpms: ['id'], import_follow: ['instance'],
};

/** One row: text as strings, integers as numbers, build-ids as bytes, NULL as null. */
export type CopyValue = string | number | Buffer | null;
export type CopyRow = CopyValue[];

/** Rows per table, and the image job records (which a copy leaves where they are). */
export type CopyCounts = Record<CopyTable, number> & { image_jobs: number };

/** A consistent view of a store, read table by table (one read transaction). */
export interface IndexSnapshot {
  readonly schemaVersion: number;
  readonly counts: CopyCounts;
  /** The rows of `table` in COPY_ORDER, `batch` at a time (never the whole table in memory). */
  rows(table: CopyTable, batch?: number): AsyncIterable<CopyRow[]>;
  /** End the read transaction; every `rows` iterator must be finished or abandoned first. */
  close(): Promise<void>;
}

export interface LoadOptions {
  /** Replace what the target holds instead of refusing a target that already holds an index or a queue. */
  replace?: boolean;
}

/**
 * A bulk load of a whole index into one store: nothing is visible to its readers until commit(),
 * and abort() (or a crash, or a lost connection) leaves the target as it was. The target's own
 * image job records are kept.
 */
export interface IndexLoad {
  /** The target, for messages (a PostgreSQL URL without its password). */
  readonly file: string;
  readonly schemaVersion: number;
  /** What the target held before (an index replaced under LoadOptions.replace). */
  readonly previous: CopyCounts;
  /** Append rows to `table`: tables in COPY_TABLES order, each table's rows in COPY_ORDER. */
  write(table: CopyTable, rows: CopyRow[]): Promise<void>;
  /** Rebuild indexes, check every reference, and make the new index visible at once. */
  commit(): Promise<void>;
  /** Drop everything written; the target stays as it was. Safe to call more than once, and after commit (then it does nothing). */
  abort(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------

export type Backend = 'sqlite' | 'postgresql';

export interface Store extends IndexStore {
  readonly backend: Backend;
  /** Processes on other machines may share this store (a server), not only this machine's. */
  readonly shared: boolean;
  /** Where the store is, for messages and --json: the SQLite file, or the PostgreSQL URL without its password. */
  readonly file: string;
  /** Opened for reading only: this process cannot write it. */
  readonly readOnly: boolean;
  readonly queue: ImportQueueStore;
  readonly imageJobs: ImageJobStore;
  /** A consistent snapshot of the index and the import queue, to copy them (darkserver db copy). */
  snapshot(): Promise<IndexSnapshot>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Refuse to create a new store (query, find, stats, jobs). */
  mustExist?: boolean;
  /** The caller only reads: a store it cannot write is opened read-only instead of refused. */
  readOnlyOk?: boolean;
  /** This process only reads, and changes nothing: the store is never created nor migrated (the source of a copy). */
  readOnly?: boolean;
}
