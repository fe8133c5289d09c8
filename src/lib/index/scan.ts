// Scan one local RPM file: headers first, and the payload only when the header cannot account
// for every ELF file (or when asked to, with `full`). Everything read is checked against the
// package's own digests, so a damaged file yields an error and no rows.
import { createHash } from 'node:crypto';
import { FormatError } from '../errors.js';
import { describeRpm, RpmInfo } from '../rpm/package.js';
import { readRpmHeaders, RpmHeaders } from '../rpm/reader.js';
import { ByteSource, FileSource } from '../rpm/source.js';
import { buildIdsFromHeader } from './header-ids.js';
import { FileRow, sortRows } from './rows.js';

export type ScanMethod = 'header' | 'payload';

export interface RpmScan {
  info: RpmInfo;
  /** SIGMD5 hex, or "sha256:<header digest>" for packages without one. */
  pkgid: string;
  size?: number;
  method: ScanMethod;
  rows: FileRow[];
  elfFiles: number;
  elfWithoutBuildId: number;
  /** Why the header alone was not enough, when the payload was read. */
  headerReason?: string;
  /** Compressed bytes read from the source. */
  bytesRead: number;
  /** Where the payload starts: the size of lead, signature header and main header. */
  payloadStart: number;
}

export interface ScanOptions {
  full?: boolean;
  /** Asked once the headers are known; returning a reason skips the package (nothing more is read). */
  skip?: (info: RpmInfo, pkgid: string) => string | undefined | Promise<string | undefined>;
  /** What the package must be, as its publisher (Koji) says: SIGMD5 hex and file size. */
  expect?: { sigmd5?: string | null; size?: number | null };
  /**
   * Reads the whole package somewhere else (a scan thread) once the payload is needed; answers
   * undefined to have it read here.
   */
  payloadElsewhere?: (info: RpmInfo) => Promise<ScanOutcome | undefined>;
}

export type ScanOutcome = { skipped: string; info: RpmInfo; pkgid: string; payloadStart?: number } | RpmScan;

const damaged = (info: RpmInfo, digest: string): FormatError =>
  new FormatError(`checksum mismatch: content MD5 is ${digest}, the package's SIGMD5 is ${info.sigmd5}: the file is damaged`);

export function packageId(info: RpmInfo, headers: RpmHeaders): string {
  return info.sigmd5 ?? `sha256:${headers.headerSha256}`;
}

export async function scanRpmFile(path: string, opts: ScanOptions = {}): Promise<ScanOutcome> {
  const src = await FileSource.open(path);
  try {
    return await scanRpm(src, opts);
  } finally {
    await src.close();
  }
}

export async function scanRpm(src: ByteSource, opts: ScanOptions = {}): Promise<ScanOutcome> {
  const headers = await readRpmHeaders(src);
  const info = describeRpm(headers);
  const pkgid = packageId(info, headers);
  const want = opts.expect;
  if (want?.size && src.size !== undefined && src.size !== want.size) {
    throw new FormatError(`file is ${src.size} bytes, Koji says ${want.size}`);
  }
  if (want?.sigmd5 && info.sigmd5 !== want.sigmd5.toLowerCase()) {
    throw new FormatError(`checksum mismatch: the package's SIGMD5 is ${info.sigmd5 ?? 'missing'}, Koji's payloadhash is ${want.sigmd5}`);
  }
  const { payloadStart } = headers;
  if (info.isSource) return { skipped: 'source package (no ELF files)', info, pkgid, payloadStart };
  const skip = await opts.skip?.(info, pkgid);
  if (skip) return { skipped: skip, info, pkgid, payloadStart };
  checkHeaderDigest(info, headers);

  let headerReason: string | undefined;
  if (!opts.full) {
    const h = buildIdsFromHeader(info);
    if (h.complete) {
      // The whole file came with the headers (a package smaller than the first range): check it
      // against its SIGMD5 too, as a streamed one is; that costs no request.
      const tail = info.sigmd5 ? await src.fetchedRest?.() : undefined;
      if (tail) {
        const digest = createHash('md5').update(headers.headerBytes).update(tail).digest('hex');
        if (digest !== info.sigmd5) throw damaged(info, digest);
      }
      return {
        info, pkgid, size: src.size, method: 'header', rows: sortRows(h.rows), elfFiles: h.elfFiles,
        elfWithoutBuildId: 0, bytesRead: src.position, payloadStart,
      };
    }
    headerReason = h.reason;
  }

  const there = await opts.payloadElsewhere?.(info);
  if (there) {
    if ('skipped' in there || there.pkgid !== pkgid || there.method !== 'payload') {
      throw new FormatError('the file changed while it was being read');
    }
    return { ...there, headerReason, payloadStart };
  }

  const md5 = createHash('md5').update(headers.headerBytes);
  let payloadBytes = 0;
  const raw = src.rest();
  const it = (raw as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let ended = false;
  const next = async (): Promise<IteratorResult<Buffer>> => {
    const r = await it.next();
    if (r.done) ended = true;
    else {
      md5.update(r.value);
      payloadBytes += r.value.length;
    }
    return r;
  };
  // The decoder may stop reading early (bad data): the rest is still ours to hash.
  const input: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }),
  };
  let p;
  try {
    // The payload readers (decoders, cpio, ELF) load only when a payload is read.
    const { buildIdsFromPayload } = await import('./payload-ids.js');
    p = await buildIdsFromPayload(info, input);
    while (!ended) await next();
  } catch (e) {
    // A damaged file is best reported as damaged, whichever layer tripped over it first.
    if (info.sigmd5 && e instanceof FormatError) {
      try {
        while (!ended) await next();
      } catch {
        throw e;
      }
      const digest = md5.digest('hex');
      if (digest !== info.sigmd5) throw damaged(info, digest);
    }
    throw e;
  } finally {
    raw.destroy();
  }
  const digest = md5.digest('hex');
  if (info.sigmd5 && digest !== info.sigmd5) throw damaged(info, digest);
  return {
    info, pkgid, size: src.size, method: 'payload', rows: sortRows(p.rows), elfFiles: p.elfFiles,
    elfWithoutBuildId: p.elfWithoutBuildId, headerReason, bytesRead: src.position + payloadBytes, payloadStart,
  };
}

export function checkHeaderDigest(info: RpmInfo, headers: RpmHeaders): void {
  if (info.sha256 && info.sha256 !== headers.headerSha256) {
    throw new FormatError(`header does not match its SHA256 digest (${info.sha256}): the file is damaged`);
  }
  if (!info.sha256 && info.sha1) {
    const sha1 = createHash('sha1').update(headers.headerBytes).digest('hex');
    if (sha1 !== info.sha1) throw new FormatError(`header does not match its SHA1 digest (${info.sha1}): the file is damaged`);
  }
}
