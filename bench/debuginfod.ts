// elfutils' debuginfod as the peer: `debuginfod -R DIR`, timed from start until /metrics say the
// initial scan is over. debuginfod 0.188 has no --listen-address and binds every interface, so
// it only ever runs inside a private network namespace (netns-child.ts, under `unshare -n`).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa, type ResultPromise } from 'execa';
import { ROOT, log } from './util.ts';

export type Metrics = Map<string, number>;

/** Prometheus text: `name{labels} value` per line; the key is `name{labels}` as printed. */
export function parseMetrics(text: string): Metrics {
  const m: Metrics = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (sp > 0) m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

/**
 * The initial scan is over when the traversal pass has finished (work_total traverse >= 1),
 * no archive waits or is being scanned, and every RPM was counted as scanned. The last check
 * closes the gap between a scanner dequeuing an archive and marking itself busy.
 */
export function scanDone(m: Metrics, rpms: number): boolean {
  return (m.get('thread_work_total{role="traverse"}') ?? 0) >= 1
    && m.get('thread_work_pending{role="scan"}') === 0
    && m.get('thread_busy{role="scan"}') === 0
    && (m.get('scanned_files_total{source=".rpm archive"}') ?? 0) >= rpms;
}

export interface Server { port: number; db: string; proc: ResultPromise; logFile: string }

export function startServer(dir: string, db: string, port: number, logFile: string): Server {
  // -t 0: one initial traversal, no rescans; -g 0: no periodic grooming; default -c (CPUs).
  // It logs on stderr; kept in a file for the error message if it dies.
  const proc = execa('debuginfod', ['-R', '-d', db, '-t', '0', '-g', '0', '-p', String(port), dir], {
    stdin: 'ignore', stdout: 'ignore', stderr: { file: logFile }, reject: false,
  });
  return { port, db, proc, logFile };
}

async function metrics(port: number): Promise<Metrics | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    return r.ok ? parseMetrics(await r.text()) : undefined;
  } catch { return undefined; /* not listening yet */ }
}

export async function waitScan(s: Server, rpms: number, timeoutMs = 30 * 60_000): Promise<Metrics> {
  const until = Date.now() + timeoutMs;
  let exited = false;
  void s.proc.then(() => { exited = true; });
  for (;;) {
    const m = await metrics(s.port);
    if (m && scanDone(m, rpms)) return m;
    if (exited) throw new Error(`debuginfod exited before its scan finished: ${readFileSync(s.logFile, 'utf8').trim().split('\n').slice(-3).join(' / ')}`);
    if (Date.now() > until) throw new Error(`debuginfod did not finish scanning ${rpms} RPMs within ${timeoutMs / 60000} min`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function stopServer(s: Server): Promise<void> {
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
  await s.proc;
  clearTimeout(t);
}

/** Rows of build-id -> archive member (`_r_de`), whatever the schema prefix (buildids9 in 0.188). */
export function deRows(db: string): number {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const t = (d.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'buildids%\\_r\\_de' ESCAPE '\\'").get() as { name: string } | undefined)?.name;
    if (!t) throw new Error(`no buildids*_r_de table in ${db}`);
    return (d.prepare(`SELECT count(*) AS n FROM "${t}"`).get() as { n: number }).n;
  } finally { d.close(); }
}

// ---- parent side: what run.ts calls ----

export interface ScanJob { label: string; dir: string; rpms: number }
export interface QueryJob { db: string; ids: string[]; label: string }
export interface ChildInput { work: string; runs: number; scans: ScanJob[]; query?: QueryJob }
export interface ScanResult {
  label: string; runsMs: number[]; medianMs: number; dbBytes: number; rows: number;
  scanThreads: number; foundExecutable: number; foundDebuginfo: number; scannedFiles: number; errors: number;
}
export interface QueryResult { darkserverMs: number[]; debuginfodFindMs: number[]; ids: string[] }
export interface ChildOutput { version: string; scans: ScanResult[]; query?: QueryResult }

/** Run the scans (and the CLI query comparison) in a fresh network namespace; see netns-child.ts. */
export async function runInNetns(input: ChildInput): Promise<ChildOutput> {
  return inNetns<ChildInput, ChildOutput>('netns-child.ts', input, 'debuginfod');
}

/**
 * Run bench/SCRIPT under `unshare -n` (loopback only) with `input` (its `work` folder replaced by
 * a fresh one inside it); the JSON the script writes. `what` names the run in messages.
 */
export async function inNetns<I extends { work: string }, O>(script: string, input: I, what: string): Promise<O> {
  const work = mkdtempSync(join(input.work, 'netns-'));
  const inFile = join(work, 'input.json');
  const outFile = join(work, 'output.json');
  writeFileSync(inFile, JSON.stringify({ ...input, work }));
  log(`${what}: entering a private network namespace (unshare -n)`);
  const r = await execa('unshare', ['-n', '--', process.execPath, '--import', 'tsx', join(ROOT, 'bench', script), inFile, outFile], {
    cwd: ROOT, stdin: 'ignore', stdout: 'inherit', stderr: 'inherit', reject: false,
  });
  if (r.exitCode !== 0 || !existsSync(outFile)) throw new Error(`the ${what} run inside unshare -n failed (exit ${r.exitCode}); see the messages above`);
  const out = JSON.parse(readFileSync(outFile, 'utf8')) as O;
  rmSync(work, { recursive: true, force: true });
  return out;
}
