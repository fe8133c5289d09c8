// `darkserver import`: Koji builds -> index rows. Builds and RPMs go through the persistent
// queue; each RPM is read header-first over HTTP and written, with its queue row, in one
// transaction, so a run killed at any moment resumes without indexing anything twice.
import { UserError, describeFailure } from '../errors.js';
import { isDatabaseFailure } from '../index/db-errors.js';
import { scanRpm } from '../index/scan.js';
import type { RpmRecord, Store } from '../store/port.js';
import { KojiClient } from '../koji/client.js';
import { BUILD_STATES, buildStateName, KojiBuild, KojiRpm } from '../koji/types.js';
import { KojiInstance, TOPURL_SCHEMES } from '../koji/instances.js';
import { kojiRpmUrl } from '../koji/urls.js';
import type { NetOptions } from '../net/dispatcher.js';
import { openSource } from '../net/open-source.js';
import { OutageLog } from '../net/outages.js';
import type { ByteSource } from '../rpm/source.js';
import { distTag, splitNvr } from '../rpm/disttag.js';
import { BuildJob, ImportQueue, NewRpmJob, RpmJob } from './queue.js';
import { buildLabel as label, mergeSummaries, newSummary, tally, type ImportMode, type ImportSummary } from './summary.js';

export interface ImportOptions {
  instance: KojiInstance;
  /** Koji build ids or N-V-Rs. */
  builds?: string[];
  from?: number;
  to?: number;
  jobs?: number;
  full?: boolean;
  retryFailed?: boolean;
  /** Keep re-checking BUILDING builds for this long before leaving them queued. */
  waitBuildingMs?: number;
  /** Look the builds up in Koji and put their RPMs on the queue for import workers; fetch nothing (import --queue). */
  queueOnly?: boolean;
  client?: KojiClient;
  /** Timeout and TLS settings for the hub and the downloads (--timeout, --insecure). */
  net?: NetOptions;
  onProgress?: (p: ImportProgress) => void;
  onError?: (subject: string, message: string) => void;
}

export interface ImportProgress {
  rpmsDone: number;
  rpmsTotal: number;
  bytes: number;
  builds: number;
}

export type { ImportMode, ImportSummary } from './summary.js';

/** Stop a --from walk without --to after this many ids in a row that Koji does not know. */
const END_OF_HISTORY = 50;
const BATCH = 50;

/** One run against one Koji instance: what every step of it shares. */
export interface ImportContext {
  store: Store;
  inst: KojiInstance;
  client: KojiClient;
  queue: ImportQueue;
  opts: ImportOptions;
  /** What the run has done so far (a --follow run starts a new one for every batch). */
  sum: ImportSummary;
  progress: ImportProgress;
  errors: (subject: string, message: string) => void;
  /** Builds fetched from Koji in this run, so resolving them does not ask again. */
  known: Map<number, KojiBuild | null>;
}

/** Record the instance, take back the claims of dead workers, and set up a run. */
export async function importContext(store: Store, opts: ImportOptions, mode: ImportMode): Promise<ImportContext> {
  const inst = opts.instance;
  // One outage record for the hub and every download of the run: one line per outage, one budget.
  opts = { ...opts, net: { ...opts.net, outages: opts.net?.outages ?? new OutageLog() } };
  const ctx: ImportContext = {
    store, inst, opts,
    client: opts.client ?? new KojiClient({ hub: inst.hub, ...opts.net }),
    queue: new ImportQueue(store, inst.name),
    sum: newSummary(mode, inst.name),
    progress: { rpmsDone: 0, rpmsTotal: 0, bytes: 0, builds: 0 },
    errors: opts.onError ?? (() => undefined),
    known: new Map(),
  };
  await store.saveInstance(inst);
  await ctx.queue.releaseAbandoned();
  return ctx;
}

export async function importBuilds(store: Store, opts: ImportOptions): Promise<ImportSummary> {
  const mode: ImportMode = opts.builds?.length ? 'builds' : opts.from !== undefined ? 'walk' : 'resume';
  const ctx = await importContext(store, opts, mode);
  const { queue, sum, errors, client, known, inst } = ctx;
  if (opts.retryFailed) await queue.retryFailed();

  // What this run is asked for: explicit builds, a producer walk, or (neither) the queue as it is.
  const requested = new Set<number>();
  let unknown = 0;
  for (const b of new Set(opts.builds ?? [])) {
    const id = await resolveBuildId(client, b, known);
    if (id === undefined) { unknown++; errors(b, `no such build in Koji (${inst.hub})`); continue; }
    requested.add(id);
    // Asked for again: look it up afresh (a missing build may exist now, a BUILDING one be done)
    // and try what failed before again (the hub or the network may be back).
    const job = await queue.addBuild(id, undefined, { fullScan: opts.full });
    if (job.state === 'skipped' || job.state === 'building') await queue.setBuild(job.id, 'queued');
    else if (job.state === 'failed') await queue.retryBuild(job);
  }
  // Each build once, however it was named (an N-V-R and its id are one build); and each N-V-R Koji does not know.
  sum.builds.requested = requested.size + unknown;
  sum.builds.missing = unknown;
  // The builds this run answers for: those asked for, those walked, or (neither) the pending queue.
  const touched = new Set<number>(requested);
  const doneBefore = new Set<number>();
  if (opts.from !== undefined) {
    const w = await walk(ctx, opts.from, opts.to, doneBefore);
    for (const id of w) touched.add(id);
    sum.walked = { from: opts.from, to: w.length ? w[w.length - 1] : opts.from };
  }
  if (mode === 'resume') {
    for (const state of ['queued', 'building', 'fetching'] as const) for (const b of await queue.buildsIn(state)) touched.add(b.koji_build_id);
  }

  if (opts.queueOnly) {
    await resolveQueued(ctx);
    return onQueue(queue, touched, requested, sum, errors);
  }
  await drain(ctx, touched);

  const deadline = Date.now() + (opts.waitBuildingMs ?? 0);
  for (let first = true; (await queue.buildsIn('building')).length > 0 && (first || Date.now() < deadline); first = false) {
    if (!first) await new Promise((r) => setTimeout(r, Math.min(30_000, Math.max(0, deadline - Date.now()))));
    for (const b of await queue.buildsIn('building')) await queue.setBuild(b.id, 'queued');
    ctx.known = new Map(); // states change: ask Koji again
    await resolveQueued(ctx);
    await fetchAll(ctx);
  }

  await tally(queue, sum, {
    touched, requested: mode === 'builds' ? requested : undefined, doneBefore, wholeQueue: mode === 'resume',
    onLeft: (b, why) => errors(label(b), why === 'building' ? 'still BUILDING in Koji; it stays queued for the next import'
      : b.last_error ?? 'skipped'),
  });
  return sum;
}

/**
 * Every instance with work in the queue, each from its Koji profile (or, without one, the hub and
 * package store recorded when its work was queued): `darkserver import` with neither builds nor an
 * instance named. With `retryFailed`, failed work of every instance is queued again first.
 */
export async function resumeAll(store: Store, opts: Omit<ImportOptions, 'instance' | 'builds' | 'from' | 'to'> & {
  profile: (name: string) => KojiInstance | undefined;
}): Promise<ImportSummary> {
  const errors = opts.onError ?? (() => undefined);
  if (opts.retryFailed) await store.queue.retryFailed();
  const recorded = await store.instances();
  const sums: ImportSummary[] = [];
  const names = await store.queue.instancesWithWork();
  for (const name of names) {
    const rec = recorded.get(name);
    const instance = opts.profile(name) ?? (rec && { ...rec, source: 'the index database' });
    if (!instance) {
      errors(`instance ${name}`, 'has queued builds, but no Koji profile of that name nor a hub recorded for it; pass --instance or --hub');
      const s = newSummary('resume', name);
      s.complete = false;
      sums.push(s);
      continue;
    }
    sums.push(await importBuilds(store, { ...opts, instance, retryFailed: false }));
  }
  const sum = mergeSummaries(sums.length ? sums : [newSummary('resume', '')]);
  if (!sums.length) sum.instances = [];
  // Failed work of instances that had nothing else queued remains too.
  const others = (await store.queue.overview()).pending.filter((b) => b.state === 'failed' && !names.includes(b.instance));
  sum.remaining.failed += others.length;
  if (others.length) sum.complete = false;
  return sum;
}

/**
 * Settle the builds in `touched`: list the RPMs of the queued ones, fetch every queued RPM, then
 * wait for the RPMs of these builds that another import is fetching.
 */
export async function drain(ctx: ImportContext, touched: Set<number>): Promise<void> {
  await resolveQueued(ctx);
  await fetchAll(ctx);
  await awaitOtherImports(ctx.queue, touched, () => fetchAll(ctx));
}

/**
 * import --queue: where the builds this run was given now stand. Those whose RPMs wait for
 * workers are queued; a BUILDING one stays on the queue too (a worker asks Koji again).
 */
async function onQueue(queue: ImportQueue, touched: Set<number>, requested: Set<number>, sum: ImportSummary,
  errors: (s: string, m: string) => void): Promise<ImportSummary> {
  const queued = { builds: 0, rpms: 0 };
  for (const state of ['fetching', 'done', 'failed', 'skipped', 'building'] as const) {
    for (const b of (await queue.buildsIn(state)).filter((x) => touched.has(x.koji_build_id))) {
      const asked = requested.has(b.koji_build_id);
      if (state === 'fetching') {
        queued.builds++;
        queued.rpms += (await queue.rpmsOf(b)).filter((r) => r.state === 'queued' || r.state === 'running').length;
      } else if (state === 'done') {
        sum.builds.imported++; // of the builds given, asked for or walked: nothing left to queue
      } else if (state === 'skipped') {
        sum.builds.skipped++;
        if (asked) { sum.complete = false; errors(label(b), b.last_error ?? 'skipped'); }
      } else if (state === 'building') {
        sum.builds.building++;
      } else {
        sum.builds.failed++;
        sum.complete = false;
      }
    }
  }
  return { ...sum, queued };
}

/**
 * Another `darkserver import` may be fetching RPMs of the builds this run answers for (several
 * processes on one database share the queue): wait until it is done with them, fetch what it puts
 * back (interrupted) or leaves behind (killed), then settle those builds, so this run's answer
 * covers them.
 */
async function awaitOtherImports(queue: ImportQueue, touched: Set<number>, fetch: () => Promise<void>): Promise<void> {
  for (;;) {
    if (await queue.queuedRpms() > 0) await fetch();
    else if (await queue.runningElsewhere(touched) > 0) {
      await new Promise((r) => setTimeout(r, 200));
      await queue.releaseAbandoned();
    } else break;
  }
  for (const b of await queue.buildsIn('fetching')) await queue.settle(b);
}

export { label };

async function resolveBuildId(client: KojiClient, arg: string, known: Map<number, KojiBuild | null>): Promise<number | undefined> {
  if (/^\d+$/.test(arg)) return Number(arg);
  if (!splitNvr(arg)) throw new UserError(`${arg}: not a Koji build id or N-V-R`);
  const b = await client.getBuild(arg);
  if (b) known.set(b.id, b);
  return b ? b.id : undefined;
}

/**
 * darkproducer's walk over build ids: every id gets a queue row, whatever its state. Returns the
 * ids walked; those already imported are added to `doneBefore`.
 */
async function walk(ctx: ImportContext, from: number, to: number | undefined, doneBefore: Set<number>): Promise<number[]> {
  const { queue, client, known, opts } = ctx;
  const walked: number[] = [];
  let misses = 0;
  for (let start = from; to === undefined || start <= to; start += BATCH) {
    const ids: number[] = [];
    for (let id = start; id < start + BATCH && (to === undefined || id <= to); id++) {
      walked.push(id);
      if ((await queue.build(id))?.state !== 'done') ids.push(id);
      else doneBefore.add(id);
    }
    const found = ids.length ? await client.getBuilds(ids, BATCH) : new Map<number, KojiBuild | null>();
    for (const id of ids) {
      const b = found.get(id) ?? null;
      known.set(id, b);
      const job = await queue.addBuild(id, b?.nvr, { fullScan: opts.full });
      await classify(queue, job, b);
      misses = b ? 0 : misses + 1;
    }
    if (to === undefined && misses >= END_OF_HISTORY) break;
  }
  return walked;
}

/**
 * Builds Koji listed (--follow): each on the queue, classified as a walk classifies it (COMPLETE
 * queued, BUILDING left to come back, DELETED, FAILED or CANCELED skipped); builds already done
 * or being fetched are left alone. Returns the Koji ids of those now queued.
 */
export async function queueListed(ctx: ImportContext, builds: KojiBuild[]): Promise<number[]> {
  const out: number[] = [];
  for (const b of builds) {
    const have = await ctx.queue.build(b.id);
    // Listed again (each poll looks back a while): nothing to do unless Koji's state changed (a
    // recycled build COMPLETE now, a BUILDING one done). Failed ones wait for --retry-failed.
    if (have && (['done', 'fetching', 'failed'].includes(have.state) || (have.koji_state === b.state && have.state !== 'queued'))) continue;
    ctx.known.set(b.id, b);
    const job = have && !ctx.opts.full ? have : await ctx.queue.addBuild(b.id, b.nvr, { fullScan: ctx.opts.full });
    await classify(ctx.queue, job, b);
    if (b.state === BUILD_STATES.COMPLETE) out.push(b.id);
  }
  return out;
}

/** Look queued builds up in Koji and turn COMPLETE ones into RPM jobs. */
export async function resolveQueued(ctx: Pick<ImportContext, 'client' | 'queue' | 'inst' | 'errors' | 'known'>): Promise<void> {
  const { client, queue, inst, errors, known } = ctx;
  const queued = await queue.buildsIn('queued');
  if (!queued.length) return;
  const unknown = queued.map((b) => b.koji_build_id).filter((id) => !known.has(id));
  const found = new Map([...known, ...(unknown.length ? await client.getBuilds(unknown, BATCH) : [])]);
  for (const job of queued) await classify(queue, job, found.get(job.koji_build_id) ?? null);
  for (const job of await queue.buildsIn('queued')) {
    const b = found.get(job.koji_build_id);
    if (!b) continue;
    try {
      const rpms = await client.listRPMs(b.id);
      await queue.expand(job, rpms.filter(wanted).map((r) => rpmJob(inst, b, r)), { kojiState: b.state, nvr: b.nvr });
    } catch (e) {
      if (isDatabaseFailure(e)) throw e; // not this build's fault: the run stops
      await queue.setBuild(job.id, 'failed', { error: describeFailure(e) });
      errors(label(job), describeFailure(e));
    }
  }
}

async function classify(queue: ImportQueue, job: BuildJob, b: KojiBuild | null): Promise<void> {
  if (job.state === 'done' || job.state === 'fetching') return;
  if (!b) return queue.setBuild(job.id, 'skipped', { error: 'no such build in Koji' });
  if (b.state === BUILD_STATES.COMPLETE) return queue.setBuild(job.id, 'queued', { kojiState: b.state, nvr: b.nvr });
  if (b.state === BUILD_STATES.BUILDING) return queue.setBuild(job.id, 'building', { kojiState: b.state, nvr: b.nvr });
  return queue.setBuild(job.id, 'skipped', { kojiState: b.state, nvr: b.nvr, error: `${buildStateName(b.state)} in Koji; nothing to import` });
}

/** Source RPMs hold no ELF; external-repo RPMs are not in this hub's package store. */
const wanted = (r: KojiRpm): boolean => r.arch !== 'src' && r.arch !== 'nosrc' && !r.external_repo_id && !r.metadata_only;

function rpmJob(inst: KojiInstance, b: KojiBuild, r: KojiRpm): NewRpmJob {
  return {
    koji_rpm_id: r.id,
    nvra: `${r.name}-${r.version}-${r.release}.${r.arch}`,
    url: kojiRpmUrl(inst.topurl, b, r),
    payloadhash: r.payloadhash ? r.payloadhash.toLowerCase() : null,
    size: r.size ?? null,
  };
}

async function fetchAll(ctx: ImportContext): Promise<void> {
  const { store, queue, inst, opts, progress, errors } = ctx;
  const fetching = await queue.buildsIn('fetching');
  for (const b of fetching) progress.rpmsTotal += (await queue.rpmsOf(b)).filter((r) => r.state === 'queued').length;
  progress.builds += fetching.length;
  opts.onProgress?.(progress);
  await fetchClaimed(store, {
    claim: () => queue.claim(), of: async () => ({ queue, inst }), renew: (ids) => queue.renew(ids), leaseMs: queue.leaseMs,
  }, opts, ctx.sum, progress, errors);
  for (const b of fetching) await queue.settle(b);
}

/** What a run counts of the RPMs it fetched (import, import --worker). */
export type RpmTally = Pick<ImportSummary, 'rpms' | 'bytesFetched' | 'bytesOfRpms'>;

/** What fetching RPMs takes from a run's options. */
export type FetchOptions = Pick<ImportOptions, 'jobs' | 'full' | 'net' | 'onProgress'>;

/** Where claimed RPMs come from: one instance's queue (import), or every instance's (import --worker). */
export interface Claims {
  /** The next RPM for this process, under a lease; undefined when none is free. */
  claim(): Promise<RpmJob | undefined>;
  /** The queue a claimed RPM is finished through, and its Koji instance (none when the store does not record it). */
  of(job: RpmJob): Promise<{ queue: ImportQueue; inst?: KojiInstance }>;
  /** Extend the leases on these RPMs (best effort). */
  renew(ids: number[]): Promise<void>;
  leaseMs: number;
}

/**
 * Claim RPMs and import them, `opts.jobs` at once, until no RPM is free. Each claim's lease is
 * renewed while its RPM is fetched; its rows are written only while the lease is held. A failure
 * of the database itself stops every slot (none could write either) and is thrown once the RPMs
 * in flight have ended; the caller puts this process's claims back.
 */
export async function fetchClaimed(store: Store, claims: Claims, opts: FetchOptions, sum: RpmTally, progress: ImportProgress,
  errors: (s: string, m: string) => void): Promise<void> {
  const claimed = new Set<number>();
  // Leases are renewed four times per lease, so one or two renewals that fail (a busy database,
  // a server away for a moment) cost nothing.
  // One renewal at a time: a store that does not answer (a cut link) must not pile them up.
  let renewing = false;
  const heart = setInterval(() => {
    if (!claimed.size || renewing) return;
    renewing = true;
    void claims.renew([...claimed]).finally(() => { renewing = false; });
  }, claims.leaseMs / 4);
  // A failure of the database itself (importRpm rethrows only those) stops every worker: no other
  // RPM could be written either. The command puts this process's claims back on the queue.
  let fatal: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (;;) {
      let job: RpmJob | undefined;
      try {
        job = fatal ? undefined : await claims.claim();
      } catch (e) {
        fatal ??= { error: e };
      }
      if (!job) return;
      claimed.add(job.id);
      try {
        const { queue, inst } = await claims.of(job);
        if (inst) await importRpm(store, queue, inst, job, opts, sum, errors);
        else await unknownInstance(queue, job, sum, errors);
      } catch (e) {
        fatal ??= { error: e };
        return;
      } finally {
        claimed.delete(job.id);
      }
      progress.rpmsDone++;
      progress.bytes = sum.bytesFetched;
      if (progress.rpmsDone > progress.rpmsTotal) progress.rpmsTotal = progress.rpmsDone;
      opts.onProgress?.(progress);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.jobs ?? 4) }, worker));
  } finally {
    clearInterval(heart);
  }
  if (fatal) throw fatal.error;
}

/** An RPM of an instance the store has no record of (the queue came from elsewhere): its hub is unknown. */
async function unknownInstance(queue: ImportQueue, job: RpmJob, sum: RpmTally, errors: (s: string, m: string) => void): Promise<void> {
  const msg = `its Koji instance "${job.instance}" is not recorded in the database; run "darkserver import" with that instance once`;
  if (!await queue.fail(job, { error: msg, bytes: 0 })) return;
  sum.rpms.failed++;
  errors(job.nvra, msg);
}

async function importRpm(store: Store, queue: ImportQueue, inst: KojiInstance, job: RpmJob, opts: FetchOptions,
  sum: RpmTally, errors: (s: string, m: string) => void): Promise<void> {
  if (job.payloadhash && await store.hasRpm(inst.name, job.payloadhash)) {
    if (await queue.complete(job, undefined, { method: 'already', bytes: 0 }) !== 'lost') sum.rpms.already++;
    return;
  }
  const build = await queue.buildOf(job);
  let src: ByteSource | undefined;
  try {
    src = await openSource(job.url, { ...opts.net, expectedSize: job.size }, TOPURL_SCHEMES);
    // --full now, or when the build was queued (a resumed run remembers it).
    const r = await scanRpm(src, { full: opts.full || job.full_scan === 1, expect: { sigmd5: job.payloadhash, size: job.size } });
    sum.bytesFetched += fetched(src);
    sum.bytesOfRpms += src.size ?? job.size ?? 0;
    if ('skipped' in r) {
      await queue.complete(job, undefined, { method: 'skipped', bytes: fetched(src) });
      return;
    }
    const nvr = build.nvr ?? `${r.info.name}-${r.info.version}-${r.info.release}`;
    const parsed = splitNvr(nvr) ?? { name: r.info.name, version: r.info.version, release: r.info.release };
    const rec: RpmRecord = {
      instance: inst.name, pkgid: r.pkgid,
      build: { ...parsed, nvr, kojiBuildId: build.koji_build_id, distro: distTag(parsed.release) },
      name: r.info.name, epoch: r.info.epoch, version: r.info.version, release: r.info.release, arch: r.info.arch,
      nvra: r.info.nvra, sourceRpm: r.info.sourceRpm, url: job.url, size: src.size, payloadCompressor: r.info.payloadCompressor,
      method: r.method, elfFiles: r.elfFiles, elfWithoutBuildId: r.elfWithoutBuildId, rows: r.rows,
    };
    // Written only while this process still holds the RPM's lease: one that lost it (stalled past
    // the lease, and another worker took the RPM over) writes nothing, and the other's rows stand.
    const written = await queue.complete(job, rec, { method: r.method, bytes: fetched(src) });
    if (written === 'indexed') { sum.rpms.indexed++; if (r.method === 'header') sum.rpms.headerOnly++; else sum.rpms.payload++; } else if (written === 'already') sum.rpms.already++;
  } catch (e) {
    if (isDatabaseFailure(e)) throw e; // not this RPM's fault: the run stops
    sum.bytesFetched += fetched(src);
    const msg = describeFailure(e);
    if (!await queue.fail(job, { error: msg, bytes: fetched(src) })) return; // another worker holds it now
    sum.rpms.failed++;
    errors(job.nvra, msg);
  } finally {
    await src?.close();
  }
}

/** Bytes a source took from the network (a local file: none). */
const fetched = (src: ByteSource | undefined): number => (src && 'fetched' in src ? Number(src.fetched) : 0);
