// A fake Koji hub for tests: test/fake-koji/hub.py (python3, standard library only) serving
// XML-RPC on {base}{hub_path} and package files on {base}{files_path}, with injectable faults.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './paths.ts';

export const HUB_PY = join(ROOT, 'test', 'fake-koji', 'hub.py');

export interface FakeRpmSpec {
  id: number;
  name: string;
  version: string;
  release: string;
  nvr: string;
  arch: string;
  epoch: number | null;
  /** hex SIGMD5 */
  payloadhash: string;
  /** what the hub reports (may differ from the file, e.g. above 2^31 to exercise <i8>) */
  size: number;
  build_id: number;
  /** absolute path of the bytes served; absent or null: the download URL answers 404 */
  file?: string | null;
  buildtime?: number;
}

export interface FakeBuildSpec {
  id: number;
  package_id: number;
  package_name: string;
  name: string;
  version: string;
  release: string;
  epoch: number | null;
  nvr: string;
  /** 0 BUILDING, 1 COMPLETE, 2 DELETED, 3 FAILED, 4 CANCELED */
  state: number;
  volume_name: string;
  task_id: number | null;
  /** successive getBuild answers use these states; the last repeats */
  state_sequence?: number[];
  /** not visible (getBuild, listBuilds, listRPMs, getRPM) until this many seconds after the hub started; then created and completed then, with a new event */
  appear_after_s?: number;
  /** with appear_after_s: visible only this much later, stamped at its appear time (a late commit) */
  commit_delay_s?: number;
  /** not visible until POST /_control {"appear": [id]} (or {"appear_late": {id: seconds}}) */
  hidden?: boolean;
  rpms: FakeRpmSpec[];
}

export interface FakeFaults {
  /** the next N XML-RPC POSTs answer HTTP 503 */
  rpc_503: number;
  /** the next N file GETs answer 503 */
  file_503: number;
  /** the next N file GETs send headers and half the body, then reset the connection */
  drop_file: number;
  /** the next N XML-RPC POSTs are reset without a response */
  drop_rpc: number;
  /** file GETs answer 200 with the whole file whatever the Range (no Accept-Ranges header) */
  ignore_range: boolean;
  /** NVRAs ("n-v-r.arch") served with one payload byte flipped */
  corrupt: string[];
  /** NVRAs that always answer 503 */
  fail_forever: string[];
  /** pause between 64 KiB chunks of a file body */
  slow_file_ms: number;
  /** the next N file GETs announce the whole body, send half of it and close cleanly (FIN) */
  close_file: number;
  /** drop_file and close_file count only GETs whose body holds the middle of the payload, and cut there */
  cut_in_payload: boolean;
  /** file bodies go without Content-Length, delimited by closing the connection */
  no_content_length: boolean;
  /** the next N file GETs send their headers, then wait stall_ms before the body */
  stall_file: number;
  /** the next N XML-RPC POSTs wait stall_ms before answering */
  stall_rpc: number;
  /** length of a stall (default 30000) */
  stall_ms: number;
  /** the next N XML-RPC POSTs answer 200 text/xml with a cut-off, malformed document */
  rpc_garbage: number;
  /** the next N XML-RPC POSTs answer 200 text/html with a maintenance page */
  rpc_html: number;
  /** the next N XML-RPC POSTs answer with an XML-RPC fault (1000, "injected fault: ...") */
  rpc_fault: number;
  /** the next N XML-RPC POSTs announce their body, send half and close cleanly */
  close_rpc: number;
  /** every XML-RPC POST and file GET/HEAD (not /_control) waits this long before it is answered; concurrent requests wait side by side */
  latency_ms: number;
  /** build ids whose getBuild and listRPMs answer an XML-RPC fault (inside a multicall: that call's result) */
  fault_builds: number[];
  /** the next `count` XML-RPC POSTs get this error answer; a list: one POST each, in order */
  rpc_error: ErrorShape | Omit<ErrorShape, 'count'>[] | null;
  /** the next `count` file GETs get this error answer; a list: one GET each, in order */
  file_error: ErrorShape | Omit<ErrorShape, 'count'>[] | null;
  /** every request in scope gets the error answer until `until` (epoch seconds; `seconds` from now through control()) */
  outage: (Partial<ErrorShape> & { scope?: 'hub' | 'files' | 'both'; until?: number; seconds?: number }) | null;
  /** the next N POSTs answer fault 1014 (ServerOffline, "database outage") for the whole call */
  rpc_offline: number;
  /** the next N calls inside multicalls answer fault 1014 ("Server disabled for maintenance") */
  multicall_offline: number;
}

export const ERROR_TYPES = [null, 'text/plain', 'text/html', 'application/xml'] as const;
export const ERROR_BODIES = ['empty', 'short', 'big', 'chunked', 'cut', 'close', 'reset'] as const;

/** An error answer the fake hub can send (README.md beside hub.py). */
export interface ErrorShape {
  count: number;
  status: number;
  /** Content-Type; null: none */
  type: (typeof ERROR_TYPES)[number];
  body: (typeof ERROR_BODIES)[number];
  /** sent verbatim as Retry-After */
  retry_after?: string | number;
  /** only requests whose path contains this get the answer (the others pass) */
  path?: string;
}

export interface FakeKojiConfig {
  log: string;
  /** The address to listen on (default 127.0.0.1), e.g. a test lab's hostAddress (helpers/netns.ts). */
  bind?: string;
  /** default "/kojihub" */
  hub_path?: string;
  /** default "/kojifiles" */
  files_path?: string;
  builds: FakeBuildSpec[];
  faults?: Partial<FakeFaults>;
  /** other documents served whole, url path -> file (kickstarts, comps); file_error and outage apply */
  extra_files?: Record<string, string>;
}

export interface LogLine {
  /** seconds since the epoch */
  t: number;
  method: 'GET' | 'POST' | 'HEAD' | string;
  path: string;
  range: string | null;
  /** null when the connection was dropped without a response */
  status: number | null;
  /** body bytes actually written to the socket */
  bytes: number;
  /** XML-RPC method, or the inner method names of a multicall; null for other requests */
  rpc: string | (string | null)[] | null;
  /** the fault that shaped this answer, if any */
  fault: 'rpc_503' | 'drop_rpc' | 'file_503' | 'drop_file' | 'corrupt' | 'fail_forever' | 'close_file' | 'stall_file'
    | 'stall_rpc' | 'rpc_garbage' | 'rpc_html' | 'rpc_fault' | 'close_rpc' | 'rpc_error' | 'file_error' | 'outage'
    | 'rpc_offline' | 'multicall_offline' | null;
  /** the client's source port: one per TCP connection */
  port: number;
}

export interface FakeKoji {
  /** http://127.0.0.1:PORT */
  base: string;
  /** base + hub_path */
  hub: string;
  /** base + files_path */
  topurl: string;
  /** every logged request so far (the /_control endpoint is not logged) */
  requests(): LogLine[];
  /** sum of `bytes` over the lines `filter` keeps; by default, GETs under files_path */
  bytesServed(filter?: (l: LogLine) => boolean): number;
  /** wait until some logged lines satisfy `ready` (e.g. the line of an aborted download) */
  waitForRequests(ready: (lines: LogLine[]) => boolean, timeoutMs?: number): Promise<LogLine[]>;
  /**
   * POST /_control: {faults: {...}} merges, {build_state: {"<id>": state}} pins a build's state (a change is an event; leaving
   * BUILDING completes the build now), {appear: [id]} makes hidden builds visible now, {appear_late: {"<id>": s}} visible now but stamped s seconds ago
   */
  control(body: object): Promise<void>;
  /** GET /_control: current faults, build states, getBuild call counts, visible build ids and the hub's last event */
  status(): Promise<{ faults: FakeFaults; build_state: Record<string, number>; getBuild_calls: Record<string, number>; visible: number[];
    last_event: { id: number; ts: number } }>;
  stop(): Promise<void>;
}

const live = new Set<{ child: ChildProcess; dir: string }>();
process.on('exit', () => {
  for (const h of live) {
    try { h.child.kill('SIGKILL'); } catch { /* already gone */ }
    rmSync(h.dir, { recursive: true, force: true });
  }
});

function unrefAll(child: ChildProcess, ref: boolean): void {
  for (const s of [child.stdout, child.stderr] as unknown as (Socket | null)[]) {
    if (s) { if (ref) s.ref(); else s.unref(); }
  }
  if (ref) child.ref(); else child.unref();
}

/** Start the fake hub on 127.0.0.1 (or config.bind) on a free port. Stop it with stop(); a forgotten one dies with the test process. */
export async function startFakeKoji(config: Omit<FakeKojiConfig, 'log'>): Promise<FakeKoji> {
  const dir = mkdtempSync(join(tmpdir(), 'fake-koji-'));
  const log = join(dir, 'requests.jsonl');
  const hubPath = config.hub_path ?? '/kojihub';
  const filesPath = config.files_path ?? '/kojifiles';
  const cfgFile = join(dir, 'config.json');
  writeFileSync(cfgFile, JSON.stringify({ ...config, hub_path: hubPath, files_path: filesPath, log }));

  const child = spawn('python3', [HUB_PY, cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = { child, dir };
  live.add(handle);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => { stderr = (stderr + s).slice(-65536); });
  let exited = false;
  const exitP = new Promise<void>((res) => child.once('exit', () => { exited = true; res(); }));

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const fail = (why: string): void => {
        clearTimeout(timer);
        reject(new Error(`fake koji hub ${why}: ${stderr.trim() || '(no stderr)'}`));
      };
      const timer = setTimeout(() => fail('did not print PORT within 10 s'), 10_000);
      child.once('error', (e) => fail(`could not start (${e.message})`));
      child.once('exit', (code, sig) => fail(`exited (${code ?? sig}) before listening`));
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (s: string) => {
        out += s;
        const m = /^PORT (\d+)\r?\n/.exec(out);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
        else if (out.includes('\n')) fail(`printed "${out.split('\n')[0]}" instead of PORT`);
      });
    });
  } catch (e) {
    child.kill('SIGKILL');
    await exitP;
    live.delete(handle);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  unrefAll(child, false);

  const base = `http://${config.bind ?? '127.0.0.1'}:${port}`;
  const requests = (): LogLine[] => {
    let text: string;
    try { text = readFileSync(log, 'utf8'); } catch { return []; }
    const end = text.lastIndexOf('\n');
    return end < 0 ? [] : text.slice(0, end).split('\n').map((l) => JSON.parse(l) as LogLine);
  };
  const isFile = (l: LogLine): boolean => l.method === 'GET' && l.path.startsWith(`${filesPath}/`);
  let stopped: Promise<void> | undefined;

  return {
    base,
    hub: base + hubPath,
    topurl: base + filesPath,
    requests,
    bytesServed: (filter = isFile) => requests().filter(filter).reduce((n, l) => n + l.bytes, 0),
    async waitForRequests(ready, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const lines = requests();
        if (ready(lines)) return lines;
        if (Date.now() > until) throw new Error(`fake koji: log not ready after ${timeoutMs} ms (${lines.length} lines)`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async control(body) {
      const res = await fetch(`${base}/_control`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`fake koji /_control answered ${res.status}: ${text}`);
    },
    async status() {
      const res = await fetch(`${base}/_control`);
      if (!res.ok) throw new Error(`fake koji /_control answered ${res.status}`);
      return (await res.json()) as Awaited<ReturnType<FakeKoji['status']>>;
    },
    stop() {
      stopped ??= (async () => {
        unrefAll(child, true);
        if (!exited) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exitP;
          clearTimeout(timer);
        }
        live.delete(handle);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

// ---- RPM files -> builds, with a minimal header reader of its own ----

const TAG = { SIGMD5: 1004, NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, ARCH: 1022, SOURCERPM: 1044 } as const;

interface Header { tags: Map<number, { type: number; offset: number; count: number }>; store: Buffer; end: number }

function readAt(fd: number, pos: number, len: number, what: string): Buffer {
  const b = Buffer.alloc(len);
  if (readSync(fd, b, 0, len, pos) !== len) throw new Error(`${what}: truncated`);
  return b;
}

function readHeader(fd: number, pos: number, what: string): Header {
  const intro = readAt(fd, pos, 16, what);
  if (intro.readUInt32BE(0) !== 0x8eade801) throw new Error(`${what}: no header magic at ${pos}`);
  const n = intro.readUInt32BE(8);
  const size = intro.readUInt32BE(12);
  const body = readAt(fd, pos + 16, n * 16 + size, what);
  const tags = new Map<number, { type: number; offset: number; count: number }>();
  for (let i = 0; i < n; i++) {
    tags.set(body.readUInt32BE(i * 16), { type: body.readUInt32BE(i * 16 + 4), offset: body.readUInt32BE(i * 16 + 8), count: body.readUInt32BE(i * 16 + 12) });
  }
  return { tags, store: body.subarray(n * 16), end: pos + 16 + n * 16 + size };
}

function str(h: Header, tag: number): string | undefined {
  const e = h.tags.get(tag);
  if (!e) return undefined;
  const z = h.store.indexOf(0, e.offset);
  return h.store.toString('utf8', e.offset, z < 0 ? h.store.length : z);
}

interface RpmFacts { file: string; name: string; version: string; release: string; epoch: number | null; arch: string; srcNvr: string; sigmd5: string; size: number }

function rpmFacts(file: string): RpmFacts {
  const fd = openSync(file, 'r');
  try {
    if (readAt(fd, 0, 4, file).readUInt32BE(0) !== 0xedabeedb) throw new Error(`${file}: not an RPM (lead magic)`);
    const sig = readHeader(fd, 96, `${file} signature`);
    const md5 = sig.tags.get(TAG.SIGMD5);
    if (!md5 || md5.type !== 7 || md5.count !== 16) throw new Error(`${file}: no SIGMD5`);
    const main = readHeader(fd, (sig.end + 7) & ~7, `${file} header`);
    const need = (tag: number): string => {
      const v = str(main, tag);
      if (v === undefined) throw new Error(`${file}: header tag ${tag} missing`);
      return v;
    };
    const e = main.tags.get(TAG.EPOCH);
    const name = need(TAG.NAME);
    const version = need(TAG.VERSION);
    const release = need(TAG.RELEASE);
    const source = str(main, TAG.SOURCERPM);
    return {
      file, name, version, release,
      epoch: e ? main.store.readInt32BE(e.offset) : null,
      arch: source === undefined ? 'src' : need(TAG.ARCH),
      srcNvr: source === undefined ? `${name}-${version}-${release}` : source.replace(/\.src\.rpm$/, '').replace(/\.nosrc\.rpm$/, ''),
      sigmd5: sig.store.toString('hex', md5.offset, md5.offset + 16),
      size: statSync(file).size,
    };
  } finally {
    closeSync(fd);
  }
}

function splitNvr(nvr: string): [string, string, string] {
  const r = nvr.lastIndexOf('-');
  const v = nvr.lastIndexOf('-', r - 1);
  if (v <= 0) throw new Error(`cannot split "${nvr}" into name-version-release`);
  return [nvr.slice(0, v), nvr.slice(v + 1, r), nvr.slice(r + 1)];
}

/**
 * Group RPM files into Koji builds by their SOURCERPM's N-V-R. Build ids count up from firstId
 * (default 1000) in sorted N-V-R order; rpm ids are build id * 100 + 1, 2, ... in sorted NVRA
 * order. Nothing is skipped: two files with one NVRA both appear (the hub serves the first).
 */
export function buildsFromRpmDir(files: string[], opts: { firstId?: number } = {}): FakeBuildSpec[] {
  const firstId = opts.firstId ?? 1000;
  const groups = new Map<string, RpmFacts[]>();
  for (const f of files) {
    const facts = rpmFacts(f);
    const g = groups.get(facts.srcNvr);
    if (g) g.push(facts); else groups.set(facts.srcNvr, [facts]);
  }
  const nvrs = [...groups.keys()].sort();
  const packages = [...new Set(nvrs.map((n) => splitNvr(n)[0]))].sort();
  return nvrs.map((nvr, i) => {
    const [name, version, release] = splitNvr(nvr);
    const id = firstId + i;
    const members = groups.get(nvr)!;
    const nvra = (r: RpmFacts): string => `${r.name}-${r.version}-${r.release}.${r.arch}`;
    members.sort((a, b) => (nvra(a) < nvra(b) ? -1 : nvra(a) > nvra(b) ? 1 : a.file < b.file ? -1 : 1));
    return {
      id,
      package_id: packages.indexOf(name) + 1,
      package_name: name,
      name,
      version,
      release,
      epoch: (members.find((r) => r.name === name) ?? members[0]).epoch,
      nvr,
      state: 1,
      volume_name: 'DEFAULT',
      task_id: id * 10,
      rpms: members.map((r, k) => ({
        id: id * 100 + k + 1,
        name: r.name,
        version: r.version,
        release: r.release,
        nvr: `${r.name}-${r.version}-${r.release}`,
        arch: r.arch,
        epoch: r.epoch,
        payloadhash: r.sigmd5,
        size: r.size,
        build_id: id,
        file: r.file,
      })),
    };
  });
}

/** The download path of an rpm under topurl, as koji.PathInfo builds it. */
export function rpmPath(build: FakeBuildSpec, rpm: FakeRpmSpec): string {
  return `packages/${build.package_name}/${build.version}/${build.release}/${rpm.arch}/${rpm.nvr}.${rpm.arch}.rpm`;
}
