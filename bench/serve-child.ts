// The serve benchmark, inside `unshare -n` (started by serve.ts): loopback only, so debuginfod
// 0.188, which binds every interface, never touches the network. darkserver serve and debuginfod
// serve the same RPMs on 127.0.0.1; wrk drives both the same way; the fake Koji hub serves the
// same RPMs for darkforge's fetch-on-first-request case.
// Usage: node --import tsx bench/serve-child.ts INPUT.json OUTPUT.json
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { buildsFromRpmDir, startFakeKoji } from '../test/helpers/fake-koji.ts';
import { CLI_ENV } from './darkforge.ts';
import { startServer, stopServer, waitScan } from './debuginfod.ts';
import type { ServeCorpus } from './serve-corpus.ts';
import { DARKSERVER, findTool, log, median, nowMs } from './util.ts';

export interface WrkResult { requestsPerSec: number; p50Ms: number; p99Ms: number; requests: number; non2xx: number; errors: string }
export interface ServeCase { server: 'darkforge' | 'debuginfod' | 'floor'; method: 'GET' | 'HEAD'; connections: number; result?: WrkResult; skipped?: string }
export interface FirstRequest { server: string; ms: number[]; medianMs: number }
export interface ServeChildInput { work: string; corpus: ServeCorpus; seconds: number; connections: number[] }
export interface ServeChildOutput { version: string; cases: ServeCase[]; first: FirstRequest[]; file: { buildId: string; bytes: number }; cpus: number; load: number[] }

const DEBUGINFOD_PORT = 8002;
const DARKFORGE_PORT = 8003;
const DARKFORGE_KOJI_PORT = 8004;
const FLOOR_PORT = 8005;

// The floor: node:http sending the same bytes from memory with nothing else (no routing, no
// index, no log, no disk read): one write of one Buffer per request. What it reaches on this
// machine is what any Node server can reach here. (Streaming the file with fs.createReadStream,
// 64 KiB at a time, is no floor: it made ~600 req/s where darkforge made ~1900.)
const FLOOR_SERVER = `
const http = require('node:http'); const fs = require('node:fs');
const [file, port] = process.argv.slice(1); const bytes = fs.readFileSync(file);
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Length': bytes.length, 'Content-Type': 'application/octet-stream' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}).listen(Number(port), '127.0.0.1');
`;

/** wrk's "1.23ms" / "456.00us" / "1.02s" in milliseconds. */
function wrkMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 1e-3 : m[2] === 's' ? 1e3 : 1);
}

export function parseWrk(out: string): WrkResult {
  const pct = (p: string): number => wrkMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  return {
    requestsPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    errors: /Socket errors:.*$/m.exec(out)?.[0] ?? '',
  };
}

async function wrk(url: string, connections: number, seconds: number): Promise<WrkResult> {
  const args = ['-t', String(Math.min(2, connections)), '-c', String(connections), '-d', `${seconds}s`, '--latency'];
  const r = await execa('wrk', [...args, url], { reject: false });
  if (r.exitCode !== 0) throw new Error(`wrk failed (${r.exitCode}): ${r.stderr || r.stdout}`);
  return parseWrk(r.stdout);
}

/**
 * HEAD with ApacheBench (keep-alive): wrk's parser waits for a HEAD answer's Content-Length bytes
 * of body and stalls. ab's CSV (-e) has the percentiles in fractional milliseconds.
 */
async function abHead(url: string, connections: number, seconds: number, work: string): Promise<WrkResult> {
  const csv = join(work, `ab-${connections}.csv`);
  const r = await execa('ab', ['-q', '-i', '-k', '-c', String(connections), '-t', String(seconds), '-n', '100000000', '-e', csv, url], { reject: false });
  if (r.exitCode !== 0) throw new Error(`ab failed (${r.exitCode}): ${r.stderr || r.stdout}`);
  const pct = new Map(readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number) as [number, number]));
  return {
    requestsPerSec: Number(/Requests per second:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN),
    p50Ms: pct.get(50) ?? NaN,
    p99Ms: pct.get(99) ?? NaN,
    requests: Number(/Complete requests:\s+(\d+)/.exec(r.stdout)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0),
    errors: Number(/Failed requests:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0) ? `failed requests: ${/Failed requests:\s+(\d+)/.exec(r.stdout)![1]}` : '',
  };
}

async function waitHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try { if ((await fetch(url)).status < 500) return; } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function serve(db: string, port: number, cache: string, logFile: string): ResultPromise {
  return execa(process.execPath, [DARKSERVER, 'serve', '--db', db, '--port', String(port), '--cache-dir', cache], {
    env: CLI_ENV, extendEnv: false, stdin: 'ignore', stdout: 'ignore', stderr: { file: logFile }, reject: false,
  });
}

/** Wall time of one GET, body read to the end; fails on anything but 200. */
async function timedGet(url: string): Promise<number> {
  const s = nowMs();
  const r = await fetch(url);
  const body = await r.arrayBuffer();
  const ms = nowMs() - s;
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}`);
  if (body.byteLength === 0) throw new Error(`${url}: empty body`);
  return ms;
}

async function main(): Promise<void> {
  const [inFile, outFile] = process.argv.slice(2);
  const input = JSON.parse(readFileSync(inFile, 'utf8')) as ServeChildInput;
  mkdirSync(input.work, { recursive: true });
  await execa(findTool('ip') ?? 'ip', ['link', 'set', 'lo', 'up']);
  const version = (await execa('debuginfod', ['--version'])).stdout.split('\n')[0].trim();
  const { corpus } = input;
  const work = mkdtempSync(join(input.work, 'serve-'));

  // The two indexes darkforge serves from: the RPMs on disk, and the same RPMs imported
  // header-first from a Koji hub (nothing of their payloads fetched yet).
  const localDb = join(work, 'local.sqlite');
  await execa(process.execPath, [DARKSERVER, 'index', '--db', localDb, corpus.dir], { env: CLI_ENV, extendEnv: false });
  const builds = buildsFromRpmDir(corpus.rpms, { firstId: 5000 });
  const hub = await startFakeKoji({ builds });
  const kojiDb = join(work, 'koji.sqlite');
  await execa(process.execPath, [DARKSERVER, 'import', '--db', kojiDb, '--hub', hub.hub, '--topurl', hub.topurl, ...builds.map((b) => String(b.id))],
    { env: CLI_ENV, extendEnv: false });

  log('serve bench: debuginfod -R scanning the serve corpus');
  const dbg = startServer(corpus.dir, join(work, 'debuginfod.sqlite'), DEBUGINFOD_PORT, join(work, 'debuginfod.log'));
  const procs: ResultPromise[] = [];
  try {
    await waitScan(dbg, corpus.rpms.length);
    const df = serve(localDb, DARKFORGE_PORT, join(work, 'cache-local'), join(work, 'darkforge.log'));
    const dfKoji = serve(kojiDb, DARKFORGE_KOJI_PORT, join(work, 'cache-koji'), join(work, 'darkforge-koji.log'));
    procs.push(df, dfKoji);
    await waitHttp(`http://127.0.0.1:${DARKFORGE_PORT}/serverversion`);
    await waitHttp(`http://127.0.0.1:${DARKFORGE_KOJI_PORT}/serverversion`);

    // First request of a file nobody asked for yet, one per package (each its own RPM):
    // debuginfod extracts it from the RPM on its disk; darkforge from the RPM on disk, and
    // from Koji (download, check, extract).
    const bases = {
      debuginfod: `http://127.0.0.1:${DEBUGINFOD_PORT}`,
      darkforge: `http://127.0.0.1:${DARKFORGE_PORT}`,
      'darkforge, RPM from Koji': `http://127.0.0.1:${DARKFORGE_KOJI_PORT}`,
    };
    const first: FirstRequest[] = [];
    for (const [server, base] of Object.entries(bases)) {
      const ms: number[] = [];
      for (const p of corpus.packages.slice(1)) ms.push(await timedGet(`${base}/buildid/${p.exeId}/debuginfo`));
      first.push({ server, ms, medianMs: median(ms) });
      log(`serve bench: first request, ${server}: median ${median(ms).toFixed(1)} ms`);
    }

    // Throughput and latency on a file both have ready (package 1's debuginfo, ~1 MB).
    const file = corpus.packages[0];
    const floorFile = join(work, 'floor.debug');
    writeFileSync(floorFile, Buffer.from(await (await fetch(`${bases.darkforge}/buildid/${file.exeId}/debuginfo`)).arrayBuffer()));
    const floor = execa(process.execPath, ['-e', FLOOR_SERVER, floorFile, String(FLOOR_PORT)], { reject: false });
    procs.push(floor);
    await waitHttp(`http://127.0.0.1:${FLOOR_PORT}/`);
    const cases: ServeCase[] = [];
    const urls = { floor: `http://127.0.0.1:${FLOOR_PORT}/floor.debug` };
    for (const server of ['darkforge', 'debuginfod', 'floor'] as const) {
      const url = server === 'floor' ? urls.floor : `${bases[server]}/buildid/${file.exeId}/debuginfo`;
      await timedGet(url); // now cached
      await wrk(url, 4, 1); // warm up (JIT, page cache, fdcache)
      for (const method of ['GET', 'HEAD'] as const) {
        for (const c of input.connections) {
          if (server === 'debuginfod' && method === 'HEAD') {
            cases.push({ server, method, connections: c, skipped: `${version} answers HEAD with 400 (GET only)` });
            continue;
          }
          const result = method === 'GET' ? await wrk(url, c, input.seconds) : await abHead(url, c, input.seconds, work);
          cases.push({ server, method, connections: c, result });
          log(`serve bench: ${server} ${method} c=${c}: ${result.requestsPerSec.toFixed(0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms${result.non2xx ? `, ${result.non2xx} non-2xx` : ''}`);
        }
      }
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    const out: ServeChildOutput = { version, cases, first, file: { buildId: file.exeId, bytes: file.debugSize }, cpus: (await import('node:os')).availableParallelism(), load };
    writeFileSync(outFile, JSON.stringify(out));
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs);
    await stopServer(dbg);
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`serve-child: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
