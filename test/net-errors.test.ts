// Every error answer a server (or the proxy in front of it) can give, on every request path, in
// process: the Koji hub (KojiClient), the package store (HttpSource), `darkserver import`
// (importBuilds), `darkserver find` (findFile) and imagebuild's side repository (planSideRepo,
// buildSideRepo). The fake hub sends each shape: status x content type x body (empty, short, 1 MB,
// chunked, cut mid-body, ended by closing, reset). Each gives one clean sentence or a successful
// retry, never markup in a message and never an unhandled 'error' event. The units under it (one
// line out of a body, Retry-After, the outage lines) are checked on their own first.
// test/net-commands.test.ts runs every content type and body through the commands, and the outages.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { DownloadError, UserError } from '../src/lib/errors.ts';
import { scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { findFile } from '../src/lib/find/finder.ts';
import { buildSideRepo, planSideRepo } from '../src/lib/image/siderepo.ts';
import { importBuilds } from '../src/lib/import/importer.ts';
import { KojiClient, KojiError } from '../src/lib/koji/client.ts';
import type { KojiInstance } from '../src/lib/koji/instances.ts';
import { bodyLine, retryAfterMs } from '../src/lib/net/http-error.ts';
import { HttpSource } from '../src/lib/net/http-source.ts';
import { formatDuration, OutageLog } from '../src/lib/net/outages.ts';
import { RetryClock } from '../src/lib/net/retry.ts';
import { readRpmHeaders } from '../src/lib/rpm/reader.ts';
import { openStore } from '../src/lib/store/open.ts';
import { ERROR_BODIES, ERROR_TYPES, type FakeKoji, rpmPath, startFakeKoji } from './helpers/fake-koji.ts';
import { esc, phrase, RETRIED, type Shape, STATUSES } from './helpers/error-shapes.ts';
import { assertIndexed, assertNotIndexed, HEADER_ONLY, HEADER_RPM, STREAMED, STREAMED_RPM, truth } from './helpers/net-faults.ts';
import { tempDir } from './helpers/cli.ts';

const FAST = { backoffMs: 1, maxBackoffMs: 20 };

// ---- units ---------------------------------------------------------------------------------------

describe('one line out of an error body', () => {
  const b = (s: string | Buffer): Buffer => (Buffer.isBuffer(s) ? s : Buffer.from(s));
  test('real servers\' pages: the line that says something, never markup', () => {
    const cases: [string | undefined, string | Buffer, number, string][] = [
      // Apache: title and heading repeat the status; the paragraph is the news.
      ['text/html; charset=iso-8859-1', '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>503 Service Unavailable</title>\n</head><body>\n<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n</body></html>\n', 503,
        'The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.'],
      // haproxy's 503
      [undefined, '<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n', 503, 'No server is available to handle this request.'],
      // nginx
      ['text/html', '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n', 502, 'nginx/1.24.0'],
      ['text/html', '<html><head><title>Koji is down for maintenance</title></head><body><h1>Maintenance</h1></body></html>', 503, 'Koji is down for maintenance'],
      ['text/html', '<html><head><script>var t = "<title>no</title>";</script><style>h1{}</style></head><body><!-- <h1>hidden</h1> --><h2>Quota &gt; 100&#37; &#x2014; try later</h2></body></html>', 429, 'Quota > 100% — try later'],
      // koji's own error_reply (text/plain), S3's XML, an XML-RPC fault in a 500, problem+json
      ['text/plain', '\n\n  Request Timeout: read timed out\nmore\n', 408, 'Request Timeout: read timed out'],
      ['application/xml', '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>x.rpm</Key></Error>', 404, 'The specified key does not exist.'],
      ['text/xml', "<?xml version='1.0'?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value><string>&lt;class 'OSError'&gt;: boom</string></value></member></struct></value></fault></methodResponse>", 500, "<class 'OSError'>: boom"],
      ['application/problem+json', '{"type":"about:blank","title":"Too Many Requests","detail":"rate limit: 10 per minute"}', 429, 'rate limit: 10 per minute'],
      ['application/json', '{"error": {"message": "token expired"}}', 403, 'token expired'],
      ['application/json', '{"message": "cut off here', 403, ''],
      ['application/json', '{"message": "half a document", "more": [1, 2', 403, 'half a document'],
      // only the status again, or nothing, or something that is not text
      ['text/html', '<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>', 404, ''],
      ['text/plain', 'Error 503: Service Unavailable\n', 503, ''],
      ['text/plain', 'HTTP/1.1 500 Internal Server Error', 500, ''],
      [undefined, '', 503, ''],
      ['application/octet-stream', 'readable but not text', 503, ''],
      [undefined, Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x00]), 503, ''],
      ['image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47]), 503, ''],
      // control characters (a terminal's escapes) and Unicode direction marks are taken out
      ['text/plain', 'bad \x1b]0;owned\x07 \u202ereversed\u202c thing\r\nsecond', 400, 'bad ]0;owned reversed thing'],
      // charsets, a character cut at the read limit, a byte-order mark
      ['text/plain; charset=iso-8859-1', Buffer.from('Dienst nicht verf\xfcgbar', 'latin1'), 503, 'Dienst nicht verfügbar'],
      ['text/plain; charset=utf-8', Buffer.concat([Buffer.from('\ufeffcafé déjà'), Buffer.from('é').subarray(0, 1)]), 503, 'café déjà'],
      ['text/plain; charset=nonsense', 'still read as UTF-8', 503, 'still read as UTF-8'],
      // a cut HTML page
      ['text/html', '<html><head><title>Cut short', 503, 'Cut short'],
    ];
    for (const [type, body, status, want] of cases) assert.equal(bodyLine(type, b(body), status), want, `${type}: ${String(body).slice(0, 60)}`);
    const long = bodyLine('text/plain', Buffer.from('x'.repeat(5000)), 500);
    assert.equal(long.length, 201);
    assert.ok(long.endsWith('…'));
  });

  test('Retry-After: delta-seconds and HTTP-date; anything else is ignored', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    assert.equal(retryAfterMs('120', now), 120_000);
    assert.equal(retryAfterMs(' 0 ', now), 0);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 12:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Thursday, 01-Jan-26 12:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 11:00:00 GMT', now), 0, 'a date gone by: now');
    for (const bad of [undefined, '', '-5', '1.5', 'soon', '12', 'Thu, 99 Foo 2026']) {
      if (bad === '12') assert.equal(retryAfterMs(bad, now), 12_000);
      else assert.equal(retryAfterMs(bad, now), undefined, String(bad));
    }
    assert.equal(retryAfterMs(['7', '9'], now), 7000);
  });

  test('durations in words', () => {
    assert.deepEqual([0, 340, 1000, 12_400, 59_600, 60_000, 250_000, 3_600_000, 7_500_000].map(formatDuration),
      ['0 s', '0.3 s', '1 s', '12 s', '1 min', '1 min', '4 min 10 s', '1 h', '2 h 5 min']);
  });
});

describe('outage lines and the retry budget', () => {
  test('one line when a source is down long enough to notice, one when it is back; short blips say nothing', async () => {
    let t = 0;
    const lines: string[] = [];
    const log = new OutageLog((l) => lines.push(l), { now: () => t });
    const opts = { outages: log, now: () => t, sleep: async (ms: number) => { t += ms; }, retryTimeMs: 60_000, backoffMs: 400, maxBackoffMs: 400, random: () => 1 };
    // A blip: one failure, a 400 ms wait, then success: nothing said.
    const blip = new RetryClock(opts, 'S');
    assert.equal(await blip.again('HTTP 503'), true);
    blip.progress();
    assert.deepEqual(lines, []);
    // Three workers in one outage: one line when it has lasted a second, one when it ends.
    const w = [new RetryClock(opts, 'S'), new RetryClock(opts, 'S'), new RetryClock(opts, 'S')];
    for (let i = 0; i < 4; i++) for (const c of w) assert.equal(await c.again(`HTTP 503 (round ${i})`), true);
    w[1].progress();
    w[0].progress();
    // The first line comes when the outage has lasted a second (round 1), not at the first failure.
    assert.deepEqual(lines, ['S: HTTP 503 (round 1); waiting for it and retrying for up to 59 s (next try in 0.4 s)', 'S: answering again after 4.8 s']);
  });

  test('a request that starts in an outage does not wait a whole budget again; giving up is said once', async () => {
    let t = 0;
    const lines: string[] = [];
    const log = new OutageLog((l) => lines.push(l), { now: () => t, quietMs: 0 });
    const opts = { outages: log, now: () => t, sleep: async (ms: number) => { t += ms; }, retryTimeMs: 10_000, backoffMs: 1000, maxBackoffMs: 1000, random: () => 1 };
    const first = new RetryClock(opts, 'S');
    while (await first.again('HTTP 503')) { /* the whole budget */ }
    assert.equal(t, 10_000);
    assert.equal(first.summary(), ' after 11 attempts in 10 s');
    const late = new RetryClock(opts, 'S');
    assert.equal(await late.again('HTTP 503'), false, 'the outage has lasted the whole budget already');
    assert.deepEqual(lines, ['S: HTTP 503; waiting for it and retrying for up to 10 s (next try in 1 s)', 'S: still failing after 10 s (HTTP 503); giving up']);
    // Another source is not affected, and a success starts afresh.
    assert.equal(await new RetryClock(opts, 'T').again('x'), true);
    late.progress();
    assert.equal(lines.at(-1), 'S: answering again after 11 s');
    assert.equal(await new RetryClock(opts, 'S').again('HTTP 503'), true);
  });

  test('a request that gets through wakes the others waiting on the same source (not those of another)', async () => {
    const log = new OutageLog();
    const opts = { outages: log, retryTimeMs: 600_000, backoffMs: 60_000, maxBackoffMs: 60_000, random: () => 1 };
    const waiting = [new RetryClock(opts, 'S'), new RetryClock(opts, 'S'), new RetryClock(opts, 'T')].map((c) => {
      let done = false;
      return { c, p: c.again('HTTP 503').then((v) => { done = true; return v; }), done: () => done };
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(waiting.map((w) => w.done()), [false, false, false], 'a minute of backoff each');
    const t0 = Date.now();
    new RetryClock(opts, 'S').progress();
    assert.deepEqual(await Promise.all(waiting.slice(0, 2).map((w) => w.p)), [true, true]);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(waiting[2].done(), false, 'T is still down as far as anyone knows');
    new RetryClock(opts, 'T').progress();
    assert.equal(await waiting[2].p, true);
  });

  test('Retry-After is honoured, capped by the budget and floored at the first backoff step; a budget of 0 means no retries', async () => {
    let t = 0;
    const sleeps: number[] = [];
    const opts = { now: () => t, sleep: async (ms: number) => { sleeps.push(ms); t += ms; }, retryTimeMs: 30_000 };
    const c = new RetryClock(opts, 'S');
    assert.equal(await c.again('HTTP 429', 20_000), true);
    assert.equal(await c.again('HTTP 429', 20_000), true);
    assert.equal(await c.again('HTTP 429', 20_000), false);
    assert.deepEqual(sleeps, [20_000, 10_000]);
    // "Retry-After: 0" (or a date gone by) on every answer: the first backoff step still separates the attempts.
    const z = new RetryClock({ ...opts, backoffMs: 250 }, 'S');
    assert.equal(await z.again('HTTP 503', 0), true);
    assert.equal(await z.again('HTTP 503', 0), true);
    assert.deepEqual(sleeps.slice(2), [250, 250]);
    assert.equal(await new RetryClock({ ...opts, retryTimeMs: 0 }, 'S').again('HTTP 503'), false);
  });
});

// ---- the matrix against the fake hub ---------------------------------------------------------------

const shapes = (): Shape[] =>
  STATUSES.flatMap((status) => ERROR_TYPES.flatMap((type) => ERROR_BODIES.map((body) => ({ status, type, body }))));

/** No 'error' event or rejection escapes while `fn` runs. */
async function noUnhandled(fn: () => Promise<void>): Promise<void> {
  const seen: unknown[] = [];
  const onError = (e: unknown): void => { seen.push(e); };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 50)); // late events of dropped bodies
  } finally {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  assert.deepEqual(seen.map(String), [], 'no unhandled error event or rejection');
}

const instanceOf = (k: FakeKoji): KojiInstance => ({ name: 'fake', hub: k.hub, topurl: k.topurl, mirrors: [], retrace: [], source: 'test' });

describe('every error shape on every request path (in process)', () => {
  let k: FakeKoji;
  before(async () => { k = await startFakeKoji({ builds: [STREAMED, HEADER_ONLY] }); });
  after(async () => { await k?.stop(); });
  const clear = { rpc_error: null, file_error: null, outage: null, rpc_offline: 0, multicall_offline: 0 };
  beforeEach(async () => { await k.control({ faults: clear }); });

  test(`the hub: ${STATUSES.join('/')} x ${ERROR_TYPES.length} content types x ${ERROR_BODIES.length} bodies`, async () => {
    const client = new KojiClient({ hub: k.hub, ...FAST, retryTimeMs: 5000 });
    await noUnhandled(async () => {
      for (const s of shapes()) {
        const what = JSON.stringify(s);
        await k.control({ faults: { rpc_error: { count: 1, ...s } } });
        const start = k.requests().length;
        const got = await client.getBuild(STREAMED.id).catch((e: unknown) => e);
        const lines = k.requests().slice(start);
        assert.equal(lines[0]?.fault, 'rpc_error', `${what}: served`);
        if (RETRIED.has(s.status)) {
          assert.equal((got as { nvr?: string })?.nvr, STREAMED.nvr, `${what}: retried to the answer (${got})`);
          assert.equal(lines.length, 2, what);
        } else {
          assert.ok(got instanceof KojiError, `${what}: ${got}`);
          assert.equal(got.exitCode, 1);
          assert.match(got.message, new RegExp(`^Koji hub ${esc(k.hub)}: getBuild\\(${STREAMED.id}\\) gave ${phrase(s.status, s.type, s.body, '/kojihub')}$`), what);
          assert.equal(lines.length, 1, `${what}: not asked again`);
        }
      }
    });
  });

  test(`the package store: ${STATUSES.join('/')} x ${ERROR_TYPES.length} content types x ${ERROR_BODIES.length} bodies`, async () => {
    const url = `${k.topurl}/${rpmPath(STREAMED, STREAMED.rpms[0])}`;
    const path = new URL(url).pathname;
    // Reading the headers takes a few range requests; an error answer retried adds one.
    const healthy = new HttpSource(url, FAST);
    await readRpmHeaders(healthy);
    await healthy.close();
    await noUnhandled(async () => {
      for (const s of shapes()) {
        const what = JSON.stringify(s);
        await k.control({ faults: { file_error: { count: 1, ...s } } });
        const src = new HttpSource(url, { ...FAST, retryTimeMs: 5000, expectedSize: STREAMED.rpms[0].size });
        try {
          const got = await readRpmHeaders(src).catch((e: unknown) => e);
          if (RETRIED.has(s.status)) {
            assert.ok(!(got instanceof Error), `${what}: ${got}`);
            assert.equal(src.requests, healthy.requests + 1, what);
          } else {
            assert.ok(got instanceof DownloadError, `${what}: ${got}`);
            assert.match(got.message, new RegExp(`^${esc(url)}: ${phrase(s.status, s.type, s.body, path)}$`), what);
            assert.equal(src.requests, 1, what);
          }
        } finally {
          await src.close();
        }
      }
    });
  });

  test('a shape that keeps coming: one sentence naming the URL and the last reason, after the budget', async () => {
    const url = `${k.topurl}/${rpmPath(STREAMED, STREAMED.rpms[0])}`;
    await noUnhandled(async () => {
      for (const body of ERROR_BODIES) {
        await k.control({ faults: { file_error: { count: 1000, status: 503, type: 'text/html', body } } });
        const src = new HttpSource(url, { ...FAST, retryTimeMs: 300 });
        const t0 = Date.now();
        const e = await readRpmHeaders(src).catch((x: unknown) => x);
        await src.close();
        assert.ok(e instanceof DownloadError, String(e));
        assert.match(e.message, new RegExp(`^${esc(url)}: ${phrase(503, 'text/html', body, new URL(url).pathname)} after \\d+ attempts in 0\\.\\d s$`), body);
        assert.ok(src.requests > 2, `${body}: retried (${src.requests})`);
        assert.ok(Date.now() - t0 < 5000, 'within the budget (and the attempts it let start)');
      }
      await k.control({ faults: { rpc_error: { count: 1000, status: 429, type: null, body: 'empty', retry_after: 1 } } });
      const e = await new KojiClient({ hub: k.hub, ...FAST, retryTimeMs: 1500 }).getBuild(1).catch((x: unknown) => x);
      assert.ok(e instanceof KojiError);
      assert.match(e.message, /getBuild\(1\) gave HTTP 429 \(Too Many Requests\) after 3 attempts in 1\.5 s$/, 'Retry-After: 1 s, twice, then the half second left');
    });
  });

  test('import: hub and store error answers retried to the right rows, or one sentence each; no crash', async () => {
    const imp = async (db: string, ids: number[]) => {
      const store = await openStore(db);
      const errors: string[] = [];
      try {
        const sum = await importBuilds(store, {
          instance: instanceOf(k), builds: ids.map(String), jobs: 4, full: true, net: { ...FAST, retryTimeMs: 3000 },
          onError: (subject, message) => errors.push(`${subject}: ${message}`),
        });
        return { sum, errors };
      } finally {
        await store.close();
      }
    };
    await noUnhandled(async () => {
      for (const body of ERROR_BODIES) {
        // An HTML 503 page in front of the hub and a 502 from the store's proxy, twice each: ridden out.
        await k.control({ faults: { rpc_error: { count: 2, status: 503, type: 'text/html', body }, file_error: { count: 2, status: 502, type: null, body } } });
        const db = join(tempDir(), 'i.sqlite');
        const { sum, errors } = await imp(db, [STREAMED.id, HEADER_ONLY.id]);
        assert.deepEqual(errors, [], body);
        assert.equal(sum.complete, true);
        assertIndexed(db, STREAMED_RPM);
        assertIndexed(db, HEADER_RPM);
      }
      // A wrong hub path (404 page): the run stops with one sentence.
      await k.control({ faults: { rpc_error: { count: 1, status: 404, type: 'text/html', body: 'short' } } });
      await assert.rejects(imp(join(tempDir(), 'i.sqlite'), [STREAMED.id]), (e: unknown) => e instanceof KojiError
        && e.message === `Koji hub ${k.hub}: multicall of 2 getBuild/listRPMs calls gave HTTP 404 (Not Found: fake-koji: injected 404 for /kojihub, come back later.)`);
      // A forbidden RPM: that RPM fails in one sentence, the other is indexed.
      await k.control({ faults: { rpc_error: null, file_error: { count: 1, status: 403, type: 'application/xml', body: 'chunked' } } });
      const db = join(tempDir(), 'i.sqlite');
      const { errors } = await imp(db, [STREAMED.id]);
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0], new RegExp(`^${STREAMED_RPM}: http://\\S+/${esc(STREAMED_RPM)}\\.rpm: HTTP 403 \\(Forbidden: fake-koji: injected 403 & more for /kojifiles/\\S+\\)$`));
      assertNotIndexed(db, STREAMED_RPM);
    });
  });

  test('find: an error answer falls back or is retried; the last failure is one sentence', async () => {
    const db = join(tempDir(), 'i.sqlite');
    const store = await openStore(db);
    try {
      await importBuilds(store, { instance: instanceOf(k), builds: [String(STREAMED.id)] });
      const exe = truth.find((t) => t.rpm === `${STREAMED_RPM}.rpm` && t.buildId && !t.path.startsWith('/usr/lib/debug/'))!;
      await noUnhandled(async () => {
        for (const body of ERROR_BODIES) {
          await k.control({ faults: { file_error: { count: 2, status: 503, type: 'text/plain', body } } });
          const r = await findFile(store, { kind: 'executable', buildId: exe.buildId! }, { cacheDir: tempDir(), net: { ...FAST, retryTimeMs: 3000 } });
          assert.equal(scanElfBuffer(readFileSync(r.path)).buildId, exe.buildId, body);
        }
        await k.control({ faults: { file_error: { count: 1, status: 404, type: 'text/html', body: 'big' } } });
        const fallbacks: string[] = [];
        const cacheDir = tempDir();
        await assert.rejects(findFile(store, { kind: 'executable', buildId: exe.buildId! }, { cacheDir, net: FAST, onFallback: (u, m) => fallbacks.push(`${u}: ${m}`) }),
          (e: unknown) => e instanceof UserError && e.exitCode === 1
            && new RegExp(`^${exe.buildId}: no download source delivered the executable file \\(http://\\S+\\.rpm: HTTP 404 \\(Not Found: fake-koji: a big 404 page\\)\\)$`).test(e.message));
        assert.deepEqual(fallbacks, [], 'the only source: said once, in the error');
        assert.deepEqual(existsSync(join(cacheDir, exe.buildId!)) ? readdirSync(join(cacheDir, exe.buildId!)) : [], []);
      });
    } finally {
      await store.close();
    }
  });

  test('imagebuild\'s side repository: hub and store error answers retried, or one sentence naming the RPM and the reason', async () => {
    const inst = instanceOf(k);
    await noUnhandled(async () => {
      await k.control({ faults: { rpc_error: { count: 2, status: 502, type: 'text/html', body: 'cut' }, multicall_offline: 0 } });
      const plan = await planSideRepo(new KojiClient({ hub: k.hub, ...FAST }), inst, 'x86_64', [HEADER_ONLY.nvr], []);
      assert.deepEqual(plan.map((r) => r.nvra), [HEADER_RPM]);
      const log: string[] = [];
      for (const body of ['short', 'big', 'close', 'reset'] as const) {
        await k.control({ faults: { file_error: { count: 2, status: 503, type: 'text/html', body } } });
        const dir = join(tempDir(), 'side');
        await buildSideRepo(dir, plan, { createrepo: 'createrepo_c', log: (l) => log.push(l), net: { ...FAST, retryTimeMs: 3000 } });
        assert.ok(existsSync(join(dir, `${HEADER_RPM}.rpm`)), body);
        assert.ok(existsSync(join(dir, 'repodata', 'repomd.xml')), body);
      }
      await k.control({ faults: { file_error: { count: 1, status: 404, type: 'text/html', body: 'short' } } });
      const dir = join(tempDir(), 'side');
      await assert.rejects(buildSideRepo(dir, plan, { createrepo: 'createrepo_c', log: () => undefined, net: FAST }), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.equal(e.exitCode, 1);
        assert.match(e.message, new RegExp(`^Koji package ${esc(HEADER_RPM)}: ${esc(plan[0].url)}: HTTP 404 \\(Not Found: fake-koji: injected 404 for /kojifiles/\\S+, come back later\\.\\)$`));
        return true;
      });
      assert.deepEqual(readdirSync(dir), [], 'no partial RPM left behind');
      await k.control({ faults: { file_error: { count: 1000, status: 503, type: null, body: 'empty' } } });
      await assert.rejects(buildSideRepo(join(tempDir(), 'side'), plan, { createrepo: 'createrepo_c', log: () => undefined, net: { ...FAST, retryTimeMs: 200 } }),
        (e: unknown) => e instanceof UserError && /: HTTP 503 \(Service Unavailable\) after \d+ attempts in 0\.\d s$/.test(e.message));
    });
  });

  test('ServerOffline from the hub, for the whole call and inside multicalls: waited for, then the import completes', async () => {
    await k.control({ faults: { rpc_offline: 3, multicall_offline: 1 } });
    const store = await openStore(join(tempDir(), 'i.sqlite'));
    const lines: string[] = [];
    try {
      const sum = await importBuilds(store, {
        instance: instanceOf(k), builds: [String(STREAMED.id), String(HEADER_ONLY.id)],
        net: { ...FAST, outages: new OutageLog((l) => lines.push(l), { quietMs: 0 }) },
      });
      assert.equal(sum.complete, true);
    } finally {
      await store.close();
    }
    const faults = k.requests().map((l) => l.fault).filter((f) => f === 'rpc_offline' || f === 'multicall_offline');
    assert.deepEqual(faults, ['rpc_offline', 'rpc_offline', 'rpc_offline', 'multicall_offline']);
    assert.match(lines[0], new RegExp(`^Koji hub ${esc(k.hub)}: the hub is offline \\(fault 1014: database outage\\); waiting for it and retrying for up to [\\d.]+ (s|min) \\(next try in [\\d.]+ s\\)$`));
    assert.match(lines.at(-1)!, /: answering again after [\d.]+ s$/);
  });

  afterEach(async () => { await k.control({ faults: clear }); });
});
