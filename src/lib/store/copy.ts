// darkserver db copy: an index and its import queue from one store to another (SQLite file or
// PostgreSQL database, either way), streamed table by table in batches, ids kept, so the copy
// answers every query as its source did. The source is read in one snapshot and never changed;
// the target gets all of it or, when anything fails or the copy is interrupted, nothing
// (IndexLoad). Image job records are not copied: each names a folder, a log and a process on
// the machine that ran it.
import { realpathSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { UserError } from '../errors.js';
import { isPostgresUrl } from '../index/location.js';
import { openIndexLoad, openStore } from './open.js';
import { COPY_COLUMNS, COPY_TABLES, type CopyCounts, type CopyRow, type CopyTable, type IndexLoad, type IndexSnapshot, type Store } from './port.js';

export interface CopyOptions {
  /** Replace the index and queue the target holds (else such a target is refused). */
  replace?: boolean;
  /** Rows per batch read and written (default 10 000). */
  batch?: number;
  /** After every batch: rows copied so far of `total`, and the table being copied. */
  onProgress?: (done: number, total: number, table: CopyTable) => void;
  /** Stops the copy at the next batch; the target is left as it was. */
  signal?: AbortSignal;
}

export interface CopySummary {
  /** The stores, PostgreSQL URLs without their passwords. */
  from: string;
  to: string;
  schemaVersion: number;
  /** Rows copied, by table. */
  rows: Record<CopyTable, number>;
  /** Import queue RPMs that a worker held in the source, put back on the queue in the copy. */
  claimsReleased: number;
  /** Image job records the source holds, which stay there. */
  imageJobsNotCopied: number;
  /** What the target held before, when --replace replaced it. */
  replaced?: { rpms: number; files: number; importBuilds: number };
  seconds: number;
}

const RPM_COL = Object.fromEntries(COPY_COLUMNS.import_rpms.map((c, i) => [c, i])) as Record<string, number>;

/**
 * A running claim means something only in the store its worker writes to: in the copy the RPM
 * is queued again (as releaseClaims does), for the copy's own workers.
 */
function releaseClaims(rows: CopyRow[]): number {
  let n = 0;
  for (const r of rows) {
    if (r[RPM_COL.state] !== 'running') continue;
    r[RPM_COL.state] = 'queued';
    for (const c of ['worker_pid', 'worker_id', 'host', 'lease_until']) r[RPM_COL[c]] = null;
    n++;
  }
  return n;
}

/** The same SQLite file under two names (or a PostgreSQL database under one URL) cannot be copied onto itself. */
function sameStore(from: string, to: string, fromShown: string): boolean {
  if (isPostgresUrl(from) !== isPostgresUrl(to)) return false;
  if (isPostgresUrl(from)) return false; // compared by the stores' display names once open
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      try {
        return join(realpathSync(dirname(p)), basename(p));
      } catch {
        return p;
      }
    }
  };
  return real(from) === real(to) || fromShown === to;
}

export async function copyStore(from: string, to: string, o: CopyOptions = {}): Promise<CopySummary> {
  const t0 = performance.now();
  const batch = o.batch ?? 10_000;
  let source: Store | undefined;
  let snap: IndexSnapshot | undefined;
  let load: IndexLoad | undefined;
  try {
    source = await openStore(from, { readOnly: true });
    if (sameStore(from, to, source.file)) throw new UserError(`${source.file}: FROM and TO are the same store; a copy needs another one`, 2);
    if (isPostgresUrl(to)) {
      const { parsePgTarget } = await import('./postgres/target.js');
      if (parsePgTarget(to).display === source.file) throw new UserError(`${source.file}: FROM and TO are the same store; a copy needs another one`, 2);
    }
    snap = await source.snapshot();
    o.signal?.throwIfAborted();
    load = await openIndexLoad(to, { replace: o.replace });
    if (snap.schemaVersion !== load.schemaVersion) {
      throw new UserError(snap.schemaVersion < load.schemaVersion
        ? `${source.file}: the index has schema version ${snap.schemaVersion} and ${load.file} has ${load.schemaVersion}; `
          + 'run any darkserver command on the source once to upgrade it, then copy again'
        : `${load.file}: schema version ${load.schemaVersion} is older than the source's (${snap.schemaVersion}); upgrade darkforge`, 2);
    }
    const counts: CopyCounts = snap.counts;
    const total = COPY_TABLES.reduce((n, t) => n + counts[t], 0);
    const rows = {} as Record<CopyTable, number>;
    let done = 0;
    let claimsReleased = 0;
    o.onProgress?.(0, total, COPY_TABLES[0]);
    for (const t of COPY_TABLES) {
      rows[t] = 0;
      for await (const chunk of snap.rows(t, batch)) {
        o.signal?.throwIfAborted();
        if (t === 'import_rpms') claimsReleased += releaseClaims(chunk);
        await load.write(t, chunk);
        rows[t] += chunk.length;
        done += chunk.length;
        o.onProgress?.(done, total, t);
      }
      // The snapshot's own count: a difference would be a bug of the snapshot, never a copy to keep.
      if (rows[t] !== counts[t]) throw new Error(`${t}: read ${rows[t]} rows of the ${counts[t]} the snapshot counted`);
    }
    await snap.close();
    await source.close();
    o.signal?.throwIfAborted();
    await load.commit();
    const p = load.previous;
    return {
      from: source.file, to: load.file, schemaVersion: load.schemaVersion, rows, claimsReleased, imageJobsNotCopied: counts.image_jobs,
      replaced: p.rpms + p.files + p.import_builds + p.builds + p.instances + p.import_rpms > 0
        ? { rpms: p.rpms, files: p.files, importBuilds: p.import_builds } : undefined,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    await load?.abort();
    throw e;
  } finally {
    await snap?.close().catch(() => undefined);
    await source?.close().catch(() => undefined);
  }
}

/** The summary as the one line a script reads. */
export function summaryLine(s: CopySummary): string {
  const r = s.rows;
  const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
  let line = `copied ${plural(r.rpms, 'RPM')} of ${plural(r.builds, 'build')} (${plural(r.files, 'build-id row')}), ${plural(r.instances, 'instance')} `
    + `and an import queue of ${plural(r.import_builds, 'build')} (${plural(r.import_rpms, 'RPM')}`
    + `${s.claimsReleased ? `, ${s.claimsReleased} claimed ${s.claimsReleased === 1 ? 'one' : 'ones'} queued again` : ''}) `
    + `from ${s.from} to ${s.to} in ${s.seconds.toFixed(1)} s`;
  if (s.replaced) line += `, replacing its index of ${plural(s.replaced.rpms, 'RPM')}`;
  if (s.imageJobsNotCopied) line += `; ${plural(s.imageJobsNotCopied, 'image job record')} not copied (${s.imageJobsNotCopied === 1 ? 'it stays' : 'they stay'} with the machine that ran them)`;
  return line;
}
