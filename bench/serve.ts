// The serve section of the benchmark (issue 14): darkserver serve side by side with elfutils'
// debuginfod on the same RPMs, driven by wrk: requests/s and p50/p99 latency for a cached ~1 MB
// debuginfo file, GET (wrk) and HEAD (ApacheBench), at 1, 16 and 64 connections; and the first request of a file
// whose RPM must be read (darkforge also when it must be fetched from Koji). Everything runs in a
// private network namespace (serve-child.ts), as debuginfod 0.188 binds every interface.
import { inNetns } from './debuginfod.ts';
import { ceilingRow, infoRow, msec, skippedRow, times, type Row } from './report.ts';
import type { ServeChildInput, ServeChildOutput } from './serve-child.ts';
import { ensureServeCorpus } from './serve-corpus.ts';

export const SERVE_TARGET = { p99Ms16: 5, throughputVsDebuginfod: 1 };
export const SERVE_TOOLS = ['rpmbuild', 'rpm', 'gcc', 'debuginfod', 'wrk', 'ab', 'unshare', 'ip', 'python3'];

export async function serveBench(work: string, seconds: number): Promise<ServeChildOutput> {
  const corpus = await ensureServeCorpus();
  return inNetns<ServeChildInput, ServeChildOutput>('serve-child.ts', { work, corpus, seconds, connections: [1, 16, 64] }, 'serve bench');
}

export function serveRows(s: ServeChildOutput): Row[] {
  const rows: Row[] = [];
  const kb = (s.file.bytes / 1024).toFixed(0);
  const find = (server: string, method: string, c: number) => s.cases.find((x) => x.server === server && x.method === method && x.connections === c);
  for (const method of ['GET', 'HEAD'] as const) {
    for (const c of [1, 16, 64]) {
      const ours = find('darkforge', method, c);
      const theirs = find('debuginfod', method, c);
      const floor = find('floor', method, c)?.result;
      const what = `serve ${method} cached debuginfo (${kb} KiB), ${c} conn`;
      if (!ours?.result) { rows.push(skippedRow(what, ours?.skipped ?? 'not measured')); continue; }
      const o = ours.result;
      const fig = `${o.requestsPerSec.toFixed(0)} req/s, p50 ${msec(o.p50Ms)}, p99 ${msec(o.p99Ms)}`;
      const bad = o.non2xx || o.errors ? ` (${o.non2xx} non-2xx${o.errors ? `, ${o.errors}` : ''})` : '';
      if (theirs?.result) {
        const t = theirs.result;
        const ratio = o.requestsPerSec / t.requestsPerSec;
        rows.push({
          measure: `${what}: req/s`, value: `${fig}${bad}`,
          against: `debuginfod ${t.requestsPerSec.toFixed(0)} req/s, p50 ${msec(t.p50Ms)}, p99 ${msec(t.p99Ms)}`,
          ratio: `${times(ratio)} its throughput`, target: `>= ${SERVE_TARGET.throughputVsDebuginfod}x debuginfod`,
          pass: Number.isFinite(ratio) && !o.non2xx ? ratio >= SERVE_TARGET.throughputVsDebuginfod : false,
        });
      } else {
        rows.push(infoRow(`${what}: req/s`, `${fig}${bad}`, theirs?.skipped ? `debuginfod: ${theirs.skipped}` : ''));
      }
      if (c === 16 && method === 'GET') rows.push(ceilingRow(`${what}: p99`, o.p99Ms, msec(o.p99Ms), SERVE_TARGET.p99Ms16, `${SERVE_TARGET.p99Ms16} ms`));
      if (floor) {
        rows.push(infoRow(`${what}: node:http floor`, `${floor.requestsPerSec.toFixed(0)} req/s, p50 ${msec(floor.p50Ms)}, p99 ${msec(floor.p99Ms)}`,
          `darkforge ${o.requestsPerSec.toFixed(0)} req/s`, `darkforge at ${times(o.requestsPerSec / floor.requestsPerSec)} of it`));
      }
    }
  }
  const dbgFirst = s.first.find((f) => f.server === 'debuginfod');
  for (const f of s.first) {
    if (f.server === 'debuginfod') continue;
    rows.push(infoRow(`serve first request, file not cached (${f.server})`, msec(f.medianMs),
      dbgFirst ? `debuginfod ${msec(dbgFirst.medianMs)} (RPM on its disk)` : '', `median of ${f.ms.length} RPMs`));
  }
  return rows;
}

export function serveNotes(s: ServeChildOutput): string[] {
  return [
    `serve: ${s.version} and darkserver serve, both with their default settings (both log every request), on ${s.cpus} CPUs shared with wrk (-t 2) and with whatever else runs on this machine (load average ${s.load.join(' ')} at the end); wrk runs as long against each, one after the other.`,
    `serve floor: a node:http server that only sends the same bytes from memory, one write per request (no routes, index, log or disk read), to tell darkforge's cost from this machine's. By Little's law, 16 connections with p99 <= ${SERVE_TARGET.p99Ms16} ms need a mean under ${SERVE_TARGET.p99Ms16} ms, i.e. >= ${(16 / SERVE_TARGET.p99Ms16 * 1000).toFixed(0)} req/s of a ${(s.file.bytes / 1024).toFixed(0)} KiB file = ${(16 / SERVE_TARGET.p99Ms16 * 1000 * s.file.bytes / 2 ** 30).toFixed(1)} GiB/s through loopback, wrk included.`,
    'serve first request: darkforge from the RPM on disk (local index), and after a header-first import from the fake Koji hub (the RPM is downloaded, checked against its SIGMD5, then the file extracted); debuginfod can only read the RPM on its disk.',
  ];
}
