// In-process lookup latency and bytes per row at 10 M build-ids. The synthetic index
// (bench/synthetic-index.ts) and the lookup under test (bench/lookup.ts) are another engineer's;
// this file adapts them to the narrow interfaces below, caches the large database (minutes to
// build).
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, cacheRoot, log, sha256 } from './util.ts';

/** Builds an index at `db` with exactly `rows` build-id rows. */
export type BuildSynthetic = (db: string, rows: number, onProgress: (done: number, total: number) => void) => void;

/** Times `n` in-process lookups on `db` (bench/lookup.ts's measureLookup does the timing). */
export type MeasureLookup = (db: string, n: number) => Promise<InprocResult>;

export interface SyntheticDb { db: string; rows: number; dbBytes: number; bytesPerRow: number }
export interface InprocResult {
  n: number; present: number; absent: number; matches: number;
  p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; meanMs: number; loadAverage: number;
  /** p99 of a first, cold pass on other ids (pages not yet in the page cache). */
  coldP99Ms: number;
}

const SYNTH = join(ROOT, 'bench', 'synthetic-index.ts');
const LOOKUP = join(ROOT, 'bench', 'lookup.ts');

/** The generator, or why it is not there. */
export async function loadSynthetic(): Promise<BuildSynthetic | string> {
  if (!existsSync(SYNTH)) return 'bench/synthetic-index.ts not written yet';
  const m = (await import(pathToFileURL(SYNTH).href)) as typeof import('./synthetic-index.ts');
  return (db, rows, onProgress) => { m.buildSyntheticIndex({ db, rows, onProgress }); };
}

/** The lookup, or why it is not there. */
export async function loadLookup(): Promise<MeasureLookup | string> {
  if (!existsSync(LOOKUP)) return 'bench/lookup.ts not written yet';
  const m = (await import(pathToFileURL(LOOKUP).href)) as typeof import('./lookup.ts');
  // queryBuildIds (what `darkserver query` calls) on one open Store; 10% of the ids are absent
  // A first pass on other ids (seed 2) reads the pages in: right after the 10 M build its p99 was
  // ~3 ms, warm ~0.3 ms. The warm pass is the figure; the cold one is reported beside it.
  return async (db, n) => {
    const cold = await m.measureLookup({ db, n, seed: 2 });
    const r = await m.measureLookup({ db, n });
    return {
      coldP99Ms: cold.p99Ms, n: r.n, present: r.present, absent: r.absent, matches: r.matches, p50Ms: r.p50Ms, p90Ms: r.p90Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, meanMs: r.meanMs, loadAverage: r.loadAverage };
  };
}

/** The cache key covers the generator and the schema it writes through, so a schema change rebuilds. */
function dbKey(rows: number): string {
  const src = ['bench/synthetic-index.ts', 'src/lib/store/sqlite/schema.ts', 'src/lib/store/sqlite/store.ts', 'src/lib/store/path-parts.ts', 'src/lib/index/rows.ts']
    .map((f) => (existsSync(join(ROOT, f)) ? readFileSync(join(ROOT, f)) : Buffer.alloc(0)));
  return sha256('synthetic-v1', String(rows), ...src).slice(0, 16);
}

export function ensureSyntheticDb(build: BuildSynthetic, rows: number): SyntheticDb {
  const db = join(cacheRoot(), `synthetic-${rows}-${dbKey(rows)}.sqlite`);
  if (existsSync(db)) log(`synthetic index: cached at ${db}`);
  else {
    const tmp = `${db}.tmp-${process.pid}`;
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    log(`synthetic index: building ${rows} rows (once; cached at ${db})`);
    let shown = 0;
    build(tmp, rows, (done, total) => {
      if (done - shown >= total / 10 || done === total) { shown = done; log(`synthetic index: ${((100 * done) / total).toFixed(0)}%`); }
    });
    for (const f of [`${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    renameSync(tmp, db);
    // an older generator's or schema's database is GBs of dead weight
    for (const f of readdirSync(cacheRoot())) {
      if (f.startsWith(`synthetic-${rows}-`) && join(cacheRoot(), f) !== db) rmSync(join(cacheRoot(), f), { force: true });
    }
  }
  const dbBytes = statSync(db).size;
  return { db, rows, dbBytes, bytesPerRow: dbBytes / rows };
}
