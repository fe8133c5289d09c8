// darkforge measured the way a user runs it: the CLI (node bin/darkserver.js), a fresh database
// per run, wall time around the whole process (start-up included), peak RSS from GNU time.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { DARKSERVER, dbBytes, log, median, nowMs } from './util.ts';

export interface IndexSummary { rpms: number; headerOnly: number; payload: number; failed: number; elfFiles: number; buildIds: number; bytesRead?: number; bytesTotal?: number }
export interface IndexRun { ms: number; peakRssKb: number; summary: IndexSummary }
export interface IndexResult { medianMs: number; runsMs: number[]; peakRssKb: number; summary: IndexSummary; db: string; dbBytes: number; rows: number }

/**
 * The environment darkforge's CLI runs in: this one without NODE_EXTRA_CA_CERTS. Node 20 reads
 * that bundle at every start-up, before any of our code (~150 ms for Debian's 140 certificates),
 * and index and query make no TLS connection; a sandbox sets it, a user's machine rarely does.
 * The start-up row of the table shows what it costs where it is set.
 */
export const CLI_ENV: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '' };
delete CLI_ENV.NODE_EXTRA_CA_CERTS;
const ENV = { env: CLI_ENV, extendEnv: false } as const;

/** Median wall of `node -e 0` in `env`, for the start-up row. */
export async function nodeStartMs(env: NodeJS.ProcessEnv, runs = 9): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = nowMs();
    await execa(process.execPath, ['-e', '0'], { env, extendEnv: false });
    times.push(nowMs() - s);
  }
  return median(times);
}

/** One `darkserver index` into a new database, under /usr/bin/time for the peak RSS. */
export async function indexOnce(db: string, paths: string[], full: boolean): Promise<IndexRun> {
  const rssFile = `${db}.rss`;
  const args = ['-f', '%M', '-o', rssFile, process.execPath, DARKSERVER, 'index', '--json', '--db', db, ...(full ? ['--full'] : []), ...paths];
  const s = nowMs();
  const r = await execa('/usr/bin/time', args, { reject: false, ...ENV });
  const ms = nowMs() - s;
  if (r.exitCode !== 0) throw new Error(`darkserver index${full ? ' --full' : ''} exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  const peakRssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  rmSync(rssFile, { force: true });
  return { ms, peakRssKb, summary: JSON.parse(r.stdout) as IndexSummary };
}

/** Median wall of `runs` fresh-database runs; the last database is kept (in `work`) for the size and query rows. */
export async function indexMedian(label: string, dir: string, full: boolean, runs: number, work: string): Promise<IndexResult> {
  const times: number[] = [];
  let last: IndexRun | undefined;
  let db = '';
  for (let i = 0; i < runs; i++) {
    if (db) rmSync(db, { force: true });
    db = join(mkdtempSync(join(work, 'df-')), 'index.sqlite');
    last = await indexOnce(db, [dir], full);
    times.push(last.ms);
    log(`darkforge index${full ? ' --full' : ''} ${label}: run ${i + 1}/${runs} ${(last.ms / 1000).toFixed(2)} s`);
  }
  return { medianMs: median(times), runsMs: times, peakRssKb: last!.peakRssKb, summary: last!.summary, db, dbBytes: dbBytes(db), rows: fileRows(db) };
}

/**
 * Build-id rows in a darkforge database. The schema belongs to the store (another engineer may
 * reshape it), so look for the table instead of assuming its name.
 */
export function fileRows(db: string): number {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const tables = (d.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    const t = ['files', 'file', 'buildid_files', 'elf_files'].find((n) => tables.includes(n));
    if (!t) throw new Error(`no files table in ${db} (tables: ${tables.join(', ')})`);
    return (d.prepare(`SELECT count(*) AS n FROM "${t}"`).get() as { n: number }).n;
  } finally { d.close(); }
}

/** Wall time of one `darkserver query ID --db DB` process; throws when the id is not found. */
export async function queryCliOnce(db: string, id: string): Promise<number> {
  const s = nowMs();
  const r = await execa(process.execPath, [DARKSERVER, 'query', id, '--db', db], { reject: false, ...ENV });
  const ms = nowMs() - s;
  if (r.exitCode !== 0 || !r.stdout.includes(id)) throw new Error(`darkserver query ${id} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return ms;
}
