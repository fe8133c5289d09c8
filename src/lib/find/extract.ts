// Copy one member of an RPM payload to a file. The destination is chosen by the caller; the
// archive's member names are only compared, never used as paths, so names with ".." or a
// leading "/" cannot write anywhere else, and no link a member describes is ever made. A package
// whose payload names climb out of its root with ".." is refused all the same: rpm would not
// install it, and what it holds is not to be trusted. The copy is checked against the header's
// file digest and renamed into place only when complete.
import { createHash } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { decodePayload } from '../compress/decompress.js';
import { ChunkReader, CpioArchive, CpioEntry } from '../cpio/reader.js';
import { FormatError, inputText } from '../errors.js';
import { strippedResolver } from '../index/payload-ids.js';
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
  try {
    // Hard links: rpm stores the data once, with one path of the set; any of them will do.
    const size = await extractFromArchive(archive, (e) => paths.has(e.path) && e.size > 0, dest, {
      algo, digest: file.digest, what: `${inputText(wanted)} in ${inputText(info.nvra)}`, pkg: info.nvra,
    });
    return { nvra: info.nvra, size };
  } finally {
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
    const tmp = join(dirname(dest), `.part-${process.pid}-${randomBytes(4).toString('hex')}`);
    const hash = check.algo && check.digest ? createHash(check.algo) : undefined;
    const fh = await open(tmp, 'wx', 0o644);
    let ok = false;
    try {
      let size = 0;
      for await (const chunk of archive.body()) {
        hash?.update(chunk);
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
      if (hash && hash.digest('hex') !== check.digest) throw new FormatError(`${check.what}: content does not match the header's file digest`);
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
}
