// The sources of a build for `darkserver debug`: every regular file under /usr/src/debug in its
// -debugsource RPM (or its -debuginfo RPM, where older packages keep them), extracted in one
// pass over the payload into the debug tree, each checked against the header's file digest.
// gdb then finds them through `set substitute-path`.
import { link, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePayload } from '../compress/decompress.js';
import { ChunkReader, CpioArchive } from '../cpio/reader.js';
import { describeFailure, inputText } from '../errors.js';
import { makeCacheFolder } from '../find/cache.js';
import { extractFromArchive, HASHES } from '../find/extract.js';
import { type Candidate, selectCandidates } from '../find/finder.js';
import { strippedResolver } from '../index/payload-ids.js';
import { checkHeaderDigest } from '../index/scan.js';
import type { Store } from '../store/port.js';
import { redactUrl } from '../net/url-policy.js';
import { describeRpm, hardLinkSets, isRegular } from '../rpm/package.js';
import { readRpmHeaders } from '../rpm/reader.js';
import { FileSource } from '../rpm/source.js';
import type { RpmFetcher } from '../serve/rpm-fetch.js';
import { underRoot } from './tree-paths.js';

const SOURCE_TOP = '/usr/src/debug/';

export interface SourcesResult {
  rpm?: string;
  files: number;
  problems: string[];
}

/** Extract the sources of the build of `buildId` below `root`; done once per RPM (a marker file remembers it). */
export async function extractSources(store: Store, fetcher: RpmFetcher, cacheRoot: string, root: string, buildId: string): Promise<SourcesResult> {
  const problems: string[] = [];
  let holders: Candidate[];
  try {
    holders = await selectCandidates(store, { kind: 'source', buildId, sourcePath: SOURCE_TOP });
  } catch (e) {
    return { files: 0, problems: [describeFailure(e)] };
  }
  for (const c of holders) {
    const marker = join(root, `.sources-${c.rpm.replace(/[^A-Za-z0-9._+~^-]/g, '_')}`);
    if (await exists(marker)) return { rpm: c.rpm, files: 0, problems };
    for (const url of c.urls) {
      try {
        const file = url.startsWith('file:') ? fileURLToPath(url) : await fetcher.get(url, c);
        const n = await extractTree(file, cacheRoot, root);
        if (!n) break; // this RPM has no sources: try the next holder
        await writeFile(marker, `${redactUrl(url)}\n`);
        return { rpm: c.rpm, files: n, problems };
      } catch (e) {
        problems.push(`${redactUrl(url)}: ${describeFailure(e).replace(`${redactUrl(url)}: `, '')}`);
      }
    }
  }
  return { files: 0, problems };
}

/** One pass over the payload: every regular file under /usr/src/debug, in header (= payload) order. */
async function extractTree(file: string, cacheRoot: string, root: string): Promise<number> {
  const src = await FileSource.open(file);
  try {
    const headers = await readRpmHeaders(src);
    const info = describeRpm(headers);
    checkHeaderDigest(info, headers);
    const sets = hardLinkSets(info.files);
    // A hard-link set's data travels with its last member; the others become links to it.
    const wanted = info.files.filter((f) => isRegular(f.mode) && f.path.startsWith(SOURCE_TOP) && underRoot(root, f.path) !== undefined);
    if (!wanted.length) return 0;
    const carriers = wanted.filter((f) => { const s = sets.get(f.index); return !s || s[s.length - 1] === f.index; });
    const archive = new CpioArchive(new ChunkReader(decodePayload(src.rest(), info.payloadCompressor)), {
      stripped: info.largeFiles ? strippedResolver(info) : undefined,
    });
    let n = 0;
    try {
      for (const f of carriers) {
        const dest = underRoot(root, f.path)!;
        await makeCacheFolder(cacheRoot, dirname(dest));
        await extractFromArchive(archive, (e) => e.path === f.path, dest, {
          algo: HASHES[info.fileDigestAlgo], digest: f.digest, what: `${inputText(f.path)} in ${inputText(info.nvra)}`, pkg: info.nvra,
        });
        n++;
        for (const other of sets.get(f.index) ?? []) {
          const o = info.files[other];
          const at = o && o.index !== f.index ? underRoot(root, o.path) : undefined;
          if (!at || !o.path.startsWith(SOURCE_TOP)) continue;
          await makeCacheFolder(cacheRoot, dirname(at));
          await link(dest, at).catch(() => undefined);
          n++;
        }
      }
    } finally {
      await archive.close().catch(() => undefined);
    }
    return n;
  } finally {
    await src.close();
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
