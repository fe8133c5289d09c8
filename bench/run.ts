// npm run bench: darkforge against elfutils' debuginfod and the original darkserver on the same
// RPMs, in one run (issue 7). Table on stdout, raw figures in bench/results.json, progress on
// stderr. --quick: a small corpus and no 10 M index or 1 GB RPM, for development.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { ensureBigRpm, ensureCorpus, FULL, pickElfFiles, QUICK, type Corpus, type Variant } from './corpus.ts';
import { CLI_ENV, indexMedian, indexOnce, nodeStartMs, type IndexResult } from './darkforge.ts';
import { runInNetns, type ChildOutput } from './debuginfod.ts';
import { decompressionFloor } from './floor.ts';
import { ensureSyntheticDb, loadLookup, loadSynthetic, type InprocResult, type SyntheticDb } from './inproc.ts';
import type { ServeChildOutput } from './serve-child.ts';
import { SERVE_TOOLS, serveBench, serveNotes, serveRows } from './serve.ts';
import { PG_TARGET, pgBench, pgNotes, pgRows, type PgBenchResult } from './pg.ts';
import { HAVE_PG } from '../test/helpers/pg.ts';
import { kojiImport, kojiSpeed, speedNotes, speedRows, type KojiResult, type SpeedResult } from './koji.ts';
import { ensureKojiCorpus } from './koji-corpus.ts';
import { WORKERS_TOOLS, workersBench, workersNotes, workersRows, type WorkersResult } from './workers.ts';
import { originalWay, type OriginalResult } from './original.ts';
import { bytes, ceilingRow, fasterRow, infoRow, msec, sec, skippedRow, table, times, withinRow, type Row } from './report.ts';
import { BenchError, MB, ROOT, log, median, missingTools, percentile, rng } from './util.ts';

const TARGET = { headerVsDebuginfod: 10, fullVsDebuginfod: 1.5, fullVsFloor: 1.5, cliQueryMs: 150, p99Ms: 1, rssMb: 200, bytesPerRow: 120 };
const SYNTHETIC_ROWS = 10_000_000;

const USAGE = `usage: npm run bench [-- --quick] [-- --runs N] [-- --only serve|pg|workers|koji]
  --quick         small corpus; skips the 10 M-row index and the 1 GB RPM
  --runs N        timed runs per measurement, the median is reported (default 3)
  --only serve    only the darkserver serve section (against debuginfod; writes bench/results-serve.json)
  --only pg       only the PostgreSQL rows: the 10 M-row index copied into a throwaway cluster, lookups on both backends (writes bench/results-pg.json)
  --only workers  only the import-workers section (1, 2, 4 workers on PostgreSQL; writes bench/results-workers.json)
  --only koji     only the Koji import speed section (0, 20, 50 ms per request, --jobs 4 and 32,
                  median of --runs; writes bench/results-koji.json)
  --seconds N     length of each wrk run of the serve section (default 5)`;

/** The Koji import speed matrix: per-request latency of the hub, and --jobs. */
const KOJI_LATENCIES = [0, 20, 50];
const KOJI_JOBS = [4, 32];

interface Results {
  started: string; quick: boolean; runs: number;
  machine: { cpus: number; model: string; node: string; rpm: string; debuginfod: string };
  corpus: Omit<Corpus, 'packages'> & { packages: { name: string; compressor: string; files: number }[] };
  index: Record<Variant, { headerFirst: IndexResult; full: IndexResult }>;
  floor: Record<Variant, { medianMs: number; runsMs: number[] }>;
  original: Record<Variant, OriginalResult>;
  koji: Record<Variant, KojiResult>;
  workers: WorkersResult;
  kojiSpeed: SpeedResult;
  debuginfod: ChildOutput;
  nodeStart: { cliEnvMs: number; withExtraCaCertsMs?: number };
  cliQuery: { darkserverMedianMs: number; debuginfodFindMedianMs: number; darkserverP90Ms: number; debuginfodFindP90Ms: number; n: number };
  synthetic: SyntheticDb | { skipped: string };
  inproc: InprocResult | { skipped: string };
  bigRpm?: { file: string; bytes: number; ms: number; peakRssKb: number } | { skipped: string };
  pg: PgBenchResult | { skipped: string };
  serve: ServeChildOutput;
  checks: string[];
  rows: Row[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    quick: { type: 'boolean', default: false }, runs: { type: 'string', default: '3' }, help: { type: 'boolean', default: false },
    only: { type: 'string' }, seconds: { type: 'string', default: '5' },
  } });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return; }
  const seconds = Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds < 1) throw new BenchError(`--seconds must be a whole number >= 1, not "${values.seconds}"`);
  if (values.only !== undefined && !['serve', 'pg', 'workers', 'koji'].includes(values.only)) throw new BenchError(`--only takes "serve", "pg", "workers" or "koji", not "${values.only}"`);
  if (values.only === 'serve') { await onlyServe(seconds); return; }
  if (values.only === 'pg') { await onlyPg(); return; }
  if (values.only === 'koji') { await onlyKoji(Number(values.runs)); return; }
  const quick = values.quick;
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new BenchError(`--runs must be a whole number >= 1, not "${values.runs}"`);
  if (values.only === 'workers') { await onlyWorkers(runs); return; }

  const missing = missingTools([...new Set(['rpmbuild', 'rpm', 'rpm2cpio', 'cpio', 'eu-unstrip', 'debuginfod', 'debuginfod-find', 'unshare', 'ip', 'python3', '/usr/bin/time', ...SERVE_TOOLS, ...WORKERS_TOOLS])]);
  if (!HAVE_PG) throw new BenchError('the import-workers section runs PostgreSQL: install the Debian package "postgresql" (apt-get install -y postgresql).');
  if (missing.length) throw new BenchError(missing.join('\n'));
  if (process.getuid?.() !== 0) throw new BenchError('debuginfod is run in a private network namespace (unshare -n), which needs root: run the benchmark as root.');
  if (!existsSync(join(ROOT, 'dist', 'commands.js'))) throw new BenchError('dist/ is not built: run "npx tsc -p tsconfig.json" (npm run bench does it).');

  const checks: string[] = [];
  const corpus = await ensureCorpus(quick ? QUICK : FULL, quick ? 'quick' : 'full');
  const work = mkdtempSync(join(tmpdir(), 'darkforge-bench-'));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  process.on('SIGINT', () => process.exit(130));
  const V: Variant[] = ['links', 'nolinks'];
  const vname = (v: Variant): string => (v === 'links' ? 'link-carrying' : 'link-less');
  log(`corpus: ${corpus.variants.links.rpms.length} RPMs per variant, ${corpus.elfFiles} ELF files, ${bytes(corpus.variants.links.bytes)} (links) / ${bytes(corpus.variants.nolinks.bytes)} (no links)`);

  // 2. darkforge index, header-first and --full, each variant
  const index = {} as Results['index'];
  for (const v of V) {
    const dir = corpus.variants[v].dir;
    index[v] = { headerFirst: await indexMedian(vname(v), dir, false, runs, work), full: await indexMedian(vname(v), dir, true, runs, work) };
    for (const [k, r] of Object.entries(index[v])) {
      if (r.summary.buildIds !== corpus.elfFiles) checks.push(`darkforge index ${k} ${vname(v)}: ${r.summary.buildIds} build-ids, corpus has ${corpus.elfFiles}`);
      if (r.summary.failed) checks.push(`darkforge index ${k} ${vname(v)}: ${r.summary.failed} RPMs failed`);
    }
  }

  // 5. decompression floor; 4. the original darkserver way
  const floor = {} as Results['floor'];
  const original = {} as Results['original'];
  for (const v of V) floor[v] = await decompressionFloor(corpus.variants[v].rpms, runs, vname(v));
  for (const v of V) {
    log(`original darkserver way ${vname(v)}: rpm2cpio | cpio, eu-unstrip -n -e per ELF file`);
    original[v] = await originalWay(corpus.variants[v].rpms, work);
    if (original[v].buildIds !== corpus.elfFiles) checks.push(`original way ${vname(v)}: ${original[v].buildIds} build-ids, corpus has ${corpus.elfFiles}`);
  }

  // 6. Koji import bytes
  const koji = {} as Results['koji'];
  for (const v of V) koji[v] = await kojiImport(corpus.variants[v].rpms, corpus.variants[v].bytes, work, vname(v));
  const kojiSpeedResult = await kojiSpeed(await ensureKojiCorpus(), work, KOJI_LATENCIES, KOJI_JOBS, CLI_ENV, runs);

  // Import throughput with 1, 2 and 4 workers on one PostgreSQL queue
  const workers = await workersBench(runs);
  checks.push(...workers.checks);

  // 3. debuginfod -R and 7b. CLI query, inside one private network namespace
  const allIds = corpus.packages.flatMap((p) => p.files.map((f) => f.buildId));
  const rand = rng(7);
  const ids = Array.from({ length: quick ? 6 : 20 }, () => allIds[Math.floor(rand() * allIds.length)]);
  const dbg = await runInNetns({
    work, runs,
    scans: V.map((v) => ({ label: v, dir: corpus.variants[v].dir, rpms: corpus.variants[v].rpms.length })),
    query: { label: 'links', db: index.links.full.db, ids },
  });
  for (const s of dbg.scans) {
    if (s.foundExecutable !== corpus.elfFiles) checks.push(`debuginfod ${s.label}: found ${s.foundExecutable} executables, corpus has ${corpus.elfFiles} ELF files`);
    if (s.errors) checks.push(`debuginfod ${s.label}: error_count ${s.errors}`);
  }
  const q = dbg.query!;
  const cliQuery = {
    darkserverMedianMs: median(q.darkserverMs), debuginfodFindMedianMs: median(q.debuginfodFindMs),
    darkserverP90Ms: percentile(q.darkserverMs, 90), debuginfodFindP90Ms: percentile(q.debuginfodFindMs, 90), n: q.ids.length,
  };

  // 7a. in-process lookups at 10 M; 8. bytes per row there
  let synthetic: Results['synthetic'];
  let inproc: Results['inproc'];
  if (quick) { synthetic = { skipped: '--quick' }; inproc = { skipped: '--quick' }; }
  else {
    const build = await loadSynthetic();
    if (typeof build === 'string') synthetic = { skipped: build };
    else synthetic = ensureSyntheticDb(build, SYNTHETIC_ROWS);
    const lookup = await loadLookup();
    if (typeof lookup === 'string') inproc = { skipped: lookup };
    else if ('skipped' in synthetic) inproc = { skipped: synthetic.skipped };
    else {
      log('in-process lookups: 10 000 random ids (bench/lookup.ts)');
      inproc = await lookup(synthetic.db, 10_000);
      if (inproc.matches < inproc.present) checks.push(`in-process lookups: ${inproc.matches} matches for ${inproc.present} present ids`);
    }
    if ('skipped' in inproc) log(`in-process lookups skipped: ${inproc.skipped}`);
  }

  // PostgreSQL: the same 10 M rows copied in, lookups on both backends
  let pg: Results['pg'];
  if ('skipped' in synthetic) pg = { skipped: synthetic.skipped };
  else if (!HAVE_PG) pg = { skipped: 'no PostgreSQL server binaries (apt-get install postgresql)' };
  else pg = await pgBench(synthetic);

  // 9. peak RSS of --full on a ~1 GB RPM
  let bigRpm: Results['bigRpm'];
  if (quick) bigRpm = { skipped: '--quick' };
  else {
    const big = await ensureBigRpm(await pickElfFiles(QUICK));
    log('darkforge index --full on the 1 GB RPM (peak RSS)');
    const db = join(mkdtempSync(join(work, 'big-')), 'index.sqlite');
    const r = await indexOnce(db, [big.file], true);
    bigRpm = { file: big.file, bytes: big.bytes, ms: r.ms, peakRssKb: r.peakRssKb };
    if (r.summary.buildIds !== big.elfFiles) checks.push(`1 GB RPM: ${r.summary.buildIds} build-ids, it has ${big.elfFiles} ELF files`);
  }

  // darkserver serve against debuginfod serving the same RPMs
  const serve = await serveBench(work, seconds);

  // The CLI rows run without NODE_EXTRA_CA_CERTS (see CLI_ENV): show what it would add.
  const caCerts = process.env.NODE_EXTRA_CA_CERTS;
  const nodeStart: Results['nodeStart'] = { cliEnvMs: await nodeStartMs(CLI_ENV) };
  if (caCerts) nodeStart.withExtraCaCertsMs = await nodeStartMs({ ...CLI_ENV, NODE_EXTRA_CA_CERTS: caCerts });

  // ---- the table ----
  const rows: Row[] = [];
  const dScan = (v: Variant): number => dbg.scans.find((s) => s.label === v)!.medianMs;
  for (const v of V) {
    const n = vname(v);
    const hs = index[v].headerFirst.summary;
    rows.push(fasterRow(`index header-first, ${n} (${hs.headerOnly}/${hs.rpms} header-only)`, index[v].headerFirst.medianMs, 'debuginfod -R', dScan(v), v === 'links' ? TARGET.headerVsDebuginfod : undefined));
    rows.push(fasterRow(`index --full, ${n}`, index[v].full.medianMs, 'debuginfod -R', dScan(v), TARGET.fullVsDebuginfod));
    rows.push(withinRow(`index --full vs decompression floor, ${n}`, index[v].full.medianMs, 'rpm2cpio>/dev/null', floor[v].medianMs, TARGET.fullVsFloor));
    rows.push(fasterRow(`index header-first vs original darkserver, ${n}`, index[v].headerFirst.medianMs, 'rpm2cpio|cpio+eu-unstrip', original[v].ms));
  }
  for (const v of V) {
    const k = koji[v];
    rows.push(infoRow(`koji import bytes fetched, ${vname(v)} (${k.headerOnly}/${k.rpms} header-only)`, bytes(k.bytesServed), `corpus ${bytes(k.corpusBytes)}`, `${((100 * k.bytesServed) / k.corpusBytes).toFixed(2)}% of it`));
  }
  rows.push(...workersRows(workers));
  rows.push(...speedRows(kojiSpeedResult));
  rows.push(ceilingRow('CLI `darkserver query` median wall', cliQuery.darkserverMedianMs, msec(cliQuery.darkserverMedianMs), TARGET.cliQueryMs, `${TARGET.cliQueryMs} ms`,
    `debuginfod-find executable ${msec(cliQuery.debuginfodFindMedianMs)}`));
  rows.push(infoRow('node start-up (node -e 0), as the CLI rows run', msec(nodeStart.cliEnvMs),
    nodeStart.withExtraCaCertsMs === undefined ? '' : `with this shell's NODE_EXTRA_CA_CERTS ${msec(nodeStart.withExtraCaCertsMs)}`));
  if ('p99Ms' in inproc) {
    rows.push(ceilingRow('in-process lookup p99, 10 M rows', inproc.p99Ms, msec(inproc.p99Ms), TARGET.p99Ms, `${TARGET.p99Ms} ms`, `warm; p50 ${msec(inproc.p50Ms)}, cold p99 ${msec(inproc.coldP99Ms)}, ${inproc.absent} of ${inproc.n} absent, load ${inproc.loadAverage.toFixed(1)}`));
  } else rows.push(skippedRow('in-process lookup p99, 10 M rows', inproc.skipped, `<= ${TARGET.p99Ms} ms`));
  const dfRow = index.links.full.dbBytes / index.links.full.rows;
  const dbgLinks = dbg.scans.find((s) => s.label === 'links')!;
  const dbgRow = dbgLinks.dbBytes / dbgLinks.rows;
  // A few hundred rows: the fixed pages of every table and index dominate, so this row is
  // information; the target is judged at 10 M rows.
  rows.push(infoRow(`index bytes per build-id row, corpus (${index.links.full.rows} rows)`, `${dfRow.toFixed(0)} B`,
    `debuginfod ${dbgRow.toFixed(0)} B (${bytes(dbgLinks.dbBytes)}/${dbgLinks.rows} rows)`, times(dfRow / dbgRow)));
  if ('bytesPerRow' in synthetic) {
    rows.push(ceilingRow('index bytes per build-id row, 10 M rows', synthetic.bytesPerRow, `${synthetic.bytesPerRow.toFixed(1)} B`, TARGET.bytesPerRow, `${TARGET.bytesPerRow} B`, `${bytes(synthetic.dbBytes)} synthetic`));
  } else rows.push(skippedRow('index bytes per build-id row, 10 M rows', synthetic.skipped, `<= ${TARGET.bytesPerRow} B`));
  if (bigRpm && 'peakRssKb' in bigRpm) {
    const mb = bigRpm.peakRssKb / 1024;
    rows.push(ceilingRow('peak RSS, index --full of a 1 GB RPM', mb, `${mb.toFixed(0)} MB`, TARGET.rssMb, `${TARGET.rssMb} MB`, `${bytes(bigRpm.bytes)} in ${sec(bigRpm.ms)}`));
  } else rows.push(skippedRow('peak RSS, index --full of a 1 GB RPM', bigRpm!.skipped, `<= ${TARGET.rssMb} MB`));
  if ('skipped' in pg) rows.push(skippedRow('in-process lookup p99, 10 M rows, PostgreSQL', pg.skipped, `<= ${PG_TARGET.p99Ms} ms`));
  else rows.push(...pgRows(pg));
  rows.push(...serveRows(serve));

  const rpmVersion = (await execa('rpm', ['--version'])).stdout.trim();
  const results: Results = {
    started: new Date().toISOString(), quick, runs,
    machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? '', node: process.version, rpm: rpmVersion, debuginfod: dbg.version },
    corpus: { ...corpus, packages: corpus.packages.map((p) => ({ name: p.name, compressor: p.compressor, files: p.files.length })) },
    index, floor, original, koji, kojiSpeed: kojiSpeedResult, workers, debuginfod: dbg, nodeStart, cliQuery, synthetic, inproc, bigRpm, pg, serve, checks, rows,
  };
  writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 1)}\n`);

  const c = corpus.variants.links;
  process.stdout.write(`darkforge bench${quick ? ' (--quick)' : ''}: ${c.rpms.length} RPMs per variant (zstd -19 / xz -6), ${corpus.elfFiles} ELF files `
    + `(${(corpus.elfBytes / MB).toFixed(1)} MB), ${bytes(c.bytes)} of RPMs; median of ${runs}; ${availableParallelism()} CPUs; ${dbg.version}, debuginfod -c ${dbgLinks.scanThreads}\n\n`);
  process.stdout.write(`${table(rows)}\n`);
  const notes = [
    'debuginfod times are raw: 0.188\'s traversal thread sleeps ~1 s before its first pass.',
    'link-less RPMs can still be header-only: rpm stores libmagic\'s "BuildID[sha1]=..." in FILECLASS; --full always reads the payload.',
    'darkforge CLI rows run without NODE_EXTRA_CA_CERTS (set in this shell: Node 20 loads that bundle at every start, before any of our code; index and query make no TLS connection); the start-up row shows its cost.',
    `CLI query: ${cliQuery.n} random ids, both clients in the same network namespace, alternating; debuginfod-find gets an empty cache each call and fetches the file, darkserver query prints the rows.`,
    ...('skipped' in pg ? [] : pgNotes(pg)),
    ...workersNotes(workers),
    ...speedNotes(kojiSpeedResult),
    ...serveNotes(serve),
  ];
  process.stdout.write(`\nnotes:\n${notes.map((x) => `  - ${x}`).join('\n')}\n`);
  if (checks.length) process.stdout.write(`\nchecks that failed:\n${checks.map((x) => `  - ${x}`).join('\n')}\n`);
  process.stdout.write(`\nraw figures: bench/results.json\n`);
}

/** `--only serve`: the serve section alone, its table, bench/results-serve.json. */
async function onlyServe(seconds: number): Promise<void> {
  const missing = missingTools([...SERVE_TOOLS, 'rpm2cpio']);
  if (missing.length) throw new BenchError(missing.join('\n'));
  if (process.getuid?.() !== 0) throw new BenchError('the serve section runs debuginfod in a private network namespace (unshare -n), which needs root: run it as root.');
  if (!existsSync(join(ROOT, 'dist', 'commands.js'))) throw new BenchError('dist/ is not built: run "npx tsc -p tsconfig.json" (npm run bench does it).');
  const work = mkdtempSync(join(tmpdir(), 'darkforge-bench-'));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  process.on('SIGINT', () => process.exit(130));
  const serve = await serveBench(work, seconds);
  const rows = serveRows(serve);
  writeFileSync(join(ROOT, 'bench', 'results-serve.json'), `${JSON.stringify({ started: new Date().toISOString(), seconds, machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? '', node: process.version }, serve, rows }, null, 1)}\n`);
  process.stdout.write(`darkforge bench --only serve: ${serve.version} vs darkserver serve, wrk ${seconds} s per run, ${availableParallelism()} CPUs\n\n${table(rows)}\n`);
  process.stdout.write(`\nnotes:\n${serveNotes(serve).map((x) => `  - ${x}`).join('\n')}\n\nraw figures: bench/results-serve.json\n`);
}

/** `--only pg`: the PostgreSQL rows alone (the 10 M-row SQLite index is built once and cached), bench/results-pg.json. */
async function onlyPg(): Promise<void> {
  if (!HAVE_PG) throw new BenchError('no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)');
  const build = await loadSynthetic();
  if (typeof build === 'string') throw new BenchError(build);
  const pg = await pgBench(ensureSyntheticDb(build, SYNTHETIC_ROWS));
  const rows = pgRows(pg);
  writeFileSync(join(ROOT, 'bench', 'results-pg.json'), `${JSON.stringify({ started: new Date().toISOString(), machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? '', node: process.version }, pg, rows }, null, 1)}\n`);
  process.stdout.write(`darkforge bench --only pg: ${SYNTHETIC_ROWS / 1e6} M build-id rows, SQLite and PostgreSQL, ${availableParallelism()} CPUs\n\n${table(rows)}\n`);
  process.stdout.write(`\nnotes:\n${pgNotes(pg).map((x) => `  - ${x}`).join('\n')}\n\nraw figures: bench/results-pg.json\n`);
}

/** `--only workers`: the import-workers section alone, its table, bench/results-workers.json. */
async function onlyWorkers(runs: number): Promise<void> {
  const missing = missingTools(WORKERS_TOOLS);
  if (missing.length) throw new BenchError(missing.join('\n'));
  if (!HAVE_PG) throw new BenchError('the import-workers section runs PostgreSQL: install the Debian package "postgresql" (apt-get install -y postgresql).');
  if (!existsSync(join(ROOT, 'dist', 'commands.js'))) throw new BenchError('dist/ is not built: run "npx tsc -p tsconfig.json" (npm run bench does it).');
  process.on('SIGINT', () => process.exit(130));
  const workers = await workersBench(runs);
  const rows = workersRows(workers);
  writeFileSync(join(ROOT, 'bench', 'results-workers.json'), `${JSON.stringify({ started: new Date().toISOString(), runs, machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? '', node: process.version }, workers, rows }, null, 1)}\n`);
  process.stdout.write(`darkforge bench --only workers: median of ${runs}; ${availableParallelism()} CPUs\n\n${table(rows)}\n`);
  process.stdout.write(`\nnotes:\n${workersNotes(workers).map((x) => `  - ${x}`).join('\n')}\n`);
  if (workers.checks.length) process.stdout.write(`\nchecks that failed:\n${workers.checks.map((x) => `  - ${x}`).join('\n')}\n`);
  process.stdout.write('\nraw figures: bench/results-workers.json\n');
}

/** `--only koji`: the Koji import speed section alone, its table, bench/results-koji.json. */
async function onlyKoji(runs: number): Promise<void> {
  if (!Number.isInteger(runs) || runs < 1) throw new BenchError(`--runs must be a whole number >= 1, not "${runs}"`);
  const missing = missingTools(['rpmbuild', 'rpm', 'python3', '/usr/bin/time']);
  if (missing.length) throw new BenchError(missing.join('\n'));
  if (!existsSync(join(ROOT, 'dist', 'commands.js'))) throw new BenchError('dist/ is not built: run "npx tsc -p tsconfig.json" (npm run bench does it).');
  const work = mkdtempSync(join(tmpdir(), 'darkforge-bench-'));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  process.on('SIGINT', () => process.exit(130));
  const speed = await kojiSpeed(await ensureKojiCorpus(), work, KOJI_LATENCIES, KOJI_JOBS, CLI_ENV, runs);
  const rows = speedRows(speed);
  writeFileSync(join(ROOT, 'bench', 'results-koji.json'), `${JSON.stringify({ started: new Date().toISOString(), machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? '', node: process.version }, kojiSpeed: speed, rows }, null, 1)}\n`);
  process.stdout.write(`darkforge bench --only koji: darkserver import against the fake Koji hub with a per-request latency, median of ${runs}, ${availableParallelism()} CPUs\n\n${table(rows)}\n`);
  process.stdout.write(`\nnotes:\n${speedNotes(speed).map((x) => `  - ${x}`).join('\n')}\n\nraw figures: bench/results-koji.json\n`);
}

main().catch((e: unknown) => {
  if (e instanceof BenchError) process.stderr.write(`${e.message}\n`);
  else process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(e instanceof BenchError ? 2 : 1);
});
