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
import type { ByteSource } from '../rpm/source.js';
import { distTag, splitNvr } from '../rpm/disttag.js';
import { ClaimBuffer, Feed } from './claim-buffer.js';
import { FirstRange } from './first-range.js';
import { BuildJob, ImportQueue, NewRpmJob, RpmJob } from './queue.js';
import { WriteBatch } from './write-batch.js';

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

export interface ImportSummary {
  instance: string;
  builds: { requested: number; imported: number; skipped: number; building: number; failed: number };
  rpms: { indexed: number; headerOnly: number; payload: number; already: number; failed: number };
  bytesFetched: number;
  bytesOfRpms: number;
  /** True when every requested build is imported. */
  complete: boolean;
}

/** Stop a --from walk without --to after this many ids in a row that Koji does not know. */
const END_OF_HISTORY = 50;
const BATCH = 50;

export async function importBuilds(store: Store, opts: ImportOptions): Promise<ImportSummary> {
  const inst = opts.instance;
  // One kept-alive connection per job to each origin (hub and package store).
  opts = { ...opts, net: { ...opts.net, connections: Math.max(1, opts.jobs ?? 4) } };
  const client = opts.client ?? new KojiClient({ hub: inst.hub, ...opts.net });
  const queue = new ImportQueue(store, inst.name);
  const errors = opts.onError ?? (() => undefined);
  const sum: ImportSummary = {
    instance: inst.name,
    builds: { requested: 0, imported: 0, skipped: 0, building: 0, failed: 0 },
    rpms: { indexed: 0, headerOnly: 0, payload: 0, already: 0, failed: 0 },
    bytesFetched: 0, bytesOfRpms: 0, complete: true,
  };
  await store.saveInstance(inst);
  await queue.releaseAbandoned();
  if (opts.retryFailed) await queue.retryFailed();

  // What this run is asked for: explicit builds, a producer walk, or (neither) the queue as it is.
  const requested = new Set<number>();
  // Builds already fetched from Koji in this run, so resolving them does not ask again.
  const known = new Map<number, KojiBuild | null>();
  const byNvr = await resolveNvrs(client, opts.builds ?? [], known);
  for (const b of opts.builds ?? []) {
    const id = /^\d+$/.test(b) ? Number(b) : byNvr.get(b);
    if (id instanceof KojiError) { sum.complete = false; errors(b, id.message); continue; }
    if (id === undefined) { sum.complete = false; errors(b, `no such build in Koji (${inst.hub})`); continue; }
    requested.add(id);
  }
  for (const job of await queue.addBuilds([...requested].map((kojiBuildId) => ({ kojiBuildId })))) {
    // Asked for again: look it up afresh (a missing build may exist now, a BUILDING one be done)
    // and try what failed before again (the hub or the network may be back).
    if (job.state === 'skipped' || job.state === 'building') await queue.setBuild(job.id, 'queued');
    else if (job.state === 'failed') await queue.retryBuild(job);
  }
  // The builds this run answers for: those asked for, those walked, or (neither) the pending queue.
  const touched = new Set<number>(requested);
  if (opts.from !== undefined) for (const id of await walk(client, queue, opts.from, opts.to, known)) touched.add(id);
  if (!opts.builds?.length && opts.from === undefined) {
    for (const state of ['queued', 'building', 'fetching'] as const) for (const b of await queue.buildsIn(state)) touched.add(b.koji_build_id);
  }
  sum.builds.requested = requested.size;

  const progress: ImportProgress = { rpmsDone: 0, rpmsTotal: 0, bytes: 0, builds: 0 };
  // The size of each RPM's first Range request, learnt from the headers this run has read.
  const range = new FirstRange();
  // The queued builds are resolved a page at a time while the RPMs of the pages already resolved
  // are fetched: the first downloads start after one multicall, not after all of them.
  await fetchAll(store, queue, inst, opts, sum, progress, errors, range, (onPage) => resolveQueued(client, queue, inst, errors, known, onPage));
  await awaitOtherImports(queue, touched, () => fetchAll(store, queue, inst, opts, sum, progress, errors, range));

  const deadline = Date.now() + (opts.waitBuildingMs ?? 0);
  for (let first = true; (await queue.buildsIn('building')).length > 0 && (first || Date.now() < deadline); first = false) {
    if (!first) await new Promise((r) => setTimeout(r, Math.min(30_000, Math.max(0, deadline - Date.now()))));
    for (const b of await queue.buildsIn('building')) await queue.setBuild(b.id, 'queued');
    // States change: ask Koji again.
    await fetchAll(store, queue, inst, opts, sum, progress, errors, range, (onPage) => resolveQueued(client, queue, inst, errors, new Map(), onPage));
  }

  for (const state of ['done', 'failed', 'skipped', 'building'] as const) {
    for (const b of (await queue.buildsIn(state)).filter((x) => touched.has(x.koji_build_id))) {
      const asked = requested.has(b.koji_build_id);
      if (state === 'done') { if (asked) sum.builds.imported++; continue; }
      if (state === 'skipped') {
        sum.builds.skipped++;
        if (asked) { sum.complete = false; errors(label(b), b.last_error ?? 'skipped'); }
      } else if (state === 'building') {
        sum.builds.building++;
        sum.complete = false;
        errors(label(b), 'still BUILDING in Koji; it stays queued for the next import');
      } else {
        sum.builds.failed++;
        sum.complete = false;
      }
    }
  }
  if (sum.rpms.failed) sum.complete = false;
  return sum;
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

const label = (b: BuildJob): string => (b.nvr ? `build ${b.koji_build_id} (${b.nvr})` : `build ${b.koji_build_id}`);

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

/** darkproducer's walk over build ids: every id gets a queue row, whatever its state. Returns the ids walked. */
async function walk(client: KojiClient, queue: ImportQueue, from: number, to: number | undefined, known: Map<number, KojiBuild | null>): Promise<number[]> {
  const walked: number[] = [];
  let misses = 0;
  for (let start = from; to === undefined || start <= to; start += BATCH) {
    const ids: number[] = [];
    for (let id = start; id < start + BATCH && (to === undefined || id <= to); id++) {
      walked.push(id);
      if ((await queue.build(id))?.state !== 'done') ids.push(id);
    }
    const found = ids.length ? await client.getBuilds(ids, BATCH) : new Map<number, KojiBuild | null>();
    for (const id of ids) {
      const b = found.get(id) ?? null;
      known.set(id, b);
      const job = await queue.addBuild(id, b?.nvr);
      await classify(queue, job, b);
      misses = b ? 0 : misses + 1;
    }
    if (to === undefined && misses >= END_OF_HISTORY) break;
  }
  return walked;
}

/**
 * Look queued builds up in Koji and turn COMPLETE ones into RPM jobs: getBuild (unless this run
 * knows the build already) and listRPMs of 100 queued builds per multicall, never one round
 * trip per build. A fault on a call about one build fails that build only.
 */
async function resolveQueued(client: KojiClient, queue: ImportQueue, inst: KojiInstance, errors: (s: string, m: string) => void,
  known: Map<number, KojiBuild | null>, onPage: OnPage = () => undefined): Promise<void> {
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
 * Fetch and index every queued RPM with --jobs workers, until the queue is empty. `resolve`, when
 * given, turns queued builds into RPM jobs page by page meanwhile: the workers wait for its pages
 * and stop once it is done and the queue is empty. A failure of `resolve` (the hub) is thrown
 * once the RPMs already queued are done.
 */
async function fetchAll(store: Store, queue: ImportQueue, inst: KojiInstance, opts: ImportOptions, sum: ImportSummary,
  progress: ImportProgress, errors: (s: string, m: string) => void, range: FirstRange,
  resolve?: (onPage: OnPage) => Promise<void>): Promise<void> {
  const fetching = await queue.buildsIn('fetching');
  for (const b of fetching) progress.rpmsTotal += (await queue.rpmsOf(b)).filter((r) => r.state === 'queued').length;
  progress.builds += fetching.length;
  opts.onProgress?.(progress);
  const feed = resolve ? new Feed() : undefined;
  let resolveFailure: { error: unknown } | undefined;
  const resolving = resolve?.((expanded, rpms) => {
    fetching.push(...expanded);
    progress.builds += expanded.length;
    progress.rpmsTotal += rpms;
    opts.onProgress?.(progress);
    feed!.added();
  }).catch((e: unknown) => { resolveFailure = { error: e }; }).finally(() => feed!.close());
  const jobs = Math.max(1, opts.jobs ?? 4);
  // Every RPM this process holds, from its claim until its write: started or not, being read or
  // waiting to be written, its lease is renewed.
  const claimed = new Set<number>();
  // Leases are renewed four times per lease, so one or two renewals that fail (a busy database,
  // a server away for a moment) cost nothing.
  const heart = setInterval(() => { if (claimed.size) void queue.renew([...claimed]); }, queue.leaseMs / 4);
  // A failure of the database itself stops every worker: no other RPM could be written either.
  // The command puts this process's claims back on the queue.
  let fatal: { error: unknown } | undefined;
  const stop = (e: unknown): void => { fatal ??= { error: e }; };
  const claims = new ClaimBuffer((n) => queue.claimMany(n), Math.min(jobs, CLAIM_BATCH), (j) => claimed.add(j.id), feed);
  // Rows are written several RPMs to a transaction, each only while its lease still holds (the
  // store checks that in the writing transaction); the workers go on reading meanwhile.
  const writes = new WriteBatch<RpmCompletion, RpmWrite>((items) => queue.completeMany(items),
    { max: WRITE_BATCH, delayMs: WRITE_DELAY_MS, fatal: isDatabaseFailure });
  const settling = new Set<Promise<void>>();
  const builds = new Map<number, Promise<BuildJob>>();
  const buildOf = (job: RpmJob): Promise<BuildJob> => {
    let b = builds.get(job.job_id);
    if (!b) builds.set(job.job_id, b = queue.buildOf(job));
    return b;
  };
  const done = (job: RpmJob): void => {
    claimed.delete(job.id);
    progress.rpmsDone++;
    progress.bytes = sum.bytesFetched;
    opts.onProgress?.(progress);
  };
  const write = (job: RpmJob, f: Finished): Promise<void> => {
    const p = writes.add(f.write).then(f.count, async (e: unknown) => {
      if (isDatabaseFailure(e)) throw e;
      await failed(queue, job, describeFailure(e), f.write.bytes, sum, errors); // this RPM's record, not the store
    }).then(() => done(job), stop).finally(() => settling.delete(p));
    settling.add(p);
    return p;
  };
  const worker = async (): Promise<void> => {
    for (let job = await claims.next(); job && !fatal; job = fatal ? undefined : await claims.next()) {
      try {
        const f = await importRpm(store, queue, inst, job, opts, sum, errors, range, buildOf);
        if (!f) { done(job); continue; }
        const p = write(job, f);
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
    // Workers stopped by a failure of the database: the resolver stops at its next write too.
    await resolving;
  } finally {
    clearInterval(heart);
  }
  if (fatal) throw fatal.error;
  if (resolveFailure) throw resolveFailure.error;
  for (const b of fetching) await queue.settle(b);
}

/** A claimed RPM failed: one line naming it, unless another worker holds it by now. */
async function failed(queue: ImportQueue, job: RpmJob, msg: string, bytes: number, sum: ImportSummary, errors: (s: string, m: string) => void): Promise<void> {
  if (!await queue.fail(job, { error: msg, bytes })) return;
  sum.rpms.failed++;
  errors(job.nvra, msg);
}

/**
 * Read one claimed RPM header-first. Returns what to write for it, or undefined when it failed
 * (recorded already); throws only failures of the database itself.
 */
async function importRpm(store: Store, queue: ImportQueue, inst: KojiInstance, job: RpmJob, opts: ImportOptions,
  sum: ImportSummary, errors: (s: string, m: string) => void, range: FirstRange,
  buildOf: (job: RpmJob) => Promise<BuildJob>): Promise<Finished | undefined> {
  if (job.payloadhash && await store.hasRpm(inst.name, job.payloadhash)) {
    return { write: { id: job.id, method: 'already', bytes: 0 }, count: (w) => { if (w !== 'lost') sum.rpms.already++; } };
  }
  const build = await buildOf(job);
  let src: ByteSource | undefined;
  let r: ScanOutcome;
  try {
    src = await openSource(job.url, { ...opts.net, expectedSize: job.size, probeBytes: range.bytes(job.size) }, TOPURL_SCHEMES);
    r = await scanRpm(src, { full: opts.full, expect: { sigmd5: job.payloadhash, size: job.size } });
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
