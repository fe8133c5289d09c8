// Runs inside `unshare -n` (started by debuginfod.ts): loopback only, so debuginfod, which binds
// every interface, never touches the network. Times each debuginfod scan, then runs the CLI
// query comparison here too, so `darkserver query` and `debuginfod-find` pay the same costs.
// Usage: node --import tsx bench/netns-child.ts INPUT.json OUTPUT.json
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { queryCliOnce } from './darkforge.ts';
import {
  type ChildInput, type ChildOutput, type QueryResult, type ScanResult, type Server,
  deRows, startServer, stopServer, waitScan,
} from './debuginfod.ts';
import { dbBytes, findTool, log, median, nowMs } from './util.ts';

const PORT = 8002;

async function scan(job: ChildInput['scans'][number], runs: number, work: string, keep: boolean): Promise<{ result: ScanResult; server?: Server }> {
  const times: number[] = [];
  let result: ScanResult | undefined;
  let server: Server | undefined;
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(work, `dbg-${job.label}-`));
    const db = join(dir, 'debuginfod.sqlite');
    const s0 = nowMs();
    const s = startServer(job.dir, db, PORT, join(dir, 'debuginfod.log'));
    const m = await waitScan(s, job.rpms);
    const ms = nowMs() - s0;
    times.push(ms);
    log(`debuginfod -R ${job.label}: run ${i + 1}/${runs} ${(ms / 1000).toFixed(2)} s`);
    const last = i === runs - 1;
    if (last && keep) server = s; else await stopServer(s);
    result = {
      label: job.label, runsMs: times, medianMs: median(times),
      // measured after SIGTERM (the db is closed and checkpointed); the kept server's db is measured later
      dbBytes: server ? 0 : dbBytes(db), rows: server ? 0 : deRows(db),
      scanThreads: m.get('thread_count{role="scan"}') ?? 0,
      foundExecutable: m.get('found_executable_total{source=".rpm archive"}') ?? 0,
      foundDebuginfo: m.get('found_debuginfo_total{source=".rpm archive"}') ?? 0,
      scannedFiles: m.get('scanned_files_total{source=".rpm archive"}') ?? 0,
      errors: [...m].filter(([k]) => k.startsWith('error_count')).reduce((n, [, v]) => n + v, 0),
    };
    if (!(last && keep)) rmSync(dir, { recursive: true, force: true });
  }
  return { result: result!, server };
}

/** Alternate the two clients per id so background noise hits both alike; a fresh client cache every time. */
async function queries(q: NonNullable<ChildInput['query']>, work: string): Promise<QueryResult> {
  const out: QueryResult = { darkserverMs: [], debuginfodFindMs: [], ids: q.ids };
  // one untimed call each: page cache and libraries warm, as for a user's second command
  await queryCliOnce(q.db, q.ids[0]);
  await debuginfodFindOnce(q.ids[0], work);
  for (const [i, id] of q.ids.entries()) {
    out.darkserverMs.push(await queryCliOnce(q.db, id));
    out.debuginfodFindMs.push(await debuginfodFindOnce(id, work));
    if ((i + 1) % 10 === 0) log(`CLI query: ${i + 1}/${q.ids.length} ids`);
  }
  return out;
}

/** Wall time of one `debuginfod-find executable ID` with an empty client cache (else it never asks the server). */
async function debuginfodFindOnce(id: string, work: string): Promise<number> {
  const cache = mkdtempSync(join(work, 'dfind-'));
  const s = nowMs();
  const r = await execa('debuginfod-find', ['executable', id], {
    reject: false, env: { DEBUGINFOD_URLS: `http://127.0.0.1:${PORT}`, DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_PROGRESS: '' },
  });
  const ms = nowMs() - s;
  rmSync(cache, { recursive: true, force: true });
  if (r.exitCode !== 0) throw new Error(`debuginfod-find executable ${id} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return ms;
}

async function main(): Promise<void> {
  const [inFile, outFile] = process.argv.slice(2);
  const input = JSON.parse(readFileSync(inFile, 'utf8')) as ChildInput;
  mkdirSync(input.work, { recursive: true });
  await execa(findTool('ip') ?? 'ip', ['link', 'set', 'lo', 'up']); // /usr/sbin may not be on PATH
  const version = (await execa('debuginfod', ['--version'])).stdout.split('\n')[0].trim();
  const out: ChildOutput = { version, scans: [] };
  for (const job of input.scans) {
    const keep = !!input.query && job.label === input.query.label;
    const { result, server } = await scan(job, input.runs, input.work, keep);
    out.scans.push(result);
    if (server) {
      try { out.query = await queries(input.query!, input.work); } finally { await stopServer(server); }
      result.dbBytes = dbBytes(server.db);
      result.rows = deRows(server.db);
    }
  }
  writeFileSync(outFile, JSON.stringify(out));
}

main().catch((e: unknown) => {
  process.stderr.write(`netns-child: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
