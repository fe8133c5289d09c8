/**
 * In-process lookup latency of `darkserver query BUILDID` and the index's bytes per build-id row.
 *
 * Exported (for bench/run.ts):
 *
 *   measureLookup(opts: LookupOptions): Promise<LookupResult>
 *     opts.db      an index database at the current schema (e.g. from bench/synthetic-index.ts), or a
 *                  postgresql:// URL of one (then opts.sampleFrom names the SQLite file that holds the same data)
 *     opts.sampleFrom  the SQLite index the ids are drawn from (default opts.db)
 *     opts.n       ids to time (default 10 000), one queryBuildIds(store, [id]) call each
 *     opts.absent  fraction of them that are not in the index (default 0.1)
 *     opts.seed    PRNG seed for the sample (default 1)
 *     opts.warmup  untimed calls first, on other ids (default 100), so JIT compilation is not timed
 *   returns { db, n, present, absent, matches, p50Ms, p90Ms, p99Ms, maxMs, meanMs,
 *             rows, dbBytes, freeBytes, bytesPerRow, loadAverage }
 *     bytesPerRow = dbBytes / rows, dbBytes the file (plus any WAL); freeBytes is the part of it on
 *     SQLite's free list: VACUUM first (the generator does) when measuring size.
 *     loadAverage is the 1-minute load when the timing ended (this is a shared 2-core machine).
 *
 * Present ids are drawn uniformly from the distinct build-ids in files (seek to a random key); absent
 * ids are random 40-digit ids checked to be absent. The timed function is queryBuildIds from
 * src/lib/index/query.ts, the one `darkserver query` calls, on one open Store.
 *
 * As a script:
 *   node --import tsx bench/lookup.ts --db FILE [--n 10000] [--absent 0.1] [--seed 1] [--json]
 */
import BetterSqlite3 from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { queryBuildIds } from '../src/lib/index/query.ts';
import { openStore } from '../src/lib/store/open.ts';

export interface LookupOptions {
  db: string;
  n?: number;
  absent?: number;
  seed?: number;
  warmup?: number;
  sampleFrom?: string;
}

export interface LookupResult {
  db: string;
  n: number;
  present: number;
  absent: number;
  /** Result rows returned over all timed calls. */
  matches: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  rows: number;
  dbBytes: number;
  freeBytes: number;
  bytesPerRow: number;
  loadAverage: number;
}

function rng(seed: number): () => number {
  let s = (seed >>> 0) || 1;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function randomId(next: () => number): Buffer {
  const b = Buffer.alloc(20);
  for (let i = 0; i < 20; i += 4) b.writeUInt32BE(next(), i);
  return b;
}

/** `present` ids in the index and `absent` ids not in it, as hex, shuffled, drawn with a connection of their own. */
function sampleIds(file: string, present: number, absent: number, next: () => number): string[] {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const seek = db.prepare('SELECT buildid FROM files WHERE buildid >= ? ORDER BY buildid LIMIT 1').pluck();
    const first = db.prepare('SELECT buildid FROM files ORDER BY buildid LIMIT 1').pluck();
    const has = db.prepare('SELECT 1 FROM files WHERE buildid = ?').pluck();
    const ids: string[] = [];
    if (present > 0 && first.get() === undefined) throw new Error(`${file}: the index has no files rows`);
    for (let i = 0; i < present; i++) {
      const key = randomId(next);
      const id = (seek.get(key) ?? first.get()) as Buffer;
      ids.push(id.toString('hex'));
    }
    for (let i = 0; i < absent;) {
      const key = randomId(next);
      if (has.get(key) === undefined) { ids.push(key.toString('hex')); i++; }
    }
    for (let i = ids.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    return ids;
  } finally {
    db.close();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function measureLookup(opts: LookupOptions): Promise<LookupResult> {
  const n = opts.n ?? 10_000;
  const absent = Math.round(n * (opts.absent ?? 0.1));
  const warmup = opts.warmup ?? 100;
  const sample = opts.sampleFrom ?? opts.db;
  if (!existsSync(sample)) throw new Error(`${sample}: no such database`);
  const next = rng(opts.seed ?? 1);
  const warm = sampleIds(sample, warmup, 0, next);
  const ids = sampleIds(sample, n - absent, absent, next);

  const store = await openStore(opts.db, { mustExist: true });
  const times: number[] = [];
  let matches = 0;
  try {
    for (const id of warm) await queryBuildIds(store, [id]);
    for (const id of ids) {
      const t0 = process.hrtime.bigint();
      const a = await queryBuildIds(store, [id]);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      matches += a.results.length;
    }
  } finally {
    await store.close();
  }
  const loadAverage = loadavg()[0];
  const sorted = [...times].sort((a, b) => a - b);
  const timing = {
    n, present: n - absent, absent, matches,
    p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), p99Ms: percentile(sorted, 99), maxMs: sorted[sorted.length - 1] ?? 0,
    meanMs: times.reduce((a, b) => a + b, 0) / (times.length || 1), loadAverage,
  };
  // A server's size is measured by its own section (bench/pg.ts).
  if (opts.sampleFrom) return { db: opts.db, ...timing, rows: NaN, dbBytes: NaN, freeBytes: NaN, bytesPerRow: NaN };
  const raw = new BetterSqlite3(opts.db, { readonly: true });
  const rows = raw.prepare('SELECT count(*) FROM files').pluck().get() as number;
  const freeBytes = (raw.pragma('freelist_count', { simple: true }) as number) * (raw.pragma('page_size', { simple: true }) as number);
  raw.close();
  const dbBytes = statSync(opts.db).size + (existsSync(`${opts.db}-wal`) ? statSync(`${opts.db}-wal`).size : 0);
  return { db: opts.db, ...timing, rows, dbBytes, freeBytes, bytesPerRow: rows ? dbBytes / rows : 0 };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      db: { type: 'string' }, n: { type: 'string', default: '10000' }, absent: { type: 'string', default: '0.1' },
      seed: { type: 'string', default: '1' }, json: { type: 'boolean', default: false },
    },
  });
  if (!values.db) { process.stderr.write('lookup: --db FILE is required\n'); process.exit(2); }
  const r = await measureLookup({ db: values.db, n: Number(values.n), absent: Number(values.absent), seed: Number(values.seed) });
  if (values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    process.stdout.write(`${r.db}: ${r.rows} rows, ${r.dbBytes} bytes (${r.freeBytes} free), ${r.bytesPerRow.toFixed(1)} bytes/row\n`
      + `queryBuildIds over ${r.n} ids (${r.absent} absent, ${r.matches} matches): p50 ${r.p50Ms.toFixed(3)} ms, p90 ${r.p90Ms.toFixed(3)} ms, `
      + `p99 ${r.p99Ms.toFixed(3)} ms, max ${r.maxMs.toFixed(3)} ms (load average ${r.loadAverage.toFixed(2)})\n`);
  }
}
