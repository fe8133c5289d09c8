// RPMs fetched once into the cache (serve-rpms/) so that every file `darkserver serve` is asked
// for in one RPM costs one download of it: concurrent requests share the download (single
// flight), at most --jobs downloads run at once, and a fetched RPM stays, under --cache-size,
// for the next file of it (gdb asks for the sources of a build one after another). A download
// is checked before it is used: the package's SIGMD5 must be one the index has for that
// instance (Koji's payloadhash, for imported builds) and the content must match it.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DownloadError, FormatError } from '../errors.js';
import { makeCacheFolder } from '../find/cache.js';
import type { Candidate } from '../find/finder.js';
import { packageId } from '../index/scan.js';
import type { NetOptions } from '../net/dispatcher.js';
import { openSource } from '../net/open-source.js';
import { redactUrl } from '../net/url-policy.js';
import { describeRpm } from '../rpm/package.js';
import { readRpmHeaders } from '../rpm/reader.js';
import { FileSource } from '../rpm/source.js';
import { DiskCache, RPM_FOLDER } from './disk-cache.js';
import { Limiter } from './limiter.js';
import { SingleFlight } from './single-flight.js';

/** Where a download candidate sits in the order mirror -> Koji -> retrace (for the metrics). */
export type FetchSource = 'local' | 'mirror' | 'koji' | 'retrace' | 'upstream';

export function sourceOf(url: string, c: Candidate): FetchSource {
  if (url.startsWith('file:') && c.instance === 'local') return 'local';
  const at = c.urls.indexOf(url);
  const primary = c.urls.indexOf(c.url);
  if (primary < 0 || at === primary) return c.instance === 'local' ? 'local' : 'koji';
  return at < primary ? 'mirror' : 'retrace';
}

export interface FetchReport {
  source: FetchSource;
  url: string;
  bytes: number;
  ms: number;
  ok: boolean;
}

export interface RpmFetcherOptions {
  cache: DiskCache;
  net?: NetOptions;
  limiter: Limiter;
  /** Is this package (by SIGMD5, or sha256:header digest) in the index for that instance? */
  indexed: (instance: string, pkgid: string) => Promise<boolean>;
  onFetch?: (r: FetchReport) => void;
}

export class RpmFetcher {
  private readonly flights = new SingleFlight<void>();
  /** Downloads started (not joined), for tests and the log. */
  started = 0;

  constructor(private readonly o: RpmFetcherOptions) {}

  /** The cache file an RPM of the index is kept in: named by instance and N-V-R.A, never by a URL. */
  pathFor(c: Candidate): string {
    const key = createHash('sha256').update(`${c.instance}\0${c.rpm}`).digest('hex').slice(0, 16);
    const name = c.rpm.replace(/[^A-Za-z0-9._+~^-]/g, '_').slice(0, 200);
    return join(this.o.cache.root, RPM_FOLDER, `${key}-${name}.rpm`);
  }

  /** The local copy of `c`'s RPM, fetched from `url` unless already there. The caller pins pathFor(c). */
  async get(url: string, c: Candidate, net: NetOptions = this.o.net ?? {}): Promise<string> {
    const dest = this.pathFor(c);
    if (await isFile(dest)) {
      this.o.cache.used(dest);
      return dest;
    }
    // One flight per RPM, whichever URL it comes from: a request that arrives while the mirror
    // copy is on its way waits for it rather than asking Koji too.
    await this.flights.run(dest, () => this.o.limiter.run(async () => {
      if (await isFile(dest)) return; // finished by a flight that just ended
      this.started++;
      await this.download(url, c, dest, net);
    })).promise;
    return dest;
  }

  private async download(url: string, c: Candidate, dest: string, net: NetOptions): Promise<void> {
    const t0 = performance.now();
    const source = sourceOf(url, c);
    let bytes = 0;
    let ok = false;
    const part = `${dest}.part-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
    try {
      await makeCacheFolder(this.o.cache.root, join(this.o.cache.root, RPM_FOLDER));
      const src = await openSource(url, net);
      try {
        await pipeline(src.rest(), async function* count(chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            bytes += chunk.length;
            yield chunk;
          }
        }, createWriteStream(part, { flags: 'wx', mode: 0o644 }));
      } finally {
        await src.close();
      }
      await this.verify(part, url, c);
      await rename(part, dest);
      ok = true;
    } finally {
      if (!ok) await unlink(part).catch(() => undefined);
      this.o.onFetch?.({ source, url: redactUrl(url), bytes, ms: performance.now() - t0, ok });
    }
    await this.o.cache.added(dest);
  }

  private async verify(file: string, url: string, c: Candidate): Promise<void> {
    const shown = redactUrl(url);
    const src = await FileSource.open(file);
    try {
      const headers = await readRpmHeaders(src);
      const info = describeRpm(headers);
      const pkgid = packageId(info, headers);
      if (info.nvra !== c.rpm || !(await this.o.indexed(c.instance, pkgid))) {
        throw new DownloadError(`${shown}: the file is ${info.nvra} with SIGMD5 ${info.sigmd5 ?? 'none'}, not the ${c.rpm} the index has; not used`);
      }
      if (info.sigmd5) {
        const md5 = createHash('md5').update(headers.headerBytes);
        for await (const chunk of src.rest()) md5.update(chunk as Buffer);
        const digest = md5.digest('hex');
        if (digest !== info.sigmd5) throw new DownloadError(`${shown}: checksum mismatch: content MD5 is ${digest}, the package's SIGMD5 is ${info.sigmd5}: the file is damaged`);
      }
    } catch (e) {
      if (e instanceof FormatError) throw new DownloadError(`${shown}: ${e.message}`);
      throw e;
    } finally {
      await src.close();
    }
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
