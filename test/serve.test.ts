// darkserver serve with real clients: gdb and elfutils' debuginfod-find against the crash
// fixture's RPMs, the original darkserver JSON routes, lazy fetching from a fake Koji hub (one
// download however many requests), federation (an upstream that answers, one that hangs), the
// cache bound, a full cache disk, hostile requests, and a graceful SIGTERM.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, tempDir } from './helpers/cli.ts';
import {
  CRASH_RPMS, CRASH_SRC, crashCore, DEBUGINFO_RPM, DEBUGSOURCE_RPM, extractRpm, frames, lineOf, NVR, SOURCES, type CrashFiles,
} from './helpers/crash.ts';
import { buildsFromRpmDir, FakeKoji, rpmPath, startFakeKoji } from './helpers/fake-koji.ts';
import { startServe, type Served } from './helpers/serve.ts';

// A server that fails keeps failing here: a short retry budget, not the default five minutes.
const FAST = { DARKFORGE_BACKOFF_MS: '5', DARKFORGE_RETRY_TIME: '0.5' };
const crashRpms = readdirSync(CRASH_RPMS).filter((f) => f.endsWith('.rpm')).map((f) => join(CRASH_RPMS, f));

/** The reference bytes: every file of the crash RPMs as rpm2cpio | cpio writes it. */
function reference(): string {
  const dir = tempDir('df-serve-ref-');
  for (const r of crashRpms) extractRpm(r, dir);
  return dir;
}

function indexCrash(): string {
  const db = join(tempDir('df-serve-db-'), 'index.sqlite');
  const r = run('darkserver', ['index', '--db', db, CRASH_RPMS]);
  assert.equal(r.code, 0, r.stderr);
  return db;
}

function buildIdOf(file: string): string {
  const r = spawnSync('readelf', ['-n', '--wide', file], { encoding: 'utf8' });
  return /Build ID:\s*([0-9a-f]+)/.exec(r.stdout)![1];
}

/** Raw bytes on a socket: what curl and fetch would normalise (../, %2e) goes out as written. */
function raw(url: string, request: string | Buffer): Promise<{ status: number; head: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head, ...rest] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), head, body: rest.join('\r\n\r\n') });
    });
    s.write(request);
  });
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

async function metric(base: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = text.split('\n').find((l) => line.test(l));
  return m ? Number(m.split(' ').pop()) : 0;
}

/** Wait until the server's stderr has a line matching `re` (a synchronous client blocked our reads). */
async function logged(srv: Served, re: RegExp): Promise<void> {
  for (let i = 0; i < 100 && !re.test(srv.stderr()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(srv.stderr(), re);
}

function debuginfodFind(base: string, cache: string, ...args: string[]) {
  return spawnSync('debuginfod-find', args, { encoding: 'utf8', env: { ...process.env, DEBUGINFOD_URLS: base, DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_PROGRESS: '' } });
}

describe('darkserver serve on a local index of the crash fixture', () => {
  let srv: Served;
  let crash: CrashFiles;
  let ref: string;
  let cacheDir: string;
  let db: string;
  before(async () => {
    db = indexCrash();
    ref = reference();
    crash = crashCore(tempDir('df-serve-core-'));
    cacheDir = tempDir('df-serve-cache-');
    srv = await startServe(['--db', db, '--cache-dir', cacheDir]);
  });
  after(async () => {
    assert.equal(await srv?.stop(), 0, 'SIGTERM stops the server with exit 0');
  });

  test('gdb with DEBUGINFOD_URLS: the backtrace of the stripped program has function names, files and lines', async () => {
    const client = tempDir('df-gdb-cache-');
    const g = spawnSync('gdb', ['-nx', '-batch', '-iex', 'set debuginfod enabled on', '-ex', 'bt', '-ex', 'frame 1', '-ex', 'list', crash.exe, crash.core], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, DEBUGINFOD_URLS: srv.url, DEBUGINFOD_CACHE_PATH: client, DEBUGINFOD_PROGRESS: '' },
    });
    const out = `${g.stdout}\n${g.stderr}`;
    const bt = frames(g.stdout);
    assert.ok(bt.length >= 3, `no symbolic backtrace:\n${out}`);
    const [f0, f1, f2] = bt;
    assert.match(f0, /^dfcrash_value dfcrash-lib\.c:(\d+)$/);
    const l0 = Number(f0.split(':')[1]);
    assert.ok(l0 > lineOf('dfcrash-lib.c', 'long dfcrash_value') && l0 < lineOf('dfcrash-lib.c', 'return v * 2') + 2, `crash line ${l0}`);
    assert.equal(f1, `dfcrash_walk dfcrash-walk.c:${lineOf('dfcrash-walk.c', 'total += dfcrash_value(n);')}`);
    assert.equal(f2, `main dfcrash-main.c:${lineOf('dfcrash-main.c', 'long total = dfcrash_walk(list);')}`);
    // `list` printed the source gdb fetched through the server.
    assert.match(g.stdout, /\d+\s+for \(struct dfcrash_node \*n = list; ; n = n->next\) \{/);
    await logged(srv, new RegExp(`GET /buildid/${crash.libId}/debuginfo 200 \\d+ `));
    await logged(srv, new RegExp(`GET /buildid/${crash.exeId}/source${SOURCES[1].replace(/\./g, '\\.')} 200 `));
  });

  test('debuginfod-find gets debuginfo, executable and sources byte-identical to rpm2cpio | cpio', () => {
    const client = tempDir('df-find-cache-');
    const debugOf = (id: string): string => join(ref, 'usr', 'lib', 'debug', '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
    for (const [id, exe] of [[crash.exeId, 'usr/bin/dfcrash'], [crash.libId, 'usr/lib64/libdfcrash.so.1']]) {
      const d = debuginfodFind(srv.url, client, 'debuginfo', id);
      assert.equal(d.status, 0, d.stderr);
      assert.ok(readFileSync(d.stdout.trim()).equals(readFileSync(debugOf(id))), `debuginfo of ${id}`);
      const e = debuginfodFind(srv.url, client, 'executable', id);
      assert.equal(e.status, 0, e.stderr);
      assert.ok(readFileSync(e.stdout.trim()).equals(readFileSync(join(ref, exe))), `executable ${exe}`);
    }
    for (const src of SOURCES) {
      const s = debuginfodFind(srv.url, client, 'source', crash.exeId, src);
      assert.equal(s.status, 0, s.stderr);
      assert.ok(readFileSync(s.stdout.trim()).equals(readFileSync(join(ref, src))), src);
      assert.ok(readFileSync(join(ref, src)).equals(readFileSync(join(CRASH_SRC, src.split('/').pop()!))), 'the RPM holds the fixture source');
    }
    const missing = debuginfodFind(srv.url, client, 'debuginfo', 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef');
    assert.notEqual(missing.status, 0);
  });

  test('headers: X-DEBUGINFOD-*, Content-Length always, HEAD without a body, 406 over X-DEBUGINFOD-MAXSIZE', async () => {
    const url = `${srv.url}/buildid/${crash.exeId}/debuginfo`;
    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), String(body.length));
    assert.equal(res.headers.get('x-debuginfod-size'), String(body.length));
    assert.equal(res.headers.get('x-debuginfod-file'), `/usr/lib/debug/usr/bin/dfcrash-1.0-1.fc40.x86_64.debug`);
    assert.equal(res.headers.get('x-debuginfod-archive'), `file://${DEBUGINFO_RPM}`);
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(body.length));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const small = await fetch(url, { headers: { 'X-DEBUGINFOD-MAXSIZE': '100' } });
    assert.equal(small.status, 406);
    assert.match(await small.text(), /more than the 100 bytes/);
    const src = await fetch(`${srv.url}/buildid/${crash.libId}/source${SOURCES[2]}`);
    assert.equal(src.headers.get('x-debuginfod-file'), SOURCES[2]);
    assert.equal(src.headers.get('x-debuginfod-archive'), `file://${DEBUGSOURCE_RPM}`);
    // An encoded path (libdebuginfod escapes each segment) names the same file.
    const enc = await fetch(`${srv.url}/buildid/${crash.libId}/source/usr/src/debug/${encodeURIComponent(`${NVR}.x86_64`)}/dfcrash%2Dlib.c`);
    assert.equal(enc.status, 200);
    assert.equal(await enc.text(), readFileSync(join(CRASH_SRC, 'dfcrash-lib.c'), 'utf8'));
  });

  test('section: .debug_line of the debuginfo, .text of the executable (NOBITS in the debuginfo)', async () => {
    const dump = (file: string, section: string): Buffer => {
      const out = join(tempDir(), 'sec');
      const r = spawnSync('objcopy', ['--dump-section', `${section}=${out}`, file, join(tempDir(), 'junk')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(out);
    };
    const dbg = join(ref, 'usr', 'lib', 'debug', '.build-id', crash.exeId.slice(0, 2), `${crash.exeId.slice(2)}.debug`);
    const line = await fetch(`${srv.url}/buildid/${crash.exeId}/section/.debug_line`);
    assert.equal(line.status, 200);
    assert.ok(Buffer.from(await line.arrayBuffer()).equals(dump(dbg, '.debug_line')));
    const text = await fetch(`${srv.url}/buildid/${crash.exeId}/section/.text`);
    assert.equal(text.status, 200);
    assert.ok(Buffer.from(await text.arrayBuffer()).equals(dump(join(ref, 'usr/bin/dfcrash'), '.text')));
    assert.equal((await fetch(`${srv.url}/buildid/${crash.exeId}/section/.no_such_section`)).status, 404);
  });

  test('--memory-cache 0: every answer read from disk, byte for byte the same as from memory; a bad size is refused', async () => {
    const paths = [`/buildid/${crash.exeId}/debuginfo`, `/buildid/${crash.exeId}/executable`, `/buildid/${crash.exeId}/section/.debug_line`];
    const fromMemory = await Promise.all(paths.map(async (p) => Buffer.from(await (await fetch(`${srv.url}${p}`)).arrayBuffer())));
    const disk = await startServe(['--db', db, '--cache-dir', cacheDir, '--memory-cache', '0']);
    try {
      for (const [i, p] of paths.entries()) {
        const r = await fetch(`${disk.url}${p}`);
        assert.equal(r.status, 200, p);
        assert.ok(Buffer.from(await r.arrayBuffer()).equals(fromMemory[i]), p);
      }
      assert.equal(await metric(disk.url, /^darkforge_memory_cache_bytes /), 0);
    } finally {
      assert.equal(await disk.stop(), 0);
    }
    const bad = run('darkserver', ['serve', '--db', db, '--memory-cache', 'lots']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^darkserver serve: --memory-cache "lots": expected a size such as 500M/);
  });

  test('darkserver JSON routes answer as the original did, bad ids are 400 JSON', async () => {
    const j = async (path: string): Promise<{ status: number; type: string | null; body: unknown }> => {
      const r = await fetch(`${srv.url}${path}`);
      return { status: r.status, type: r.headers.get('content-type'), body: await r.json() };
    };
    const one = await j(`/buildids/${crash.exeId}`);
    assert.equal(one.status, 200);
    assert.equal(one.type, 'application/json');
    const rows = one.body as Record<string, unknown>[];
    assert.deepEqual(rows.map((r) => r.elf).sort(), ['/usr/bin/dfcrash', '/usr/lib/debug/usr/bin/dfcrash-1.0-1.fc40.x86_64.debug']);
    for (const r of rows) {
      for (const k of ['buildid', 'elf', 'rpm', 'distro', 'url', 'type', 'arch', 'nvr', 'instance', 'kojibuildid', 'urls']) assert.ok(k in r, `field ${k}`);
      assert.equal(r.buildid, crash.exeId);
      assert.equal(r.distro, 'fc40');
    }
    const two = await j(`/buildids/${crash.exeId},${crash.libId},0123456789abcdef`);
    assert.equal((two.body as unknown[]).length, 4, 'both ids, each in the main and the -debuginfo RPM; the unknown one simply absent');
    assert.deepEqual((await j('/buildids/0123456789abcdef')).body, []);
    for (const bad of ['/buildids/xyz', '/buildids/12', `/buildids/${crash.exeId},nothex!`]) {
      const b = await j(bad);
      assert.equal(b.status, 400, bad);
      assert.match((b.body as { error: string }).error, /not a build-id/);
    }
    const byRpm = await j(`/rpm2buildids/${NVR}.x86_64.rpm`);
    assert.deepEqual((byRpm.body as { buildid: string }[]).map((r) => r.buildid).sort(), [crash.exeId, crash.libId].sort());
    assert.deepEqual((await j(`/rpm2buildids/${NVR}.x86_64`)).body, byRpm.body);
    assert.deepEqual((await j('/rpm2buildids/nope-1-1.x86_64')).body, []);
    assert.deepEqual((await j('/package/dfcrash-debugsource')).body, {
      url: `file://${DEBUGSOURCE_RPM}`, rpm: 'dfcrash-debugsource-1.0-1.fc40.x86_64', urls: [`file://${DEBUGSOURCE_RPM}`], kojibuildid: null, instance: 'local',
    });
    assert.deepEqual((await j('/package/no-such-package')).body, { url: '' });
    assert.equal(((await j('/serverversion')).body as Record<string, string>)['server-version'], '2.0');
    assert.deepEqual((await j(`/darkserver/buildids/${crash.exeId}`)).body, one.body, 'the original /darkserver mount point');
    const home = await fetch(`${srv.url}/`);
    assert.match(home.headers.get('content-type')!, /^text\/html/);
    assert.match(await home.text(), /\/buildids\/ID/);
  });

  test('hostile requests get a clear status, nothing from outside the cache, and the server keeps answering', async () => {
    const id = crash.exeId;
    const cases: [string, number][] = [
      [`/buildid/${id}/source/../../../../etc/passwd`, 400],
      [`/buildid/${id}/source/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd`, 400],
      [`/buildid/${id}/source/..%2f..%2f..%2f..%2fetc%2fpasswd`, 400],
      [`/buildid/${id}/source/usr/src/debug/x%00.c`, 400],
      [`/buildid/${id}/source/usr/src/debug/%zz.c`, 400],
      [`/buildid/${id}/source`, 400],
      [`/buildid/${id}/source/`, 400],
      [`/buildid/${id}/source/usr/src/debug/../../../etc/passwd`, 404],
      [`/buildid/${id}/source//etc/passwd`, 404],
      [`/buildid/${id}/source/usr/src/debug/${'x'.repeat(300)}.c`, 414],
      [`/buildid/${id}/executable/../../../etc/passwd`, 400],
      [`/buildid/../../../etc/passwd/debuginfo`, 400],
      ['/buildid/ZZZZ/debuginfo', 400],
      [`/buildid/${id}/symbols`, 400],
      ['/buildid/0123456789abcdef0123/debuginfo', 404],
      ['/etc/passwd', 404],
      ['/../../etc/passwd', 404],
    ];
    for (const [path, status] of cases) {
      const r = await raw(srv.url, get(path));
      assert.equal(r.status, status, `${path}: ${r.head}`);
      assert.doesNotMatch(r.body, /root:x:0:0/, path);
      assert.match(r.head, /\r\ncontent-length: \d+/i, `${path}: Content-Length always`);
      assert.ok(r.body.trim().length > 0, `${path}: a sentence says why`);
    }
    const post = await raw(srv.url, `POST /buildid/${id}/debuginfo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    assert.equal(post.status, 405);
    assert.match(post.head, /\r\nallow: GET, HEAD/i);
    const longUrl = await raw(srv.url, get(`/buildid/${id}/source/${'a/'.repeat(9000)}x.c`));
    assert.equal(longUrl.status, 414);
    const hugeLine = await raw(srv.url, get(`/buildid/${id}/source/${'a'.repeat(40_000)}`));
    assert.equal(hugeLine.status, 431);
    const hugeHeaders = await raw(srv.url, `GET /buildid/${id}/debuginfo HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 64 }, (_, i) => `X-Junk-${i}: ${'j'.repeat(1000)}\r\n`).join('')}Connection: close\r\n\r\n`);
    assert.equal(hugeHeaders.status, 431);
    const garbage = await raw(srv.url, Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n', 'latin1'));
    assert.equal(garbage.status, 400);
    // The cache holds only build-id folders and the files it was asked for.
    for (const name of readdirSync(cacheDir)) assert.match(name, /^[0-9a-f]{8,64}$/);
    const ok = await fetch(`${srv.url}/buildid/${id}/executable`);
    assert.equal(ok.status, 200, 'still answering');
    assert.ok(await metric(srv.url, /^http_requests_total\{type="invalid"\}/) >= 3);
  });

  test('/metrics: Prometheus text with requests by type and status, cache hits and bytes', async () => {
    const res = await fetch(`${srv.url}/metrics`);
    assert.match(res.headers.get('content-type')!, /^text\/plain/);
    const text = await res.text();
    assert.match(text, /^# TYPE http_requests_total counter$/m);
    assert.match(text, /^http_requests_total\{type="debuginfo"\} \d+$/m);
    assert.match(text, /^http_responses_duration_milliseconds_count\{code="200",type="source"\} \d+$/m);
    assert.match(text, /^http_responses_transfer_bytes_sum\{code="404",type="debuginfo"\} \d+$/m);
    assert.ok(await metric(srv.url, /^darkforge_cache_hits_total\{kind="debuginfo"\}/) >= 1);
    assert.ok(await metric(srv.url, /^darkforge_cache_bytes /) > 0);
    assert.ok(await metric(srv.url, /^darkforge_memory_cache_bytes /) > 0, 'small cached files are answered from memory');
    for (const l of text.trim().split('\n')) assert.match(l, /^(# (HELP|TYPE) \w+ .+|\w+(\{(\w+="[^"]*",?)+\})? -?\d+(\.\d+)?)$/, l);
  });
});

describe('darkserver serve from a fake Koji hub', () => {
  let k: FakeKoji;
  let db: string;
  const builds = buildsFromRpmDir(crashRpms, { firstId: 7000 });
  const build = builds[0];
  const rpmOf = (name: string) => build.rpms.find((r) => r.name === name)!;
  const exeId = buildIdOf(join(reference(), 'usr/bin/dfcrash'));
  before(async () => {
    k = await startFakeKoji({ builds });
    db = join(tempDir('df-serve-koji-'), 'index.sqlite');
    const r = run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, String(build.id), '--json'], FAST);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).rpms.indexed, 3);
  });
  after(async () => { await k?.stop(); });

  const filesGets = (name: string, from: number): number =>
    k.requests().slice(from).filter((l) => l.method === 'GET' && l.path === `/kojifiles/${rpmPath(build, rpmOf(name))}`).length;

  test('a header-first import: the first request fetches the RPM from Koji, the next ones come from the cache', async () => {
    const cache = tempDir('df-serve-kc-');
    const srv = await startServe(['--db', db, '--cache-dir', cache], FAST);
    try {
      const mark = k.requests().length;
      const first = await fetch(`${srv.url}/buildid/${exeId}/executable`);
      assert.equal(first.status, 200);
      const bytes = Buffer.from(await first.arrayBuffer());
      assert.equal(filesGets('dfcrash', mark), 1, 'one GET of the RPM');
      assert.match(first.headers.get('x-debuginfod-archive')!, new RegExp(`^${k.topurl}/packages/dfcrash/`));
      const mark2 = k.requests().length;
      const again = await fetch(`${srv.url}/buildid/${exeId}/executable`);
      assert.ok(Buffer.from(await again.arrayBuffer()).equals(bytes));
      assert.equal(k.requests().length, mark2, 'served from the cache: Koji not asked again');
      assert.equal(await metric(srv.url, /^darkforge_fetches_total\{source="koji",result="ok"\}/), 1);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });

  test('50 concurrent requests for files of one RPM: one download', async () => {
    const cache = tempDir('df-serve-kc-');
    const srv = await startServe(['--db', db, '--cache-dir', cache, '--jobs', '4'], FAST);
    try {
      const mark = k.requests().length;
      const paths = Array.from({ length: 50 }, (_, i) => `/buildid/${exeId}/source${SOURCES[i % SOURCES.length]}`);
      const answers = await Promise.all(paths.map(async (p) => {
        const r = await fetch(`${srv.url}${p}`);
        return { status: r.status, body: await r.text(), p };
      }));
      for (const a of answers) {
        assert.equal(a.status, 200, a.p);
        assert.equal(a.body, readFileSync(join(CRASH_SRC, a.p.split('/').pop()!), 'utf8'), a.p);
      }
      assert.equal(filesGets('dfcrash-debugsource', mark), 1, 'the -debugsource RPM was downloaded once');
      assert.equal(k.requests().slice(mark).filter((l) => l.method === 'GET').length, 1, 'and nothing else');
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });

  test('a damaged download is refused (SIGMD5), Koji failing is 502; nothing is cached; the server keeps answering', async () => {
    const cache = tempDir('df-serve-kc-');
    const srv = await startServe(['--db', db, '--cache-dir', cache, '--timeout', '2'], FAST);
    const nvra = (name: string): string => { const r = rpmOf(name); return `${r.nvr}.${r.arch}`; };
    try {
      await k.control({ faults: { corrupt: [nvra('dfcrash-debuginfo')], fail_forever: [nvra('dfcrash')] } });
      const bad = await fetch(`${srv.url}/buildid/${exeId}/debuginfo`);
      assert.equal(bad.status, 502);
      assert.match(await bad.text(), /checksum mismatch: content MD5 is [0-9a-f]+, the package's SIGMD5 is [0-9a-f]+: the file is damaged/);
      const down = await fetch(`${srv.url}/buildid/${exeId}/executable`);
      assert.equal(down.status, 502);
      assert.match(await down.text(), /no download source delivered the executable file \(http:\/\/127\.0\.0\.1:\d+\/kojifiles\/packages\/dfcrash\/.*HTTP 503/);
      const left = readdirSync(cache).filter((d) => d !== 'serve-rpms').flatMap((d) => readdirSync(join(cache, d)).map((f) => `${d}/${f}`));
      assert.deepEqual(left, [], 'no file of a failed fetch in the cache');
      assert.deepEqual(readdirSync(join(cache, 'serve-rpms')), [], 'no damaged RPM kept');
      await k.control({ faults: { corrupt: [], fail_forever: [] } });
      assert.equal((await fetch(`${srv.url}/buildid/${exeId}/debuginfo`)).status, 200, 'asked again once Koji is well: fetched');
      assert.ok(await metric(srv.url, /^darkforge_fetches_total\{source="koji",result="error"\}/) >= 1);
    } finally {
      await k.control({ faults: { corrupt: [], fail_forever: [] } });
      assert.equal(await srv.stop(), 0);
    }
  });

  test('SIGTERM: the request in flight is finished, then the server exits 0', async () => {
    const cache = tempDir('df-serve-kc-');
    const srv = await startServe(['--db', db, '--cache-dir', cache], FAST);
    await k.control({ faults: { stall_file: 1, stall_ms: 1500 } });
    try {
      const mark = k.requests().length;
      const pending = fetch(`${srv.url}/buildid/${exeId}/debuginfo`);
      await k.waitForRequests((lines) => lines.slice(mark).some((l) => l.fault === 'stall_file'));
      const code = srv.stop('SIGTERM');
      const res = await pending;
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, Number(res.headers.get('content-length')));
      assert.equal(await code, 0);
      assert.match(srv.stderr(), /SIGTERM: not accepting new connections/);
      await assert.rejects(fetch(`${srv.url}/metrics`), 'no longer listening');
    } finally {
      await k.control({ faults: { stall_file: 0, stall_ms: 30000 } });
      await srv.stop('SIGKILL');
    }
  });
});

describe('darkserver serve: federation, cache bound, full disk', () => {
  let db: string;
  let crash: { exeId: string; libId: string };
  let ref: string;
  before(() => {
    db = indexCrash();
    ref = reference();
    crash = { exeId: buildIdOf(join(ref, 'usr/bin/dfcrash')), libId: buildIdOf(join(ref, 'usr/lib64/libdfcrash.so.1')) };
  });

  test('--upstream: ids the index does not know come from the upstream server and are kept in the cache', async () => {
    const upstream = await startServe(['--db', db, '--cache-dir', tempDir()]);
    const emptyDb = join(tempDir(), 'empty.sqlite');
    assert.equal(run('darkserver', ['index', '--db', emptyDb, tempDir()]).code, 0);
    const cache = tempDir('df-serve-fed-');
    const front = await startServe(['--db', emptyDb, '--cache-dir', cache, '--upstream', upstream.url]);
    try {
      const r = await fetch(`${front.url}/buildid/${crash.libId}/debuginfo`, { headers: { 'User-Agent': 'test-agent/1' } });
      assert.equal(r.status, 200);
      const body = Buffer.from(await r.arrayBuffer());
      const dbg = join(ref, 'usr', 'lib', 'debug', '.build-id', crash.libId.slice(0, 2), `${crash.libId.slice(2)}.debug`);
      assert.ok(body.equals(readFileSync(dbg)));
      assert.equal(r.headers.get('x-debuginfod-file'), '/usr/lib/debug/usr/lib64/libdfcrash.so.1-1.0-1.fc40.x86_64.debug');
      assert.ok(existsSync(join(cache, crash.libId, 'debuginfo')));
      const src = await fetch(`${front.url}/buildid/${crash.libId}/source${SOURCES[2]}`);
      assert.equal(await src.text(), readFileSync(join(CRASH_SRC, 'dfcrash-lib.c'), 'utf8'), 'a source path goes upstream escaped as libdebuginfod does');
      assert.equal((await fetch(`${front.url}/buildid/0123456789abcdef/debuginfo`)).status, 404);
      await logged(upstream, new RegExp(`GET /buildid/${crash.libId}/debuginfo 200`));
      // Served from the cache now: the upstream is not asked again.
      await logged(upstream, /GET \/buildid\/0123456789abcdef\/debuginfo 404/);
      const before = (upstream.stderr().match(/GET \/buildid/g) ?? []).length;
      assert.equal((await fetch(`${front.url}/buildid/${crash.libId}/debuginfo`)).status, 200);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((upstream.stderr().match(/GET \/buildid/g) ?? []).length, before);
      // A request that already went through 8 servers is not sent on (loops end).
      const hops = await fetch(`${front.url}/buildid/${crash.exeId}/debuginfo`, { headers: { 'X-Forwarded-For': '1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4, 5.5.5.5, 6.6.6.6, 7.7.7.7, 8.8.8.8' } });
      assert.equal(hops.status, 404);
      assert.match(await hops.text(), /X-Forwarded-For/);
    } finally {
      assert.equal(await front.stop(), 0);
      assert.equal(await upstream.stop(), 0);
    }
  });

  test('an upstream that hangs: 504 after --timeout, and the server keeps answering', async () => {
    const sockets = new Set<Socket>();
    const hang: Server = createServer((s) => { sockets.add(s); s.on('error', () => undefined); }); // accepts, never answers
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const hangUrl = `http://127.0.0.1:${(hang.address() as { port: number }).port}`;
    const emptyDb = join(tempDir(), 'empty.sqlite');
    assert.equal(run('darkserver', ['index', '--db', emptyDb, tempDir()]).code, 0);
    const srv = await startServe(['--db', emptyDb, '--cache-dir', tempDir(), '--upstream', hangUrl, '--timeout', '1']);
    try {
      const t0 = Date.now();
      const r = await fetch(`${srv.url}/buildid/${crash.exeId}/debuginfo`);
      assert.equal(r.status, 504);
      assert.match(await r.text(), /no response within 1 s \(timeout\)/);
      assert.ok(Date.now() - t0 < 10_000, 'gave up after the timeout');
      assert.equal((await fetch(`${srv.url}/serverversion`)).status, 200);
    } finally {
      assert.equal(await srv.stop(), 0);
      for (const s of sockets) s.destroy();
      hang.close();
    }
  });

  test('--cache-size: least recently used files go first, a file being served is never removed', async () => {
    const cache = tempDir('df-serve-lru-');
    const sizes = {
      exe: statSync(join(ref, 'usr/bin/dfcrash')).size,
      lib: statSync(join(ref, 'usr/lib64/libdfcrash.so.1')).size,
    };
    // Room for the two executables but not for a third file on top.
    const limit = sizes.exe + sizes.lib + 100;
    const srv = await startServe(['--db', db, '--cache-dir', cache, '--cache-size', String(limit)]);
    const cached = (): string[] => readdirSync(cache).flatMap((d) => readdirSync(join(cache, d)).filter((f) => !f.startsWith('.')).map((f) => `${d}/${f}`)).sort();
    try {
      assert.equal((await fetch(`${srv.url}/buildid/${crash.exeId}/executable`)).status, 200);
      assert.equal((await fetch(`${srv.url}/buildid/${crash.libId}/executable`)).status, 200);
      assert.deepEqual(cached(), [`${crash.exeId}/executable`, `${crash.libId}/executable`].sort());
      // Use the first again: the library's executable is now the least recently used.
      assert.equal((await fetch(`${srv.url}/buildid/${crash.exeId}/executable`)).status, 200);
      assert.equal((await fetch(`${srv.url}/buildid/${crash.exeId}/source${SOURCES[3]}`)).status, 200);
      assert.deepEqual(cached(), [`${crash.exeId}/executable`, `${crash.exeId}/source-${SOURCES[3].replace(/\//g, '#')}`].sort());
      assert.equal(await metric(srv.url, /^darkforge_cache_evictions_total /), 1);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });

  test('--cache-size: a file being sent is never removed, even when it is the least recently used', async () => {
    const cache = tempDir('df-serve-pin-');
    // A 32 MiB file already in the cache (as a previous run would leave it): larger than what the
    // loopback socket buffers take, so a client that reads nothing keeps its answer in flight.
    const bigId = 'feedface00000000';
    mkdirSync(join(cache, bigId));
    writeFileSync(join(cache, bigId, 'executable'), Buffer.alloc(32 << 20, 7));
    const exeSize = statSync(join(ref, 'usr/bin/dfcrash')).size;
    const srv = await startServe(['--db', db, '--cache-dir', cache, '--cache-size', String((32 << 20) + exeSize + 100)]);
    const has = (rel: string): boolean => existsSync(join(cache, rel));
    try {
      const slow = await new Promise<Socket>((resolve) => {
        const s = connect(Number(new URL(srv.url).port), '127.0.0.1', () => resolve(s));
      });
      slow.on('error', () => undefined);
      slow.write(get(`/buildid/${bigId}/executable`));
      slow.pause(); // reads nothing: the answer stays in flight
      await new Promise((r) => setTimeout(r, 500));
      // Newer files push the cache over its bound; the big file is now the least recently used.
      for (const id of [crash.exeId, crash.libId]) assert.equal((await fetch(`${srv.url}/buildid/${id}/executable`)).status, 200);
      assert.ok(has(`${bigId}/executable`), 'the file in flight stayed');
      assert.ok(!has(`${crash.exeId}/executable`), 'an unpinned file went instead');
      slow.destroy();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await fetch(`${srv.url}/buildid/${crash.exeId}/executable`)).status, 200);
      assert.ok(!has(`${bigId}/executable`), 'released, the least recently used file goes first');
      assert.ok(has(`${crash.libId}/executable`) && has(`${crash.exeId}/executable`));
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });

  test('a full cache disk: 507 with a sentence, files already cached still served', { skip: process.getuid?.() !== 0 && 'mounting a small tmpfs for the cache needs root' }, async () => {
    const mnt = tempDir('df-serve-full-');
    // The tmpfs lives in a private mount namespace: it goes away with the server, whatever happens.
    const prep = 'mount -t tmpfs -o size=64k tmpfs "$0" && head -c 57344 /dev/zero > "$0/filler" && exec "$@"';
    const srv = await startServe(['--db', db, '--cache-dir', mnt], {}, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', prep, mnt]);
    try {
      const small = await fetch(`${srv.url}/buildid/${crash.exeId}/source${SOURCES[3]}`);
      assert.equal(small.status, 200, 'a small file still fits');
      const big = await fetch(`${srv.url}/buildid/${crash.exeId}/debuginfo`);
      assert.equal(big.status, 507);
      assert.match(await big.text(), /the cache disk is full/);
      const again = await fetch(`${srv.url}/buildid/${crash.exeId}/source${SOURCES[3]}`);
      assert.equal(again.status, 200);
      assert.equal(await again.text(), readFileSync(join(CRASH_SRC, 'dfcrash.h'), 'utf8'));
      assert.equal((await fetch(`${srv.url}/metrics`)).status, 200);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });

  test('--json: where it listens, as one JSON line on stdout', async () => {
    const srv = await startServe(['--db', db, '--cache-dir', tempDir(), '--json']);
    try {
      let out = '';
      srv.child.stdout!.on('data', (d: Buffer) => { out += d; });
      for (let i = 0; i < 100 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 20));
      const line = JSON.parse(out) as { url: string; port: number };
      assert.equal(line.url, srv.url);
      assert.equal(line.port, Number(new URL(srv.url).port));
    } finally {
      assert.equal(await srv.stop('SIGINT'), 0, 'SIGINT stops it with exit 0 too');
    }
  });

  test('bad flags and a missing index: one sentence, exit 2; a port in use: exit 1', async () => {
    const r1 = run('darkserver', ['serve', '--db', db, '--cache-size', 'lots']);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /^darkserver serve: --cache-size "lots": expected a size/);
    const r2 = run('darkserver', ['serve', '--db', join(tempDir(), 'none.sqlite')]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /no index database there yet/);
    const first = await startServe(['--db', db, '--cache-dir', tempDir()]);
    try {
      const port = new URL(first.url).port;
      const r3 = run('darkserver', ['serve', '--db', db, '--port', port]);
      assert.equal(r3.code, 1);
      assert.match(r3.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    } finally {
      await first.stop();
    }
  });
});
