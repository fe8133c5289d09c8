// `darkserver import`: Koji builds -> index rows. Builds and RPMs go through the persistent
// queue; builds are looked up in multicalls, a page at a time, and each RPM is read header-first
// over HTTP (one Range request in the common case) and written with its queue row in one
// transaction (several RPMs share one), so a run killed at any moment resumes without indexing
// anything twice.
import { UserError, describeFailure } from '../errors.js';
import { isDatabaseFailure } from '../index/db-errors.js';
import { scanRpm, type ScanOutcome } from '../index/scan.js';
import type { RpmCompletion, RpmRecord, RpmWrite, Store } from '../store/port.js';
import { KojiClient, KojiError, MULTICALL_PAGE } from '../koji/client.js';
import { BUILD_STATES, buildStateName, KojiBuild, KojiRpm } from '../koji/types.js';
import { KojiInstance, TOPURL_SCHEMES } from '../koji/instances.js';
import { kojiRpmUrl } from '../koji/urls.js';
import type { NetOptions } from '../net/dispatcher.js';
import { openSource } from '../net/open-source.js';
import { OutageLog } from '../net/outages.js';
import type { ByteSource } from '../rpm/source.js';
import { distTag, splitNvr } from '../rpm/disttag.js';
import { ClaimBuffer, Feed } from './claim-buffer.js';
import { FirstRange } from './first-range.js';
import { BuildJob, ImportQueue, NewRpmJob, RpmJob } from './queue.js';
import { WriteBatch } from './write-batch.js';
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
  /** The size of each RPM's first Range request, learnt from the headers this run has read. */
  range: FirstRange;
}

/** Record the instance, take back the claims of dead workers, and set up a run. */
export async function importContext(store: Store, opts: ImportOptions, mode: ImportMode): Promise<ImportContext> {
  const inst = opts.instance;
  // One outage record for the hub and every download of the run: one line per outage, one budget;
  // one kept-alive connection per job to each origin (hub and package store).
  opts = { ...opts, net: { ...opts.net, outages: opts.net?.outages ?? new OutageLog(), connections: Math.max(1, opts.jobs ?? 4) } };
  const ctx: ImportContext = {
    store, inst, opts,
    client: opts.client ?? new KojiClient({ hub: inst.hub, ...opts.net }),
    queue: new ImportQueue(store, inst.name),
    sum: newSummary(mode, inst.name),
    progress: { rpmsDone: 0, rpmsTotal: 0, bytes: 0, builds: 0 },
    errors: opts.onError ?? (() => undefined),
    known: new Map(),
    range: new FirstRange(),
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
  let faulted = 0;
  const names = [...new Set(opts.builds ?? [])];
  const byNvr = await resolveNvrs(client, names, known);
  for (const b of names) {
    const id = /^\d+$/.test(b) ? Number(b) : byNvr.get(b);
    if (id instanceof KojiError) { faulted++; errors(b, id.message); continue; }
    if (id === undefined) { unknown++; errors(b, `no such build in Koji (${inst.hub})`); continue; }
    requested.add(id);
  }
  for (const job of await queue.addBuilds([...requested].map((kojiBuildId) => ({ kojiBuildId, fullScan: opts.full })))) {
    // Asked for again: look it up afresh (a missing build may exist now, a BUILDING one be done)
    // and try what failed before again (the hub or the network may be back).
    if (job.state === 'skipped' || job.state === 'building') await queue.setBuild(job.id, 'queued');
    else if (job.state === 'failed') await queue.retryBuild(job);
  }
  // Each build once, however it was named (an N-V-R and its id are one build); and each N-V-R Koji does not know.
  // A name the hub answered with a fault counts as asked for and not imported.
  sum.builds.requested = requested.size + unknown + faulted;
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

  const onLeft = (b: BuildJob, why: 'building' | 'skipped'): void => errors(label(b), why === 'building'
    ? 'still BUILDING in Koji; it stays queued for the next import' : b.last_error ?? 'skipped');
  const scope = { touched, requested: mode === 'builds' ? requested : undefined, doneBefore, wholeQueue: mode === 'resume', onLeft };
  if (opts.queueOnly) {
    await resolveQueued(ctx);
    await tally(queue, sum, { ...scope, queueOnly: true });
    return sum;
  }
  await drain(ctx, touched);

  const deadline = Date.now() + (opts.waitBuildingMs ?? 0);
  for (let first = true; (await queue.buildsIn('building')).length > 0 && (first || Date.now() < deadline); first = false) {
    if (!first) await new Promise((r) => setTimeout(r, Math.min(30_000, Math.max(0, deadline - Date.now()))));
    for (const b of await queue.buildsIn('building')) await queue.setBuild(b.id, 'queued');
    ctx.known = new Map(); // states change: ask Koji again
    await fetchAll(ctx, true);
  }

  await tally(queue, sum, scope);
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
  await fetchAll(ctx, true);
  await awaitOtherImports(ctx.queue, touched, () => fetchAll(ctx));
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

/** Build ids of the N-V-R arguments, all looked up in a few multicalls; a fault answers for its N-V-R alone. */
async function resolveNvrs(client: KojiClient, args: string[], known: Map<number, KojiBuild | null>): Promise<Map<string, number | undefined | KojiError>> {
  const nvrs = [...new Set(args.filter((a) => !/^\d+$/.test(a)))];
  for (const a of nvrs) if (!splitNvr(a)) throw new UserError(`${a}: not a Koji build id or N-V-R`);
  const out = new Map<string, number | undefined | KojiError>();
  if (!nvrs.length) return out;
  const answers = await client.callMany(nvrs.map((n) => ({ method: 'getBuild', params: [n] })));
  answers.forEach((r, i) => {
    if ('error' in r) { out.set(nvrs[i], r.error); return; }
    const b = r.value as KojiBuild | null;
    if (b !== null && (typeof b !== 'object' || typeof b.id !== 'number')) {
      out.set(nvrs[i], new KojiError(`Koji hub ${client.hub}: getBuild(${JSON.stringify(nvrs[i])}) gave an answer without a numeric id`, client.hub, 'getBuild'));
      return;
    }
    if (b) known.set(b.id, b);
    out.set(nvrs[i], b ? b.id : undefined);
  });
  return out;
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

/**
 * Look queued builds up in Koji and turn COMPLETE ones into RPM jobs: getBuild (unless this run
 * knows the build already) and listRPMs of 100 queued builds per multicall, never one round
 * trip per build. A fault on a call about one build fails that build only.
 */
export async function resolveQueued(ctx: Pick<ImportContext, 'client' | 'queue' | 'inst' | 'errors' | 'known'>,
  onPage: OnPage = () => undefined): Promise<void> {
  const { client, queue, inst, errors, known } = ctx;
  const queued = await queue.buildsIn('queued');
  for (let i = 0; i < queued.length; i += PAGE_BUILDS) {
    const page = queued.slice(i, i + PAGE_BUILDS);
    const answers = await client.buildsWithRpms(page.map((b) => b.koji_build_id), known);
    const complete: { job: BuildJob; rpms: NewRpmJob[]; kojiState: number; nvr: string }[] = [];
    for (const job of page) {
      const a = answers.get(job.koji_build_id)!;
      try {
        if (a.error) throw a.error;
        const b = a.build;
        if (b?.state === BUILD_STATES.COMPLETE) complete.push({ job, rpms: a.rpms.filter(wanted).map((r) => rpmJob(inst, b, r)), kojiState: b.state, nvr: b.nvr });
        else await classify(queue, job, b);
      } catch (e) {
        if (isDatabaseFailure(e)) throw e; // not this build's fault: the run stops
        await queue.setBuild(job.id, 'failed', { error: describeFailure(e) });
        errors(label(job), describeFailure(e));
      }
    }
    // The page's COMPLETE builds become RPM jobs in one transaction.
    await queue.expandMany(complete);
    onPage(complete.map((c) => c.job), complete.reduce((n, c) => n + c.rpms.length, 0));
  }
}

/** Builds per page of resolveQueued: getBuild and listRPMs each, one multicall. */
const PAGE_BUILDS = Math.max(1, Math.floor(MULTICALL_PAGE / 2));
/** A page of builds was resolved: these became RPM jobs, `rpms` of them in all. */
type OnPage = (expanded: BuildJob[], rpms: number) => void;

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

/**
 * Fetch and index every queued RPM of the run's instance, until the queue is empty. With
 * `resolve`, the queued builds are turned into RPM jobs page by page meanwhile (one multicall
 * each) and the workers take each page's RPMs as it comes: the first downloads start after one
 * multicall, not after all of them. A failure of the resolver (the hub) is thrown once the RPMs
 * already queued are done.
 */
async function fetchAll(ctx: ImportContext, resolve = false): Promise<void> {
  const { store, queue, inst, opts, progress } = ctx;
  const fetching = await queue.buildsIn('fetching');
  for (const b of fetching) progress.rpmsTotal += (await queue.rpmsOf(b)).filter((r) => r.state === 'queued').length;
  progress.builds += fetching.length;
  opts.onProgress?.(progress);
  const feed = resolve ? new Feed() : undefined;
  let resolveFailure: { error: unknown } | undefined;
  const resolving = feed && resolveQueued(ctx, (expanded, rpms) => {
    fetching.push(...expanded);
    progress.builds += expanded.length;
    progress.rpmsTotal += rpms;
    opts.onProgress?.(progress);
    feed.added();
  }).catch((e: unknown) => { resolveFailure = { error: e }; }).finally(() => feed.close());
  let fatal: { error: unknown } | undefined;
  try {
    await fetchClaimed(store, {
      claim: (n) => queue.claimMany(n), of: async () => ({ queue, inst }), renew: (ids) => queue.renew(ids),
      complete: (items) => queue.completeMany(items), leaseMs: queue.leaseMs,
    }, opts, ctx.sum, progress, ctx.errors, { range: ctx.range, feed });
  } catch (e) {
    fatal = { error: e };
  }
  // Workers stopped by a failure of the database: the resolver stops at its next write too.
  await resolving;
  if (fatal) throw fatal.error;
  if (resolveFailure) throw resolveFailure.error;
  for (const b of fetching) await queue.settle(b);
}

/** What a run counts of the RPMs it fetched (import, import --worker). */
export type RpmTally = Pick<ImportSummary, 'rpms' | 'bytesFetched' | 'bytesOfRpms'>;

/** What fetching RPMs takes from a run's options. */
export type FetchOptions = Pick<ImportOptions, 'jobs' | 'full' | 'net' | 'onProgress'>;

/** Where claimed RPMs come from: one instance's queue (import), or every instance's (import --worker). */
export interface Claims {
  /** Up to `n` RPMs for this process, under leases, in one store transaction; none when none is free. */
  claim(n: number): Promise<RpmJob[]>;
  /** The queue a claimed RPM is failed through, and its Koji instance (none when the store does not record it). */
  of(job: RpmJob): Promise<{ queue: ImportQueue; inst?: KojiInstance }>;
  /** Extend the leases on these RPMs (best effort). */
  renew(ids: number[]): Promise<void>;
  /** Write several RPMs' rows and queue rows in one transaction, each only while this process holds its lease. */
  complete(items: RpmCompletion[]): Promise<RpmWrite[]>;
  leaseMs: number;
}

/** RPMs claimed per store transaction at most (one for each worker waiting). */
const CLAIM_BATCH = 16;
/** RPMs written per store transaction, at most, and how long a finished RPM waits for others to join its write. */
const WRITE_BATCH = 64;
const WRITE_DELAY_MS = 20;

/** What a worker hands to the writer for an RPM it read: the write, and how to count its outcome. */
interface Finished {
  write: RpmCompletion;
  count: (w: RpmWrite) => void;
}

/**
 * Claim RPMs and import them, `opts.jobs` at once, until no RPM is free (and, with `feed`, until
 * no more can be added). Each claim's lease is renewed from its claim until its write; its rows
 * are written, several RPMs to a transaction, only while the lease is held. A failure of the
 * database itself stops every slot (none could write either) and is thrown once the RPMs in
 * flight have ended; the caller puts this process's claims back.
 */
export async function fetchClaimed(store: Store, claims: Claims, opts: FetchOptions, sum: RpmTally, progress: ImportProgress,
  errors: (s: string, m: string) => void, o: { range?: FirstRange; feed?: Feed } = {}): Promise<void> {
  const range = o.range ?? new FirstRange();
  const jobs = Math.max(1, opts.jobs ?? 4);
  // Every RPM this process holds, from its claim until its write: started or not, being read or
  // waiting to be written, its lease is renewed.
  const claimed = new Set<number>();
  // Leases are renewed four times per lease, so one or two renewals that fail (a busy database,
  // a server away for a moment) cost nothing. One renewal at a time: a store that does not
  // answer (a cut link) must not pile them up.
  let renewing = false;
  const heart = setInterval(() => {
    if (!claimed.size || renewing) return;
    renewing = true;
    void claims.renew([...claimed]).finally(() => { renewing = false; });
  }, claims.leaseMs / 4);
  // A failure of the database itself stops every worker: no other RPM could be written either.
  let fatal: { error: unknown } | undefined;
  const stop = (e: unknown): void => { fatal ??= { error: e }; };
  const buffer = new ClaimBuffer((n) => claims.claim(n), Math.min(jobs, CLAIM_BATCH), (j) => claimed.add(j.id), o.feed);
  // The workers go on reading while a batch is written.
  const writes = new WriteBatch<RpmCompletion, RpmWrite>((items) => claims.complete(items),
    { max: WRITE_BATCH, delayMs: WRITE_DELAY_MS, fatal: isDatabaseFailure });
  const settling = new Set<Promise<void>>();
  const builds = new Map<number, Promise<BuildJob>>();
  const done = (job: RpmJob): void => {
    claimed.delete(job.id);
    progress.rpmsDone++;
    progress.bytes = sum.bytesFetched;
    if (progress.rpmsDone > progress.rpmsTotal) progress.rpmsTotal = progress.rpmsDone;
    opts.onProgress?.(progress);
  };
  const write = (queue: ImportQueue, job: RpmJob, f: Finished): Promise<void> => {
    const p = writes.add(f.write).then(f.count, async (e: unknown) => {
      if (isDatabaseFailure(e)) throw e;
      await failed(queue, job, describeFailure(e), f.write.bytes, sum, errors); // this RPM's record, not the store
    }).then(() => done(job), stop).finally(() => settling.delete(p));
    settling.add(p);
    return p;
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      let job: RpmJob | undefined;
      try {
        job = fatal ? undefined : await buffer.next();
      } catch (e) {
        stop(e);
      }
      if (!job) return;
      try {
        const { queue, inst } = await claims.of(job);
        const buildOf = (j: RpmJob): Promise<BuildJob> => {
          let b = builds.get(j.job_id);
          if (!b) builds.set(j.job_id, b = queue.buildOf(j));
          return b;
        };
        const f = inst
          ? await importRpm(store, queue, inst, job, opts, sum, errors, range, buildOf)
          : await unknownInstance(queue, job, sum, errors);
        if (!f) { done(job); continue; }
        const p = write(queue, job, f);
        // Reading runs ahead of writing by a batch or two at most.
        if (writes.size >= 2 * WRITE_BATCH) await p;
      } catch (e) {
        stop(e);
        return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: jobs }, worker));
    await writes.drain();
    await Promise.all([...settling]);
  } finally {
    clearInterval(heart);
  }
  if (fatal) throw fatal.error;
}

/** A claimed RPM failed: one line naming it, unless another worker holds it by now. */
async function failed(queue: ImportQueue, job: RpmJob, msg: string, bytes: number, sum: RpmTally, errors: (s: string, m: string) => void): Promise<void> {
  if (!await queue.fail(job, { error: msg, bytes })) return;
  sum.rpms.failed++;
  errors(job.nvra, msg);
}

/** An RPM of an instance the store has no record of (the queue came from elsewhere): its hub is unknown. */
async function unknownInstance(queue: ImportQueue, job: RpmJob, sum: RpmTally, errors: (s: string, m: string) => void): Promise<undefined> {
  await failed(queue, job, `its Koji instance "${job.instance}" is not recorded in the database; run "darkserver import" with that instance once`, 0, sum, errors);
  return undefined;
}

/**
 * Read one claimed RPM header-first. Returns what to write for it, or undefined when it failed
 * (recorded already); throws only failures of the database itself.
 */
async function importRpm(store: Store, queue: ImportQueue, inst: KojiInstance, job: RpmJob, opts: FetchOptions,
  sum: RpmTally, errors: (s: string, m: string) => void, range: FirstRange,
  buildOf: (job: RpmJob) => Promise<BuildJob>): Promise<Finished | undefined> {
  if (job.payloadhash && await store.hasRpm(inst.name, job.payloadhash)) {
    return { write: { id: job.id, method: 'already', bytes: 0 }, count: (w) => { if (w !== 'lost') sum.rpms.already++; } };
  }
  const build = await buildOf(job);
  let src: ByteSource | undefined;
  let r: ScanOutcome;
  try {
    src = await openSource(job.url, { ...opts.net, expectedSize: job.size, probeBytes: range.bytes(job.size) }, TOPURL_SCHEMES);
    // --full now, or when the build was queued (a resumed run remembers it).
    r = await scanRpm(src, { full: opts.full || job.full_scan === 1, expect: { sigmd5: job.payloadhash, size: job.size } });
  } catch (e) {
    await src?.close();
    sum.bytesFetched += fetched(src);
    await failed(queue, job, describeFailure(e), fetched(src), sum, errors);
    return undefined;
  }
  await src.close();
  const bytes = fetched(src);
  sum.bytesFetched += bytes;
  sum.bytesOfRpms += src.size ?? job.size ?? 0;
  if (r.payloadStart) range.record(r.payloadStart);
  if ('skipped' in r) return { write: { id: job.id, method: 'skipped', bytes }, count: () => undefined };
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
  const method = r.method;
  return {
    write: { id: job.id, rec, method, bytes },
    count: (w) => {
      if (w === 'indexed') { sum.rpms.indexed++; if (method === 'header') sum.rpms.headerOnly++; else sum.rpms.payload++; } else if (w === 'already') sum.rpms.already++;
    },
  };
}

/** Bytes a source took from the network (a local file: none). */
const fetched = (src: ByteSource | undefined): number => (src && 'fetched' in src ? Number(src.fetched) : 0);
