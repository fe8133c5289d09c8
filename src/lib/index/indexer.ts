// `darkserver index`: scan RPM files with N in flight, write each to the store as it finishes.
// Payloads are read on scan threads (scan-pool.ts); this thread keeps the single SQLite writer.
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { describeFailure } from '../errors.js';
import { DatabaseError, databaseError } from './db-errors.js';
import { distTag, splitNvr } from '../rpm/disttag.js';
import { archiveSize, RpmInfo } from '../rpm/package.js';
import { Discovered, discoverRpms } from './discover.js';
import { ScanPool } from './scan-pool.js';
import { RpmScan, scanRpmFile } from './scan.js';
import type { RpmRecord, Store } from '../store/port.js';

export const LOCAL_INSTANCE = 'local';

export interface IndexOptions {
  jobs?: number;
  full?: boolean;
  /** Scan payloads on worker threads when jobs > 1 (default true). */
  threads?: boolean;
  instance?: string;
  onStart?: (total: number) => void;
  onFile?: (file: string, outcome: 'indexed' | 'already' | 'skipped' | 'failed') => void;
  onError?: (path: string, message: string) => void;
}

export interface IndexSummary {
  rpms: number;
  headerOnly: number;
  payload: number;
  already: number;
  skipped: number;
  failed: number;
  elfFiles: number;
  buildIds: number;
  withoutBuildId: number;
  bytesRead: number;
  bytesTotal: number;
  emptyDirs: string[];
}

export async function indexPaths(store: Store, paths: string[], opts: IndexOptions = {}): Promise<IndexSummary> {
  const instance = opts.instance ?? LOCAL_INSTANCE;
  // Headers are read here; big payloads are decompressed and scanned on up to one thread per
  // core, started when the first one comes.
  const threads = Math.min(opts.jobs ?? 1, availableParallelism());
  const pool = threads > 1 && opts.threads !== false ? new ScanPool(threads) : undefined;
  try {
    return await indexFound(store, instance, await discoverRpms(paths), opts, pool);
  } finally {
    await pool?.close();
  }
}

async function indexFound(store: Store, instance: string, found: Discovered, opts: IndexOptions, pool?: ScanPool): Promise<IndexSummary> {
  const sum: IndexSummary = {
    rpms: 0, headerOnly: 0, payload: 0, already: 0, skipped: 0, failed: 0, elfFiles: 0, buildIds: 0,
    withoutBuildId: 0, bytesRead: 0, bytesTotal: 0, emptyDirs: found.emptyDirs,
  };
  for (const e of found.errors) {
    sum.failed++;
    opts.onError?.(e.path, e.message);
  }
  opts.onStart?.(found.files.length);

  let next = 0;
  // A failure of the database itself (disk full, read-only, I/O error) ends the run: no other RPM
  // could be written either. Files in flight then finish without writing anything.
  let fatal: DatabaseError | undefined;
  const jobs = Math.max(1, Math.min(opts.jobs ?? 1, found.files.length || 1));
  // Biggest files first, so that a long payload does not start last and leave a core idle.
  const files = jobs > 1 ? await bySizeDescending(found.files) : found.files;
  const worker = async (): Promise<void> => {
    while (next < files.length && !fatal) {
      const file = files[next++];
      let outcome: 'indexed' | 'already' | 'skipped' | 'failed';
      try {
        const r = await scanRpmFile(file, {
          full: opts.full,
          skip: async (_info, pkgid) => (await store.hasRpm(instance, pkgid) ? 'already indexed' : undefined),
          payloadElsewhere: pool && (async (info) => (archiveSize(info) >= THREAD_MIN
            ? pool.run(file, await inProcessDecoder(info.payloadCompressor)) : undefined)),
        });
        if (fatal) return;
        if ('skipped' in r) {
          if (r.skipped === 'already indexed') { sum.already++; outcome = 'already'; } else { sum.skipped++; outcome = 'skipped'; }
        } else if (await store.addRpm(localRecord(r, file, instance))) {
          outcome = 'indexed';
          sum.rpms++;
          if (r.method === 'header') sum.headerOnly++; else sum.payload++;
          sum.elfFiles += r.elfFiles;
          sum.buildIds += r.rows.length;
          sum.withoutBuildId += r.elfWithoutBuildId;
          sum.bytesRead += r.bytesRead;
          sum.bytesTotal += r.size ?? 0;
        } else {
          sum.already++;
          outcome = 'already';
        }
      } catch (e) {
        const dbError = databaseError(e);
        if (dbError) {
          fatal ??= dbError;
          return;
        }
        sum.failed++;
        outcome = 'failed';
        opts.onError?.(file, describeFailure(e));
      }
      opts.onFile?.(file, outcome);
    }
  };
  // A file whose payload is on a scan thread only waits here: as many more go on meanwhile.
  const loops = Math.min(found.files.length, jobs + (pool?.size ?? 0)) || 1;
  await Promise.all(Array.from({ length: loops }, worker));
  if (fatal) {
    const rest = files.length - sum.rpms - sum.already - sum.skipped - sum.failed + found.errors.length;
    throw fatal.after(`stopped after ${sum.rpms} RPM${sum.rpms === 1 ? '' : 's'} indexed, ${rest} not indexed`);
  }
  return sum;
}

/**
 * Payloads smaller than this (uncompressed) are scanned on this thread: starting a scan thread
 * costs about 100 ms of CPU, about what decoding 16 MiB of xz takes.
 */
const THREAD_MIN = 16 << 20;

/** Payloads that would be decoded by lzma-native or unbzip2-stream rather than a system tool. */
async function inProcessDecoder(compressor: string): Promise<boolean> {
  if (!['xz', 'lzma', 'bzip2'].includes(compressor)) return false;
  // Loaded here: an index run that reads headers only never needs the decoders.
  const { externalDecoder } = await import('../compress/decompress.js');
  return !externalDecoder(compressor);
}

async function bySizeDescending(files: string[]): Promise<string[]> {
  const sizes = new Map<string, number>();
  await Promise.all(files.map(async (f) => sizes.set(f, (await stat(f).catch(() => undefined))?.size ?? 0)));
  return [...files].sort((a, b) => sizes.get(b)! - sizes.get(a)!); // stable: ties keep their order
}

/** The build a local RPM belongs to: its source RPM's N-V-R (main and -debuginfo share it). */
export function buildOf(info: RpmInfo): RpmRecord['build'] {
  const src = info.sourceRpm?.replace(/\.(no)?src\.rpm$/, '');
  const parsed = src ? splitNvr(src) : undefined;
  const b = parsed ?? { name: info.name, version: info.version, release: info.release };
  return { ...b, nvr: `${b.name}-${b.version}-${b.release}`, distro: distTag(b.release) };
}

function localRecord(r: RpmScan, file: string, instance: string): RpmRecord {
  const { info } = r;
  return {
    instance, pkgid: r.pkgid, build: buildOf(info), name: info.name, epoch: info.epoch, version: info.version,
    release: info.release, arch: info.arch, nvra: info.nvra, sourceRpm: info.sourceRpm,
    url: pathToFileURL(resolve(file)).href, size: r.size, payloadCompressor: info.payloadCompressor,
    method: r.method, elfFiles: r.elfFiles, elfWithoutBuildId: r.elfWithoutBuildId, rows: r.rows,
  };
}
