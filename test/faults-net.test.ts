// Network faults for `darkserver import` and `darkserver find` against the fake Koji hub
// (test/fake-koji/hub.py): cut and reset transfers (with and without Content-Length), 503s,
// garbage answers, a silent hub (--timeout), bad checksums, a server that ignores Range; TLS
// verification and its one opt-out; the URL policy; FTP mirrors. The fault matrix runs in
// process (fast); a few runs of the commands check the contract around it: one sentence per
// problem on stderr, exit codes, no stack trace. soak/net-faults.test.ts runs the whole matrix
// through the commands.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { UserError } from '../src/lib/errors.ts';
import { findFile } from '../src/lib/find/finder.ts';
import { importBuilds, type ImportSummary } from '../src/lib/import/importer.ts';
import { openStore } from '../src/lib/store/open.ts';
import { KojiError } from '../src/lib/koji/client.ts';
import { resolveInstance, type KojiInstance } from '../src/lib/koji/instances.ts';
import { candidateUrls } from '../src/lib/koji/urls.ts';
import type { NetOptions } from '../src/lib/net/dispatcher.ts';
import { httpGetBounded } from '../src/lib/net/http-get.ts';
import { checkUrl, checkUrlPattern, isAllowedUrl, redactUrl } from '../src/lib/net/url-policy.ts';
import { FakeKoji, rpmPath, startFakeKoji } from './helpers/fake-koji.ts';
import { assertIndexed, assertNotIndexed, build, errorLines, FAST, HEADER_ONLY, HEADER_RPM, STREAMED, STREAMED_RPM, truth } from './helpers/net-faults.ts';
import { run, tempDir, type Run } from './helpers/cli.ts';
import { ROOT } from './helpers/paths.ts';

// Retries back off for milliseconds, not seconds, and give up after half a second (read when a
// client or download starts).
process.env.DARKFORGE_BACKOFF_MS = '5';
process.env.DARKFORGE_RETRY_TIME = '0.5';

const STREAMED_SIZE = STREAMED.rpms[0].size;
const executableOf = (nvra: string) => truth.find((t) => t.rpm === `${nvra}.rpm` && t.buildId && !t.path.startsWith('/usr/lib/debug/'))!;

/** Every fault off: the hub as healthy as it gets. */
const HEALTHY = {
  close_file: 0, drop_file: 0, cut_in_payload: false, no_content_length: false, ignore_range: false, file_503: 0,
  fail_forever: [], corrupt: [], stall_file: 0, stall_rpc: 0, rpc_503: 0, drop_rpc: 0, close_rpc: 0,
  rpc_garbage: 0, rpc_html: 0, rpc_fault: 0,
};

const instanceOf = (k: { hub: string; topurl: string }, extra: Partial<KojiInstance> = {}): KojiInstance =>
  ({ name: 'fake', hub: k.hub, topurl: k.topurl, mirrors: [], retrace: [], source: 'test', ...extra });

/** `darkserver import` in process: its summary and the one-sentence problems it reported. */
async function imp(k: { hub: string; topurl: string }, db: string, ids: number[],
  o: { full?: boolean; net?: NetOptions; retryFailed?: boolean; instance?: KojiInstance } = {}): Promise<{ sum: ImportSummary; errors: string[] }> {
  const store = await openStore(db);
  const errors: string[] = [];
  try {
    const sum = await importBuilds(store, {
      instance: o.instance ?? instanceOf(k), builds: ids.map(String), jobs: 2, full: o.full, net: o.net, retryFailed: o.retryFailed,
      onError: (subject, message) => errors.push(`${subject}: ${message}`),
    });
    return { sum, errors };
  } finally {
    await store.close();
  }
}

function buildState(db: string, kojiBuildId: number): string | undefined {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (d.prepare('SELECT state FROM import_builds WHERE koji_build_id = ?').get(kojiBuildId) as { state: string } | undefined)?.state;
  } finally {
    d.close();
  }
}

/** As run(), without blocking this process: for servers that live in it (the TLS front). */
function runAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), ...args], {
    env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', ...FAST, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

const URL_OF = (nvra: string) => new RegExp(`^${nvra.replace(/[.]/g, '\\.')}: http://127\\.0\\.0\\.1:\\d+/kojifiles/\\S+/${nvra.replace(/[.]/g, '\\.')}\\.rpm: `);

describe('import under network faults', () => {
  let k: FakeKoji;
  before(async () => { k = await startFakeKoji({ builds: [STREAMED, HEADER_ONLY], faults: { stall_ms: 20_000 } }); });
  after(async () => { await k?.stop(); });

  test('cut (with or without Content-Length), reset, 503, stalled, or whole-file answers: resumed or retried to exactly the right rows', async () => {
    const cases: [string, Record<string, unknown>, string | null][] = [
      ['cut mid-payload, Content-Length announced', { close_file: 1, cut_in_payload: true }, 'close_file'],
      ['cut, no Content-Length (Content-Range tells the size)', { no_content_length: true, close_file: 1, cut_in_payload: true }, 'close_file'],
      ['cut, no Content-Length, Range ignored (Koji\'s size tells)', { no_content_length: true, ignore_range: true, close_file: 1, cut_in_payload: true }, 'close_file'],
      ['reset mid-payload', { drop_file: 1, cut_in_payload: true }, 'drop_file'],
      ['reset mid-payload, Range ignored', { ignore_range: true, drop_file: 1, cut_in_payload: true }, 'drop_file'],
      ['download 503s', { file_503: 2 }, 'file_503'],
      ['download stalls once', { stall_file: 1 }, 'stall_file'],
      ['hub 503s', { rpc_503: 2 }, 'rpc_503'],
      ['hub resets', { drop_rpc: 1 }, 'drop_rpc'],
      ['hub answer cut', { close_rpc: 1 }, 'close_rpc'],
      ['hub stalls once', { stall_rpc: 1 }, 'stall_rpc'],
      ['Range ignored', { ignore_range: true }, null],
    ];
    for (const [what, faults, fault] of cases) {
      await k.control({ faults: { ...HEALTHY, ...faults } });
      const start = k.requests().length;
      const db = join(tempDir(), 'i.sqlite');
      const { sum, errors } = await imp(k, db, [STREAMED.id, HEADER_ONLY.id], { full: true, net: { timeoutMs: 500 } });
      assert.deepEqual(errors, [], what);
      assert.equal(sum.complete, true, what);
      assertIndexed(db, STREAMED_RPM);
      assertIndexed(db, HEADER_RPM);
      const lines = k.requests().slice(start);
      if (fault) assert.ok(lines.some((l) => l.fault === fault), `${what}: the fault was served`);
      else assert.ok(lines.filter((l) => l.method === 'GET').every((l) => l.status === 200), `${what}: whole files`);
    }
  });

  test('a cut transfer resumes from the first byte not received: nothing fetched twice', async () => {
    await k.control({ faults: { ...HEALTHY, close_file: 1, cut_in_payload: true } });
    const start = k.requests().length;
    const { sum } = await imp(k, join(tempDir(), 'i.sqlite'), [STREAMED.id], { full: true });
    assert.equal(sum.complete, true);
    const lines = k.requests().slice(start).filter((l) => l.path.endsWith(`/${STREAMED_RPM}.rpm`));
    const cut = lines.findIndex((l) => l.fault === 'close_file');
    const cutEnd = Number(/^bytes=(\d+)-/.exec(lines[cut].range!)![1]) + lines[cut].bytes;
    assert.equal(lines[cut + 1].range, `bytes=${cutEnd}-`);
    assert.equal(lines.reduce((n, l) => n + l.bytes, 0), STREAMED_SIZE);
  });

  test('persistent download faults: one sentence naming the RPM, no rows, the build failed; asking again finishes it', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ close_file: 1000 }, new RegExp(`transfer failed at byte \\d+ of ${STREAMED_SIZE} \\(connection closed before the end of the answer \\(UND_ERR_SOCKET\\)\\) after \\d+ attempts in [\\d.]+ s$`)],
      [{ drop_file: 1000 }, /transfer failed at byte \d+ of \d+ \((connection closed before the end of the answer|connection reset by the server) \(\w+\)\) after \d+ attempts in [\d.]+ s$/],
      [{ no_content_length: true, ignore_range: true, close_file: 1000, cut_in_payload: true }, new RegExp(`the server's copy ends at byte \\d+, ${STREAMED_SIZE} bytes expected$`)],
      [{ fail_forever: [STREAMED_RPM] }, /HTTP 503 \(Service Unavailable\) after \d+ attempts in [\d.]+ s$/],
      [{ stall_file: 1000 }, /transfer failed at byte 0 of \d+ \(no data within 0\.3 s \(timeout\)\) after \d+ attempts in [\d.]+ s$/],
    ];
    for (const [faults, what] of cases) {
      await k.control({ faults: { ...HEALTHY, ...faults } });
      const db = join(tempDir(), 'i.sqlite');
      const { sum, errors } = await imp(k, db, [STREAMED.id], { full: true, net: { timeoutMs: 300 } });
      assert.equal(sum.complete, false);
      assert.equal(sum.rpms.failed, 1);
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0], URL_OF(STREAMED_RPM));
      assert.match(errors[0], what);
      assert.doesNotMatch(errors[0], /\n/);
      assertNotIndexed(db, STREAMED_RPM);
      assert.equal(buildState(db, STREAMED.id), 'failed');
      await k.control({ faults: HEALTHY });
      const again = await imp(k, db, [STREAMED.id], { full: true });
      assert.deepEqual(again.errors, [], JSON.stringify(faults));
      assertIndexed(db, STREAMED_RPM);
      assert.equal(buildState(db, STREAMED.id), 'done');
    }
  });

  test('hub faults: 503s, garbage XML, an HTML page, a fault, resets and silence end the run in one sentence; a plain rerun finishes the queue', async () => {
    const cases: [Record<string, unknown>, RegExp, boolean][] = [
      [{ rpc_503: 1000 }, /gave HTTP 503 \(Service Unavailable\) after \d+ attempts in [\d.]+ s$/, true],
      [{ drop_rpc: 1000 }, /lost the connection \(.+\) after \d+ attempts in [\d.]+ s$/, true],
      [{ stall_rpc: 1000 }, /timed out \(UND_ERR_HEADERS_TIMEOUT, limit 300 ms\) after \d+ attempts in [\d.]+ s$/, true],
      [{ rpc_garbage: 1 }, /gave a response that is not XML-RPC \(malformed XML \(.+\)\)$/, false],
      [{ rpc_html: 1 }, /gave a response that is not XML-RPC \(.*<html>.*\)$/, false],
      [{ rpc_fault: 1 }, /failed: fault 1000: injected fault: the hub is having a bad day$/, false],
    ];
    for (const [faults, what, retried] of cases) {
      await k.control({ faults: { ...HEALTHY, ...faults } });
      const db = join(tempDir(), 'i.sqlite');
      const start = k.requests().length;
      await assert.rejects(imp(k, db, [STREAMED.id], { net: { timeoutMs: 300 } }), (e: unknown) => {
        assert.ok(e instanceof KojiError, String(e));
        assert.equal(e.exitCode, 1);
        assert.match(e.message, /^Koji hub http:\/\/127\.0\.0\.1:\d+\/kojihub: multicall of 2 getBuild\/listRPMs calls /);
        assert.match(e.message, what);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
      // One line per POST; a stalled one is logged when the stall starts (status null).
      const posts = k.requests().slice(start).filter((l) => l.method === 'POST' && (l.status !== null || l.fault === 'drop_rpc' || l.fault === 'stall_rpc')).length;
      assert.ok(retried ? posts > 1 : posts === 1, `${JSON.stringify(faults)}: ${retried ? 'retried' : 'asked once'} (${posts} POSTs)`);
      assert.equal(buildState(db, STREAMED.id), 'queued');
      assertNotIndexed(db, STREAMED_RPM);
      await k.control({ faults: HEALTHY });
      const resume = await imp(k, db, []);
      assert.deepEqual(resume.errors, []);
      assert.equal(resume.sum.complete, true);
      assertIndexed(db, STREAMED_RPM);
    }
  });

  test('checksums: a corrupted payload, a wrong payloadhash, a wrong size: rejected, nothing indexed, both values named', async () => {
    const builds = structuredClone([STREAMED, HEADER_ONLY, build('df-nolinks-1.0-1')]);
    builds[1].rpms[0].payloadhash = 'f'.repeat(32);
    builds[2].rpms[0].size += 1;
    const k2 = await startFakeKoji({ builds, faults: { corrupt: [STREAMED_RPM] } });
    try {
      const db = join(tempDir(), 'i.sqlite');
      const { sum, errors } = await imp(k2, db, builds.map((b) => b.id), { full: true });
      assert.equal(sum.rpms.failed, 3);
      const size = builds[2].rpms[0].size;
      assert.deepEqual(errors.map((e) => e.replace(/content MD5 is [0-9a-f]{32}/, 'content MD5 is X')).sort(), [
        `${HEADER_RPM}: checksum mismatch: the package's SIGMD5 is ${HEADER_ONLY.rpms[0].payloadhash}, Koji's payloadhash is ${'f'.repeat(32)}`,
        `${STREAMED_RPM}: checksum mismatch: content MD5 is X, the package's SIGMD5 is ${STREAMED.rpms[0].payloadhash}: the file is damaged`,
        `df-nolinks-1.0-1.x86_64: file is ${size - 1} bytes, Koji says ${size}`,
      ].sort());
      assert.doesNotMatch(errors.join(' '), new RegExp(`content MD5 is ${STREAMED.rpms[0].payloadhash}`));
      for (const b of builds) assertNotIndexed(db, `${b.rpms[0].nvr}.${b.rpms[0].arch}`);
      await k2.control({ faults: { corrupt: [] } });
      const again = await imp(k2, db, [STREAMED.id], { full: true });
      assert.deepEqual(again.errors, []);
      assertIndexed(db, STREAMED_RPM);
    } finally {
      await k2.stop();
    }
  });
});

describe('find under network faults', () => {
  let k: FakeKoji;
  let db: string;
  const exe = executableOf(STREAMED_RPM);
  const find = async (net: NetOptions) => {
    const store = await openStore(db);
    const fallbacks: string[] = [];
    const cacheDir = tempDir();
    try {
      const r = await findFile(store, { kind: 'executable', buildId: exe.buildId! }, { cacheDir, net, onFallback: (u, m) => fallbacks.push(`${u}: ${m}`) });
      return { r, fallbacks, cacheDir };
    } catch (e) {
      return { e, fallbacks, cacheDir };
    } finally {
      await store.close();
    }
  };
  before(async () => {
    k = await startFakeKoji({ builds: [STREAMED], faults: { stall_ms: 20_000 } });
    db = join(tempDir(), 'i.sqlite');
    assert.deepEqual((await imp(k, db, [STREAMED.id])).errors, []);
  });
  after(async () => { await k?.stop(); });

  test('cut, reset, truncated-without-length, 503, stalled and Range-ignoring transfers still deliver the right file', async () => {
    for (const faults of [
      { close_file: 1, cut_in_payload: true }, { drop_file: 1, cut_in_payload: true },
      { no_content_length: true, close_file: 1, cut_in_payload: true }, { file_503: 2 }, { stall_file: 1 },
      { ignore_range: true, drop_file: 1, cut_in_payload: true },
    ]) {
      await k.control({ faults: { ...HEALTHY, ...faults } });
      const { r, e, fallbacks } = await find({ timeoutMs: 500 });
      assert.ok(r, `${JSON.stringify(faults)}: ${e}`);
      assert.deepEqual(fallbacks, []);
      assert.equal(scanElfBuffer(readFileSync(r.path)).buildId, exe.buildId);
    }
  });

  test('persistent failures: exit 1 in one sentence, each source tried once, nothing left in the cache', async () => {
    // (A download that stalls every time: soak/net-faults.test.ts.)
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ fail_forever: [STREAMED_RPM] }, /: HTTP 503 \(Service Unavailable\) after \d+ attempts in [\d.]+ s$/],
      [{ drop_file: 1000 }, /: transfer failed at byte \d+ of \d+ \(.+\) after \d+ attempts in [\d.]+ s$/],
      [{ corrupt: [STREAMED_RPM] }, /does not (match|decompress)|checksum|damaged|bad cpio/],
    ];
    for (const [faults, what] of cases) {
      await k.control({ faults: { ...HEALTHY, ...faults } });
      const { e, fallbacks, cacheDir } = await find({ timeoutMs: 300 });
      assert.ok(e instanceof UserError && e.exitCode === 1, String(e));
      assert.match(e.message, new RegExp(`^${exe.buildId}: no download source delivered the executable file \\(http://\\S+\\.rpm: [^;]+\\)$`));
      // One RPM, one URL, one attempt (hard-linked paths share it): its failure is said once, in the error.
      assert.deepEqual(fallbacks, [], 'no "trying the next source" when there is none');
      assert.match(e.message, /\(http:\/\/127\.0\.0\.1:\d+\/kojifiles\/\S+\.rpm: (?!http)/, 'the URL is said once');
      assert.match(e.message.replace(/\)$/, ''), what);
      const dir = join(cacheDir, exe.buildId!);
      assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], 'no file, no partial file');
    }
    await k.control({ faults: HEALTHY });
  });
});

describe('the commands: exit codes and one sentence per problem on stderr', () => {
  let k: FakeKoji;
  before(async () => { k = await startFakeKoji({ builds: [STREAMED, HEADER_ONLY] }); });
  after(async () => { await k?.stop(); });
  const importCmd = (db: string, args: string[]) =>
    run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...args], FAST);

  test('import: a failed RPM is one line naming it and the summary line, exit 1; the other build is imported', async () => {
    await k.control({ faults: { ...HEALTHY, fail_forever: [STREAMED_RPM] } });
    const db = join(tempDir(), 'i.sqlite');
    const r = importCmd(db, [String(STREAMED.id), String(HEADER_ONLY.id)]);
    assert.equal(r.code, 1);
    const lines = errorLines(r, 'import');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0], new RegExp(`^darkserver import: ${STREAMED_RPM}: http://\\S+\\.rpm: HTTP 503 \\(Service Unavailable\\) after \\d+ attempts in [\\d.]+ s$`));
    assert.match(lines[1], /^darkserver import: not every requested build was imported/);
    assertNotIndexed(db, STREAMED_RPM);
    assertIndexed(db, HEADER_RPM);
  });

  test('import: a hub failure is one line, exit 1', async () => {
    await k.control({ faults: { ...HEALTHY, rpc_html: 1 } });
    const r = importCmd(join(tempDir(), 'i.sqlite'), [String(STREAMED.id)]);
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r, 'import').length, 1, r.stderr);
    assert.match(r.stderr, /^darkserver import: Koji hub http:\/\/127\.0\.0\.1:\d+\/kojihub: multicall of 2 getBuild\/listRPMs calls gave a response that is not XML-RPC/);
  });

  test('--timeout must be a positive number of seconds: exit 2', () => {
    for (const v of ['0', 'soon']) {
      const r = importCmd(join(tempDir(), 'i.sqlite'), ['--timeout', v, '1']);
      assert.equal(r.code, 2, r.stderr);
      assert.deepEqual(errorLines(r, 'import'), [`darkserver import: --timeout "${v}": expected a number of seconds above 0 and at most 86400`]);
    }
  });

  test('find: the only source failing is one error, exit 1', async () => {
    await k.control({ faults: HEALTHY });
    const db = join(tempDir(), 'i.sqlite');
    assert.deepEqual((await imp(k, db, [STREAMED.id])).errors, []);
    await k.control({ faults: { ...HEALTHY, fail_forever: [STREAMED_RPM] } });
    const r = run('darkserver', ['find', 'executable', executableOf(STREAMED_RPM).buildId!, '--db', db], { ...FAST, XDG_CACHE_HOME: tempDir() });
    assert.equal(r.code, 1);
    const lines = errorLines(r, 'find');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /: no download source delivered the executable file \(http:\/\/\S+\.rpm: HTTP 503 \(Service Unavailable\) after \d+ attempts in [\d.]+ s\)$/);
    await k.control({ faults: HEALTHY });
  });
});

// ---- TLS -------------------------------------------------------------------------------------

/** A TLS front for the fake hub with a self-signed certificate made now; counts failed handshakes. */
async function tlsFront(k: FakeKoji): Promise<{ base: string; server: HttpsServer; refused: () => number; stop: () => Promise<void> }> {
  const dir = tempDir();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const target = new URL(k.base);
  let refused = 0;
  const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('tlsClientError', () => { refused++; });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    refused: () => refused,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('TLS: verification always on, --insecure the one way off', () => {
  let k: FakeKoji;
  let front: Awaited<ReturnType<typeof tlsFront>>;
  let hub: { hub: string; topurl: string };
  const db = join(tempDir(), 'tls.sqlite');
  before(async () => {
    k = await startFakeKoji({ builds: [STREAMED] });
    front = await tlsFront(k);
    hub = { hub: `${front.base}/kojihub`, topurl: `${front.base}/kojifiles` };
  });
  after(async () => { await front?.stop(); await k?.stop(); });

  const certError = (host: string) => new RegExp(`the TLS certificate of ${host.replace(/[.]/g, '\\.')} is not trusted \\(it is self-signed; --insecure skips the check\\)`);

  test('import: a self-signed hub is refused in one sentence naming the host, not retried, whatever the environment or profile says', async () => {
    const host = new URL(front.base).host;
    const dir = tempDir();
    const profile = join(dir, 'tls.conf');
    writeFileSync(profile, `[tls]\nserver = ${hub.hub}\ntopurl = ${hub.topurl}\ninsecure = true\n`);
    for (const [args, env] of [
      [['--hub', hub.hub, '--topurl', hub.topurl], {}],
      // Neither the environment variable nor an "insecure" key in a profile turns verification off.
      [['--config', profile], { NODE_TLS_REJECT_UNAUTHORIZED: '0' }],
    ] as [string[], NodeJS.ProcessEnv][]) {
      const before = front.refused();
      const r = await runAsync(['import', ...args, '--db', db, String(STREAMED.id)], env);
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r, 'import').filter((l) => !/NODE_TLS_REJECT_UNAUTHORIZED/.test(l));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^darkserver import: Koji hub https://${host.replace(/[.]/g, '\\.')}/kojihub: multicall of 2 getBuild\/listRPMs calls cannot connect: `));
      assert.match(lines[0], certError(host));
      assert.equal(front.refused() - before, 1, 'one handshake: a certificate problem is not retried');
    }
    assert.equal(k.requests().length, 0, 'nothing got through to the hub');
    assertNotIndexed(db, STREAMED_RPM);
  });

  test('import --insecure: warned about, and it works', async () => {
    const r = await runAsync(['import', '--hub', hub.hub, '--topurl', hub.topurl, '--db', db, '--insecure', String(STREAMED.id)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'darkserver import: warning: --insecure: TLS certificates are not verified in this run\n');
    assertIndexed(db, STREAMED_RPM);
  });

  test('find: the RPM on a self-signed server is refused without --insecure, fetched with it', async () => {
    const host = new URL(front.base).host;
    const exe = truth.find((t) => t.rpm === `${STREAMED_RPM}.rpm` && t.buildId && !t.path.startsWith('/usr/lib/debug/'))!;
    const r = await runAsync(['find', 'executable', exe.buildId!, '--db', db], { XDG_CACHE_HOME: tempDir(), NODE_TLS_REJECT_UNAUTHORIZED: '0' });
    assert.equal(r.code, 1, r.stderr);
    const lines = errorLines(r, 'find').filter((l) => !/NODE_TLS_REJECT_UNAUTHORIZED/.test(l));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], certError(host));
    assert.doesNotMatch(lines[0], /after \d+ attempts/, 'not retried');
    const ok = await runAsync(['find', 'executable', exe.buildId!, '--db', db, '--insecure'], { XDG_CACHE_HOME: tempDir() });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /^darkserver find: warning: --insecure/);
    assert.equal(scanElfBuffer(readFileSync(ok.stdout.trim())).buildId, exe.buildId);
  });

  test('kickstart and comps fetches verify too, even with NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment', async () => {
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const warn = process.emitWarning;
    process.emitWarning = () => undefined; // Node warns about the variable itself
    try {
      await assert.rejects(httpGetBounded(new URL(`${front.base}/kojifiles/x.ks`), { timeoutMs: 10_000, maxBytes: 1000, what: 'kickstart' }),
        (e: unknown) => e instanceof UserError && /^cannot fetch kickstart: the TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(it is self-signed\)$/.test((e as Error).message));
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
      process.emitWarning = warn;
    }
  });

  test('no source file turns verification off except the one dispatcher, and only for --insecure', () => {
    const files = readdirSync(join(ROOT, 'src'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
    const mentions = (re: RegExp) => files.filter((f) => re.test(readFileSync(join(ROOT, 'src', f), 'utf8'))).sort();
    assert.deepEqual(mentions(/rejectUnauthorized/), ['lib/net/dispatcher.ts']);
    assert.deepEqual(mentions(/env(\.NODE_TLS_REJECT_UNAUTHORIZED|\[['"]NODE_TLS_REJECT_UNAUTHORIZED['"]\])\s*=[^=]|checkServerIdentity|secureOptions/), []);
    assert.match(readFileSync(join(ROOT, 'src', 'lib', 'net', 'dispatcher.ts'), 'utf8'), /rejectUnauthorized: !insecure/);
    assert.deepEqual(mentions(/\binsecure\b/).filter((f) => !/^lib\/(net|koji|import|find)\/|^lib\/cli\/net-flags\.ts$|^commands\/darkserver\/(import|find)\.ts$/.test(f)), []);
  });
});

// ---- URL policy ------------------------------------------------------------------------------

describe('URL schemes: http, https, ftp and file only', () => {
  test('checkUrl: allowed schemes pass; others are one sentence naming where the URL came from', () => {
    for (const u of ['http://h/x', 'https://h:8443/x', 'ftp://h/pub/x.rpm', 'file:///srv/x.rpm', 'file://localhost/srv/x']) {
      assert.equal(checkUrl(u, 'test').href, new URL(u).href);
      assert.equal(isAllowedUrl(u), true, u);
    }
    const bad: [string, RegExp][] = [
      ['gopher://h/x', /^mirror in a\.conf: "gopher:\/\/h\/x" is not an http, https, ftp or file URL \(gopher: is not allowed here\)$/],
      ['javascript:alert(1)', /is not an http, https, ftp or file URL \(javascript: is not allowed here\)$/],
      ['data:text/plain,hi', /\(data: is not allowed here\)$/],
      ['not a url', /^mirror in a\.conf: "not a url" is not a URL/],
      ['file://elsewhere/etc/passwd', /a file: URL must be local/],
      ['https://', /is not a URL/],
    ];
    for (const [u, re] of bad) {
      assert.throws(() => checkUrl(u, 'mirror in a.conf'), (e: unknown) => e instanceof UserError && e.exitCode === 2 && re.test(e.message), u);
      assert.equal(isAllowedUrl(u), false, u);
    }
    assert.throws(() => checkUrl('ftp://h/kojihub', 'Koji hub', ['http', 'https']), { message: 'Koji hub: "ftp://h/kojihub" is not an http(s) URL (ftp: is not allowed here)' });
    assert.equal(checkUrlPattern('https://m/{first}/{nvra}.rpm', 'p'), 'https://m/{first}/{nvra}.rpm');
    assert.throws(() => checkUrlPattern('{scheme}://m/{nvra}', 'p'), /is not a URL pattern/);
    assert.throws(() => checkUrlPattern('gopher://m/{nvra}', 'p'), /gopher: is not allowed/);
  });

  test('passwords never appear in messages', () => {
    assert.equal(redactUrl('ftp://me:s3cret@h/pub/'), 'ftp://me:***@h/pub/');
    assert.equal(redactUrl('https://h/x'), 'https://h/x');
    assert.throws(() => checkUrl('gopher://me:s3cret@h/', 'x'), (e: unknown) => !(e as Error).message.includes('s3cret'));
    const r = run('darkserver', ['import', '--hub', 'http://me:s3cret@127.0.0.1:9/kojihub', '--db', join(tempDir(), 'i.sqlite'), '1'], FAST);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr + r.stdout, /s3cret/);
    assert.match(r.stderr, /^darkserver import: Koji hub http:\/\/me:\*\*\*@127\.0\.0\.1:9\/kojihub: .*ECONNREFUSED/);
  });

  test('--hub, --topurl and profile URLs are checked before any work: one sentence naming where each came from', () => {
    const dir = tempDir();
    const bad: [Parameters<typeof resolveInstance>[0], RegExp][] = [
      [{ hub: 'gopher://k/kojihub' }, /^--hub: "gopher:\/\/k\/kojihub" is not an http\(s\) URL \(gopher: is not allowed here\)$/],
      [{ hub: 'file:///srv/kojihub' }, /^--hub: "file:\/\/\/srv\/kojihub" is not an http\(s\) URL/],
      [{ hub: 'http://k/kojihub', topurl: 'ftp://k/kojifiles' }, /^--topurl: "ftp:\/\/k\/kojifiles" is not an http, https or file URL/],
      [{ hub: 'http://k/kojihub', topurl: 'javascript:x' }, /^--topurl: "javascript:x" is not an http, https or file URL/],
    ];
    for (const [name, keys] of [['m1', 'mirrors = gopher://m/{nvra}.rpm'], ['m2', 'retrace = https://m/{nvra}.rpm {scheme}://m/{nvra}.rpm'],
      ['m3', 'topurl = data:text/plain,x']]) {
      const f = join(dir, `${name}.conf`);
      writeFileSync(f, `[${name}]\nserver = http://k/kojihub\n${keys}\n`);
      bad.push([{ config: f }, new RegExp(`^${f.replace(/[.]/g, '\\.')}: \\[${name}\\] (mirrors|retrace|topurl): "(gopher://m/|\\{scheme\\}|data:)`)]);
    }
    for (const [o, re] of bad) {
      assert.throws(() => resolveInstance(o), (e: unknown) => e instanceof UserError && e.exitCode === 2 && re.test(e.message), JSON.stringify(o));
    }
    const good = join(dir, 'ok.conf');
    writeFileSync(good, '[ok]\nserver = https://k/kojihub\ntopurl = file:///srv/koji\nmirrors = ftp://m/{nvra}.rpm file:///mnt/{nvra}.rpm\n');
    assert.deepEqual(resolveInstance({ config: good }).mirrors, ['ftp://m/{nvra}.rpm', 'file:///mnt/{nvra}.rpm']);
    // The command says the same, exit 2, before it opens anything.
    const db = join(dir, 'never.sqlite');
    const r = run('darkserver', ['import', '--hub', 'gopher://k/kojihub', '--db', db, '1'], FAST);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'darkserver import: --hub: "gopher://k/kojihub" is not an http(s) URL (gopher: is not allowed here)\n');
    assert.equal(existsSync(db), false);
  });

  test('download candidates leave out URLs of other schemes (patterns saved before the policy)', () => {
    const rpm = { name: 'hello', version: '1', release: '1.fc40', arch: 'x86_64' };
    assert.deepEqual(candidateUrls(rpm, 'https://koji/p/hello-1-1.fc40.x86_64.rpm', {
      mirrors: ['gopher://m/{nvra}.rpm', 'ftp://m/{first}/{nvra}.rpm', 'file:///srv/{nvra}.rpm'], retrace: ['javascript:{nvra}', 'https://r/{nvra}.rpm'],
    }), ['ftp://m/h/hello-1-1.fc40.x86_64.rpm', 'file:///srv/hello-1-1.fc40.x86_64.rpm', 'https://koji/p/hello-1-1.fc40.x86_64.rpm', 'https://r/hello-1-1.fc40.x86_64.rpm']);
  });

  test('a file: topurl imports from a local copy of the package store', async () => {
    const k = await startFakeKoji({ builds: [STREAMED, HEADER_ONLY] });
    try {
      const top = tempDir();
      for (const b of [STREAMED, HEADER_ONLY]) {
        for (const r of b.rpms.filter((x) => x.arch !== 'src')) {
          const p = join(top, rpmPath(b, r));
          mkdirSync(join(p, '..'), { recursive: true });
          symlinkSync(r.file!, p);
        }
      }
      const db = join(tempDir(), 'i.sqlite');
      const { sum, errors } = await imp({ hub: k.hub, topurl: pathToFileURL(top).href }, db, [STREAMED.id, HEADER_ONLY.id]);
      assert.deepEqual(errors, []);
      assert.equal(sum.complete, true);
      assertIndexed(db, STREAMED_RPM);
      assertIndexed(db, HEADER_RPM);
      assert.equal(k.requests().filter((l) => l.method === 'GET').length, 0, 'nothing downloaded');
    } finally {
      await k.stop();
    }
  });
});

// ---- FTP mirrors (pyftpdlib, as the staging tests use) -------------------------------------

const PY = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import pyftpdlib']).status === 0);

describe('find: FTP mirrors', { skip: !PY && 'python3-pyftpdlib is not installed' }, () => {
  test('an ftp:// mirror delivers; a file missing there falls back to Koji; the password is never shown', async () => {
    const root = tempDir();
    const mirror = join(root, 'pub');
    mkdirSync(mirror);
    copyFileSync(STREAMED.rpms[0].file!, join(mirror, `${STREAMED_RPM}.rpm`)); // pyftpdlib refuses links out of its root
    const ftp = spawn(PY!, ['-m', 'pyftpdlib', '-i', '127.0.0.1', '-p', '0', '-d', root, '-u', 'mirror', '-P', 's3cret'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let seen = '';
        const timer = setTimeout(() => reject(new Error(`pyftpdlib did not start: ${seen}`)), 15_000);
        ftp.stderr!.on('data', (d: Buffer) => {
          seen += d.toString();
          const m = /starting FTP server on 127\.0\.0\.1:(\d+)/.exec(seen);
          if (m) { clearTimeout(timer); resolve(Number(m[1])); }
        });
      });
      const k = await startFakeKoji({ builds: [STREAMED, HEADER_ONLY] });
      try {
        const inst = instanceOf(k, { name: 'ftpmirror', mirrors: [`ftp://mirror:s3cret@127.0.0.1:${port}/pub/{nvra}.rpm`] });
        const db = join(tempDir(), 'i.sqlite');
        assert.deepEqual((await imp(k, db, [STREAMED.id, HEADER_ONLY.id], { instance: inst })).errors, []);
        const gets = k.requests().filter((l) => l.method === 'GET').length;
        const store = await openStore(db);
        try {
          const fallbacks: string[] = [];
          const opts = { cacheDir: tempDir(), onFallback: (u: string, m: string) => fallbacks.push(`${u}: ${m}`) };
          const exe = executableOf(STREAMED_RPM);
          const r = await findFile(store, { kind: 'executable', buildId: exe.buildId! }, opts);
          assert.equal(r.url, `ftp://mirror:***@127.0.0.1:${port}/pub/${STREAMED_RPM}.rpm`);
          assert.equal(scanElfBuffer(readFileSync(r.path)).buildId, exe.buildId);
          assert.equal(k.requests().filter((l) => l.method === 'GET').length, gets, 'Koji was not asked');
          assert.deepEqual(fallbacks, []);

          const ko = executableOf(HEADER_RPM);
          const fb = await findFile(store, { kind: 'executable', buildId: ko.buildId! }, opts);
          assert.ok(fb.url!.startsWith(k.topurl), fb.url);
          assert.equal(fallbacks.length, 1, fallbacks.join(' | '));
          assert.match(fallbacks[0], new RegExp(`^ftp://mirror:\\*\\*\\*@127\\.0\\.0\\.1:${port}/pub/${HEADER_RPM}\\.rpm: FTP 550 `));
          assert.doesNotMatch(JSON.stringify([r, fb, fallbacks]), /s3cret/);
        } finally {
          await store.close();
        }
      } finally {
        await k.stop();
      }
    } finally {
      ftp.kill();
    }
  });
});
