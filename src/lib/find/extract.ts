// Copy one member of an RPM payload to a file. The destination is chosen by the caller; the
// archive's member names are only compared, never used as paths, so names with ".." or a
// leading "/" cannot write anywhere else, and no link a member describes is ever made. A package
// whose payload names climb out of its root with ".." is refused all the same: rpm would not
// install it, and what it holds is not to be trusted. The copy is checked against the header's
// file digest and renamed into place only when complete. A compressed kernel module (indexed
// under its `.ko.xz` path with the build-id of what is inside) is checked as the header lists
// it, then decompressed: the cache holds the ELF file, as for every other build-id.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { decodePayload } from '../compress/decompress.js';
import { memberCompressor } from '../compress/member.js';
import { MAX_DECOMPRESSED } from '../elf/compressed.js';
import { ChunkReader, CpioArchive, CpioEntry } from '../cpio/reader.js';
import { FormatError, inputText } from '../errors.js';
import { strippedResolver } from '../index/payload-ids.js';
import { isCompressedModulePath } from '../index/filetype.js';
import { checkHeaderDigest } from '../index/scan.js';
import { describeRpm, hardLinkSets, isRegular, S_IFMT, S_IFREG } from '../rpm/package.js';
import { readRpmHeaders } from '../rpm/reader.js';
import { ByteSource } from '../rpm/source.js';

export const HASHES: Record<number, string> = { 1: 'md5', 2: 'sha1', 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };

export interface Extracted {
  nvra: string;
  size: number;
}

/** Extract `wanted` (a path in the package) from the RPM read from `src` into `dest`. */
export async function extractFromRpm(src: ByteSource, wanted: string, dest: string): Promise<Extracted> {
  const headers = await readRpmHeaders(src);
  const info = describeRpm(headers);
  checkHeaderDigest(info, headers);
  const file = info.files.find((f) => f.path === wanted);
  if (!file || !isRegular(file.mode)) throw new FormatError(`${inputText(info.nvra)} has no regular file ${inputText(wanted)}`);
  const set = hardLinkSets(info.files).get(file.index) ?? [file.index];
  const paths = new Set(set.map((i) => info.files[i].path));
  const algo = HASHES[info.fileDigestAlgo];
  const raw = src.rest();
  const archive = new CpioArchive(new ChunkReader(decodePayload(raw, info.payloadCompressor)), {
    stripped: info.largeFiles ? strippedResolver(info) : undefined,
  });
  const what = `${inputText(wanted)} in ${inputText(info.nvra)}`;
  const compressed = isCompressedModulePath(wanted) ? tempName(dest) : undefined;
  try {
    // Hard links: rpm stores the data once, with one path of the set; any of them will do.
    const size = await extractFromArchive(archive, (e) => paths.has(e.path) && e.size > 0, compressed ?? dest, {
      algo, digest: file.digest, what, pkg: info.nvra,
    });
    if (!compressed) return { nvra: info.nvra, size };
    await archive.close(); // the rest of the payload is not needed
    return { nvra: info.nvra, size: await decompressInto(compressed, dest, what) };
  } finally {
    if (compressed) await unlink(compressed).catch(() => undefined);
    await archive.close().catch(() => undefined); // ends a decoder process, if one was started
    raw.destroy();
  }
}

/** True when a member path has a ".." component: it names a place outside the package root. */
export function climbsOut(path: string): boolean {
  return path.includes('..') && path.split('/').includes('..');
}

/**
 * Write the body of the first member `match` accepts to `dest` (atomically); its size. With
 * `pkg`, a member met on the way whose name climbs out of the package root ends the extraction
 * (a FormatError naming the package and the member).
 */
export async function extractFromArchive(archive: CpioArchive, match: (e: CpioEntry) => boolean, dest: string,
  check: { algo?: string; digest?: string; what: string; pkg?: string }): Promise<number> {
  for (;;) {
    const e = await archive.next();
    if (!e) throw new FormatError(`${check.what}: not in the payload`);
    if (check.pkg !== undefined && climbsOut(e.path)) {
      throw new FormatError(`${inputText(check.pkg)}: payload member ${inputText(e.path)} points outside the package root (".."); nothing extracted from this package`);
    }
    if ((e.mode & S_IFMT) !== S_IFREG || !match(e)) continue;
    const hash = check.algo && check.digest ? createHash(check.algo) : undefined;
    const hashed = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of archive.body()) {
        hash?.update(chunk);
        yield chunk;
      }
    };
    return writeAtomically(dest, hashed(), () => {
      if (hash && hash.digest('hex') !== check.digest) throw new FormatError(`${check.what}: content does not match the header's file digest`);
    });
  }
}

/**
 * Write `chunks` to a temporary file beside `dest`, make it durable, let `check` refuse it, then
 * rename it into place; its size. Nothing is left behind when anything fails.
 */
async function writeAtomically(dest: string, chunks: AsyncIterable<Buffer>, check?: () => void): Promise<number> {
  const tmp = tempName(dest);
  const fh = await open(tmp, 'wx', 0o644);
  let ok = false;
  try {
    let size = 0;
    for await (const chunk of chunks) {
      // A full disk first shows as a short write (the next one fails): never drop the rest.
      for (let at = 0; at < chunk.length;) {
        const { bytesWritten } = await fh.write(chunk, at);
        if (bytesWritten === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        at += bytesWritten;
      }
      size += chunk.length;
    }
    await fh.sync();
    await fh.close();
    check?.();
    await rename(tmp, dest);
    ok = true;
    return size;
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
}

function tempName(dest: string): string {
  return join(dirname(dest), `.part-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Write the decompressed contents of `file` (gzip, xz or zstd, told by its magic) to `dest`,
 * atomically; its size. A file without such a magic is taken as it is.
 */
async function decompressInto(file: string, dest: string, what: string): Promise<number> {
  const head = Buffer.alloc(6);
  const probe = await open(file, 'r');
  try {
    await probe.read(head, 0, 6, 0);
  } finally {
    await probe.close();
  }
  const kind = memberCompressor(head);
  if (!kind) {
    await rename(file, dest);
    return (await stat(dest)).size;
  }
  const decoded = async function* (): AsyncGenerator<Buffer> {
    let size = 0;
    try {
      for await (const chunk of decodePayload(createReadStream(file, { highWaterMark: 256 * 1024 }), kind)) {
        size += chunk.length;
        if (size > MAX_DECOMPRESSED) throw new FormatError(`${what}: decompresses to more than ${MAX_DECOMPRESSED >> 20} MiB; not extracted`);
        yield chunk;
      }
    } catch (e) {
      if (e instanceof FormatError && !e.message.startsWith(what)) throw new FormatError(`${what}: ${e.message.replace(/^payload /, '')}`);
      throw e;
    }
  };
  return writeAtomically(dest, decoded());
}
