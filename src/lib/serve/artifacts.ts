// From a build-id (and a source path) to a file in the cache, for `darkserver serve`: a cached
// file at once; otherwise the same code as `darkserver find` picks the RPM and extracts the file
// (digest-checked, renamed into place), reading the RPM from disk or from its local copy in the
// cache (rpm-fetch.ts: one download per RPM, however many requests want files of it). Concurrent
// requests for one file share one extraction; at most --jobs extractions run at once. Ids the
// index does not know go to the upstream debuginfod servers, if any.
import type { FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { cachePath } from '../find/cache.js';
import { Candidate, FindError, findFile, FindRequest, selectCandidates } from '../find/finder.js';
import type { Store } from '../store/port.js';
import type { NetOptions } from '../net/dispatcher.js';
import { UserError } from '../errors.js';
import { redactUrl } from '../net/url-policy.js';
import { describeRpm, isRegular } from '../rpm/package.js';
import { readRpmHeaders } from '../rpm/reader.js';
import { ByteSource, FileSource } from '../rpm/source.js';
import { DiskCache } from './disk-cache.js';
import { HttpError } from './http-error.js';
import { Limiter, QueueFullError } from './limiter.js';
import type { Metrics } from './metrics.js';
import { OpenFiles, type OpenFile } from './open-files.js';
import { RpmFetcher, sourceOf } from './rpm-fetch.js';
import { SingleFlight } from './single-flight.js';
import type { Upstreams, UpstreamContext } from './upstream.js';

/** What the X-DEBUGINFOD-FILE and -ARCHIVE headers say about a cached file. */
export interface Origin {
  /** Path of the file in its RPM (or as the upstream server named it). */
  file?: string;
  /** The RPM's URL (password hidden), or the upstream server's archive. */
  archive?: string;
}

/** An open cached file. Call release() when done: until then it is never evicted. */
export interface Artifact extends Origin {
  path: string;
  fh: FileHandle;
  size: number;
  mtime: Date;
  /** The whole content, when it is kept in memory (small files, within --memory-cache). */
  bytes?: Buffer;
  /** 'cache': it was there; 'fetched': extracted now; 'upstream': fetched from an upstream server now. */
  how: 'cache' | 'fetched' | 'upstream';
  release(): Promise<void>;
}

/** A member the RPM header does not list as a regular file: that RPM cannot deliver it. */
export class NotInPackage extends Error {
  constructor(rpm: string, member: string) {
    super(`${rpm} has no regular file ${member}`);
    this.name = 'NotInPackage';
  }
}

export interface ArtifactOptions {
  store: Store;
  cache: DiskCache;
  fetcher: RpmFetcher;
  /** Bounds the extractions running at once (--jobs). */
  extractions: Limiter;
  metrics: Metrics;
  net?: NetOptions;
  upstreams?: Upstreams;
  /** Bytes of small cached files kept in memory at most (--memory-cache). */
  memoryBudget?: number;
}

const SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);
const MAX_ORIGINS = 10_000;

export class Artifacts {
  private readonly flights = new SingleFlight<{ origin: Origin; how: Artifact['how'] }>();
  /** Origins of files fetched by this process, and of cached ones once looked up. */
  private readonly origins = new Map<string, Origin>();
  readonly files: OpenFiles;

  constructor(private readonly o: ArtifactOptions) {
    this.files = new OpenFiles(undefined, o.memoryBudget);
  }

  /** `path` left the cache (evicted). */
  forget(path: string): void {
    this.origins.delete(path);
    this.files.drop(path);
  }

  async close(): Promise<void> {
    await this.files.closeAll();
  }

  async obtain(req: FindRequest, ctx: UpstreamContext): Promise<Artifact> {
    let dest: string;
    try {
      dest = cachePath(this.o.cache.root, req.buildId, req.kind, req.sourcePath);
    } catch (e) {
      // The one path the cache cannot name: a source path whose flattened name passes NAME_MAX.
      if (e instanceof UserError) throw new HttpError(414, e.message);
      throw e;
    }
    const release = this.o.cache.pin(dest);
    try {
      const cached = this.files.acquire(dest) ?? await this.files.open(dest);
      if (cached) {
        if (this.o.cache.account.has(dest)) this.o.cache.used(dest);
        else await this.o.cache.added(dest); // written by `darkserver find`, or before a restart
        this.o.metrics.add('darkforge_cache_hits_total', { kind: req.kind });
        this.o.metrics.add('darkforge_cache_hit_bytes_total', {}, cached.size);
        return { ...view(cached), path: dest, how: 'cache', ...(this.origins.get(dest) ?? await this.originOf(dest, req)), release: this.closer(cached, release) };
      }
      this.o.cache.forget(dest);
      this.o.metrics.add('darkforge_cache_misses_total', { kind: req.kind });
      const { origin, how } = await this.flights.run(dest, () => this.fetch(req, dest, ctx)).promise;
      const opened = await this.files.open(dest);
      if (!opened) throw new HttpError(500, `${dest} vanished from the cache right after it was written`);
      return { ...view(opened), path: dest, how, ...origin, release: this.closer(opened, release) };
    } catch (e) {
      release();
      throw e;
    }
  }

  private closer(f: OpenFile, unpin: () => void): () => Promise<void> {
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      unpin();
      this.files.release(f);
    };
  }

  /** X-DEBUGINFOD-FILE/-ARCHIVE of a cached file: remembered, else the index's first candidate. */
  private async originOf(dest: string, req: FindRequest): Promise<Origin> {
    const known = this.origins.get(dest);
    if (known) return known;
    let origin: Origin = {};
    try {
      const c = (await selectCandidates(this.o.store, req))[0];
      if (c) origin = { file: c.member, archive: redactUrl(c.urls[0] ?? c.url) };
    } catch { /* not in the index (an upstream file from an earlier run) */ }
    this.remember(dest, origin);
    return origin;
  }

  /** A memo, bounded: a forgotten origin is looked up in the index again. */
  private remember(dest: string, origin: Origin): void {
    if (this.origins.size >= MAX_ORIGINS) this.origins.delete(this.origins.keys().next().value as string);
    this.origins.set(dest, origin);
  }

  private async fetch(req: FindRequest, dest: string, ctx: UpstreamContext): Promise<{ origin: Origin; how: Artifact['how'] }> {
    let delivered: { c: Candidate; url: string } | undefined;
    const open = async (url: string, c: Candidate, net: NetOptions): Promise<ByteSource> => {
      delivered = { c, url };
      if (url.startsWith('file:')) return memberSource(fileURLToPath(url), c);
      const local = this.o.fetcher.pathFor(c);
      const unpin = this.o.cache.pin(local);
      try {
        await this.o.fetcher.get(url, c, net);
        return pinned(await memberSource(local, c), unpin);
      } catch (e) {
        unpin();
        throw e;
      }
    };
    try {
      await this.o.extractions.run(() => findFile(this.o.store, req, { cacheDir: this.o.cache.root, net: this.o.net, open }));
      this.o.metrics.add('darkforge_extractions_total', { kind: req.kind, result: 'ok' });
      const origin: Origin = { file: delivered?.c.member, archive: delivered && redactUrl(delivered.url) };
      if (delivered) this.o.metrics.add('darkforge_extracted_from_total', { source: sourceOf(delivered.url, delivered.c) });
      this.remember(dest, origin);
      await this.o.cache.added(dest);
      return { origin, how: 'fetched' };
    } catch (e) {
      if (e instanceof QueueFullError) throw busy(e);
      if (!(e instanceof FindError)) {
        if (SPACE_CODES.has((e as NodeJS.ErrnoException)?.code ?? '')) throw noSpace(this.o.cache.root);
        throw e;
      }
      this.o.metrics.add('darkforge_extractions_total', { kind: req.kind, result: 'error' });
      const absent = e.reason === 'not-indexed' || e.failures.every((f) => f instanceof NotInPackage);
      if (e.failures.some((f) => SPACE_CODES.has((f as NodeJS.ErrnoException)?.code ?? ''))) throw noSpace(this.o.cache.root);
      const full = e.failures.find((f): f is QueueFullError => f instanceof QueueFullError);
      if (full) throw busy(full);
      // Federation: what the index does not have (or cannot deliver) may be on an upstream server.
      if (this.o.upstreams?.enabled) {
        const up = await this.o.upstreams.fetch(req, dest, ctx, absent ? undefined : e.message);
        this.remember(dest, up);
        await this.o.cache.added(dest);
        return { origin: up, how: 'upstream' };
      }
      if (absent) throw new HttpError(404, e.message);
      throw new HttpError(502, e.message);
    }
  }
}

function view(f: OpenFile): { fh: FileHandle; size: number; mtime: Date; bytes?: Buffer } {
  return { fh: f.fh, size: f.size, mtime: f.mtime, bytes: f.bytes };
}

function busy(e: QueueFullError): HttpError {
  return new HttpError(503, `too many files are being fetched (${e.waiting} waiting); try again shortly`, { 'Retry-After': '5' });
}

function noSpace(root: string): HttpError {
  return new HttpError(507, `the cache disk is full (${root}): the file could not be written there`);
}

/** The RPM at `path`, after checking that its header lists the wanted member as a regular file. */
async function memberSource(path: string, c: Candidate): Promise<ByteSource> {
  const src = await FileSource.open(path);
  try {
    const info = describeRpm(await readRpmHeaders(src));
    const f = info.files.find((x) => x.path === c.member);
    if (!f || !isRegular(f.mode)) throw new NotInPackage(c.rpm, c.member);
  } finally {
    await src.close();
  }
  // A fresh reader from byte 0 for the extraction, which reads the headers itself.
  return FileSource.open(path);
}

/** `src`, releasing the cache pin of its RPM when the extraction closes it. */
function pinned(src: ByteSource, unpin: () => void): ByteSource {
  return {
    get position() { return src.position; },
    get size() { return src.size; },
    readExact: (n, what) => src.readExact(n, what),
    rest: () => src.rest(),
    close: async () => {
      try { await src.close(); } finally { unpin(); }
    },
  };
}
