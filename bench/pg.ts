// The PostgreSQL section of the benchmark (issue 16): the same 10 M-row synthetic index as the
// SQLite rows, loaded into a throwaway PostgreSQL 15 cluster by `darkserver db copy` (the path an
// operator takes), then the in-process lookup (queryBuildIds on one open Store, as `darkserver
// query` does) timed on both backends in one run, with each backend's bytes per build-id row.
// The cluster is the tests' (test/helpers/pg.ts: fsync off, which speeds the load, not the lookups)
// with a server's shared_buffers.
import { copyStore } from '../src/lib/store/copy.ts';
import { startPg } from '../test/helpers/pg.ts';
import type { SyntheticDb } from './inproc.ts';
import { measureLookup } from './lookup.ts';
import { ceilingRow, infoRow, msec, times, type Row } from './report.ts';
import { log } from './util.ts';

export const PG_TARGET = { p99Ms: 2 };

interface Lookup { p50Ms: number; p99Ms: number; coldP99Ms: number; n: number; absent: number; loadAverage: number }
export interface PgBenchResult {
  rows: number;
  loadSeconds: number;
  /** Tables, indexes and TOAST of darkforge's schema (pg_total_relation_size), after the copy's ANALYZE. */
  relationBytes: number;
  databaseBytes: number;
  bytesPerRow: number;
  sharedBuffers: string;
  postgres: Lookup;
  sqlite: Lookup & { bytesPerRow: number };
}

async function lookup(db: string, sampleFrom: string, n: number): Promise<Lookup> {
  // A first pass on other ids (seed 2) reads the pages in; the warm pass is the figure.
  const cold = await measureLookup({ db, sampleFrom, n, seed: 2 });
  const r = await measureLookup({ db, sampleFrom, n });
  return { p50Ms: r.p50Ms, p99Ms: r.p99Ms, coldP99Ms: cold.p99Ms, n: r.n, absent: r.absent, loadAverage: r.loadAverage };
}

export async function pgBench(synthetic: SyntheticDb, n = 10_000): Promise<PgBenchResult> {
  // Sized as an operator sizes a server that holds this index: its working set in shared buffers.
  const cluster = await startPg({ settings: { shared_buffers: '2GB', effective_cache_size: '8GB' } });
  try {
    const url = await cluster.newDatabase('bench');
    log(`postgresql: db copy of ${synthetic.rows} rows into a throwaway cluster`);
    let shown = 0;
    const t0 = performance.now();
    const copied = await copyStore(synthetic.db, url, {
      onProgress: (done, total, table) => {
        if (table === 'files' && (done - shown >= total / 10 || done === total)) { shown = done; log(`postgresql: files ${((100 * done) / total).toFixed(0)}%`); }
      },
    });
    const loadSeconds = (performance.now() - t0) / 1000;
    const db = new URL(url).pathname.slice(1);
    const [size] = await cluster.sql<{ rel: string; dbsize: string; sb: string }>(
      `SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'm') AND s.nspname NOT IN ('pg_catalog', 'information_schema')) AS rel,
              pg_database_size(current_database()) AS dbsize, current_setting('shared_buffers') AS sb`, [], db);
    const rows = copied.rows.files;
    if (rows !== synthetic.rows) throw new Error(`db copy wrote ${rows} build-id rows, the synthetic index has ${synthetic.rows}`);
    log('postgresql: timing lookups on PostgreSQL, then on SQLite');
    const postgres = await lookup(url, synthetic.db, n);
    const sqlite = await lookup(synthetic.db, synthetic.db, n);
    return {
      rows, loadSeconds, relationBytes: Number(size.rel), databaseBytes: Number(size.dbsize), bytesPerRow: Number(size.rel) / rows,
      sharedBuffers: size.sb, postgres, sqlite: { ...sqlite, bytesPerRow: synthetic.bytesPerRow },
    };
  } finally {
    await cluster.stop();
  }
}

export function pgRows(r: PgBenchResult): Row[] {
  const m = (x: number): string => `${(x / 1e6).toFixed(1)} M`;
  const detail = (l: Lookup): string => `warm; p50 ${msec(l.p50Ms)}, cold p99 ${msec(l.coldP99Ms)}, ${l.absent} of ${l.n} absent, load ${l.loadAverage.toFixed(1)}`;
  return [
    ceilingRow(`in-process lookup p99, ${m(r.rows)} rows, PostgreSQL`, r.postgres.p99Ms, msec(r.postgres.p99Ms), PG_TARGET.p99Ms, `${PG_TARGET.p99Ms} ms`,
      `SQLite ${msec(r.sqlite.p99Ms)} (same run); ${detail(r.postgres)}`),
    infoRow(`index bytes per build-id row, ${m(r.rows)} rows, PostgreSQL`, `${r.bytesPerRow.toFixed(1)} B`,
      `SQLite ${r.sqlite.bytesPerRow.toFixed(1)} B`, `${times(r.bytesPerRow / r.sqlite.bytesPerRow)}`),
    infoRow(`db copy SQLite -> PostgreSQL, ${m(r.rows)} rows`, `${r.loadSeconds.toFixed(0)} s`, `${(r.rows / r.loadSeconds / 1000).toFixed(0)} k rows/s`),
  ];
}

export function pgNotes(r: PgBenchResult): string[] {
  return [
    `postgresql: a throwaway PostgreSQL 15 cluster on this machine (shared_buffers ${r.sharedBuffers}, fsync off as in the tests), reached over loopback TCP with a password, as a team's server would be; the index loaded with darkserver db copy (COPY, then ANALYZE). Bytes are pg_total_relation_size of darkforge's tables with their indexes and TOAST (${(r.relationBytes / 2 ** 30).toFixed(2)} GiB; the whole database ${(r.databaseBytes / 2 ** 30).toFixed(2)} GiB).`,
  ];
}
