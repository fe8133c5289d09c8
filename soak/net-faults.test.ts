// Network faults for the `darkserver import` and `darkserver find` commands, end to end through
// the CLI, against the fake Koji hub (test/fake-koji/hub.py): cut and reset transfers, bodies
// without Content-Length, 503s, garbage answers, a silent hub (--timeout), bad checksums, a
// server that ignores Range. Every failure must be one clear line on stderr with the right exit
// code, leave no index rows for the RPM that failed, and a later run against a healthy hub must
// finish the work. (test/faults-net.test.ts runs the same faults in process, quickly, plus TLS
// and the URL policy.)
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { FakeKoji, startFakeKoji } from '../test/helpers/fake-koji.ts';
import { assertIndexed, assertNotIndexed, build, errorLines, FAST, HEADER_ONLY, HEADER_RPM, STREAMED, STREAMED_RPM, truth } from '../test/helpers/net-faults.ts';
import { run, tempDir, type Run } from '../test/helpers/cli.ts';

function importCmd(k: { hub: string; topurl: string }, db: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  return run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...args], { ...FAST, ...env });
}

const SUMMARY = /^darkserver import: not every requested build was imported/;

/** Failed RPMs: exactly one line names each (the first matching `what`), plus the closing summary line. */
function assertRpmFailure(r: Run, nvra: string | string[], what: RegExp): string {
  const nvras = [nvra].flat();
  assert.equal(r.code, 1, r.stderr);
  const lines = errorLines(r, 'import');
  const about = nvras.map((n) => {
    const hits = lines.filter((l) => l.startsWith(`darkserver import: ${n}: `));
    assert.equal(hits.length, 1, r.stderr);
    return hits[0];
  });
  assert.match(about[0], what);
  assert.deepEqual(lines.filter((l) => !about.includes(l)).map((l) => SUMMARY.test(l)), [true], r.stderr);
  return about[0];
}

/** A hub failure ends the run: one line in all. */
function assertHubFailure(r: Run, what: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = errorLines(r, 'import');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], what);
}

function jobs(db: string): { builds: Record<string, number>; rpms: Record<string, number>; pending: { koji_build_id: number; state: string }[] } {
  const r = run('darkserver', ['jobs', '--json', '--db', db]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const faultLines = (k: FakeKoji, fault: string) => k.requests().filter((l) => l.fault === fault);

describe('import: cut, reset and truncated downloads', () => {
  let k: FakeKoji;
  before(async () => { k = await startFakeKoji({ builds: [STREAMED, HEADER_ONLY] }); });
  after(async () => { await k?.stop(); });

  test('a transfer cut mid-payload (Content-Length announced) resumes from the cut; a persistent one fails cleanly and is resumable', async () => {
    await k.control({ faults: { close_file: 1, cut_in_payload: true } });
    const db = join(tempDir(), 'i.sqlite');
    const ok = importCmd(k, db, [String(STREAMED.id), '--full']);
    assert.equal(ok.code, 0, ok.stderr);
    assertIndexed(db, STREAMED_RPM);
    const lines = k.requests().filter((l) => l.path.endsWith(`/${STREAMED_RPM}.rpm`));
    const cut = lines.findIndex((l) => l.fault === 'close_file');
    assert.ok(cut >= 0, 'the fault was served');
    const cutEnd = Number(/^bytes=(\d+)-/.exec(lines[cut].range!)![1]) + lines[cut].bytes;
    assert.equal(lines[cut + 1].range, `bytes=${cutEnd}-`, 'resumed from the first byte not received');
    assert.equal(lines.reduce((n, l) => n + l.bytes, 0), STREAMED.rpms[0].size, 'no byte fetched twice');

    await k.control({ faults: { close_file: 1000, cut_in_payload: false } });
    const bad = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, bad, [String(STREAMED.id), '--full']);
    assertRpmFailure(r, STREAMED_RPM, new RegExp(`^darkserver import: ${STREAMED_RPM}: http://127\\.0\\.0\\.1:\\d+/kojifiles/\\S+\\.rpm: transfer failed at byte \\d+ of ${STREAMED.rpms[0].size} \\(connection closed before the end of the answer \\(UND_ERR_SOCKET\\)\\) after \\d+ attempts in [\\d.]+ s$`));
    assertNotIndexed(bad, STREAMED_RPM);
    assert.equal(jobs(bad).rpms.failed, 1);

    await k.control({ faults: { close_file: 0 } });
    const again = importCmd(k, bad, [String(STREAMED.id), '--full']);
    assert.equal(again.code, 0, `asking for the build again retries what failed: ${again.stderr}`);
    assertIndexed(bad, STREAMED_RPM);
    assert.deepEqual(jobs(bad).rpms, { done: 1 });
  });

  test('a truncated body without Content-Length: caught by Content-Range, or by Koji\'s size when Range is ignored', async () => {
    for (const faults of [
      { no_content_length: true, close_file: 1, cut_in_payload: true, ignore_range: false },
      { no_content_length: true, close_file: 1, cut_in_payload: true, ignore_range: true },
    ]) {
      await k.control({ faults });
      const db = join(tempDir(), 'i.sqlite');
      const start = k.requests().length;
      const r = importCmd(k, db, [String(STREAMED.id), '--full']);
      assert.equal(r.code, 0, `${JSON.stringify(faults)}: ${r.stderr}`);
      assert.equal(k.requests().slice(start).filter((l) => l.fault === 'close_file').length, 1);
      assertIndexed(db, STREAMED_RPM);
    }
    // The server keeps ending the file early: a download error, not a "damaged package".
    await k.control({ faults: { no_content_length: true, ignore_range: true, close_file: 1000, cut_in_payload: true } });
    const db = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, db, [String(STREAMED.id), '--full']);
    assertRpmFailure(r, STREAMED_RPM, new RegExp(`^darkserver import: ${STREAMED_RPM}: http://\\S+\\.rpm: the server's copy ends at byte \\d+, ${STREAMED.rpms[0].size} bytes expected$`));
    assertNotIndexed(db, STREAMED_RPM);
    await k.control({ faults: { no_content_length: false, ignore_range: false, close_file: 0, cut_in_payload: false } });
    const resume = importCmd(k, db, ['--retry-failed', '--full']);
    assert.equal(resume.code, 0, resume.stderr);
    assertIndexed(db, STREAMED_RPM);
  });

  test('a connection reset mid-payload resumes; reset on every request fails cleanly', async () => {
    await k.control({ faults: { drop_file: 1, cut_in_payload: true } });
    const db = join(tempDir(), 'i.sqlite');
    const ok = importCmd(k, db, [String(STREAMED.id), '--full']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(faultLines(k, 'drop_file').length, 1);
    assertIndexed(db, STREAMED_RPM);

    await k.control({ faults: { drop_file: 1000, cut_in_payload: false } });
    const bad = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, bad, [String(STREAMED.id), String(HEADER_ONLY.id)]);
    assertRpmFailure(r, [STREAMED_RPM, HEADER_RPM],
      /transfer failed at byte \d+ of \d+ \((connection closed before the end of the answer|connection reset by the server) \(\w+\)\) after \d+ attempts in [\d.]+ s$/);
    assertNotIndexed(bad, STREAMED_RPM);
    assertNotIndexed(bad, HEADER_RPM);
    await k.control({ faults: { drop_file: 0 } });
    const resume = importCmd(k, bad, ['--retry-failed']);
    assert.equal(resume.code, 0, resume.stderr);
    assertIndexed(bad, STREAMED_RPM);
    assertIndexed(bad, HEADER_RPM);
  });

  test('a server that ignores Range: header-only and streamed RPMs, also with a reset mid-payload', async () => {
    await k.control({ faults: { ignore_range: true, drop_file: 1, cut_in_payload: true } });
    const db = join(tempDir(), 'i.sqlite');
    const start = k.requests().length;
    const r = importCmd(k, db, [String(STREAMED.id), String(HEADER_ONLY.id)]);
    assert.equal(r.code, 0, r.stderr);
    assertIndexed(db, STREAMED_RPM);
    assertIndexed(db, HEADER_RPM);
    const gets = k.requests().slice(start).filter((l) => l.method === 'GET');
    assert.ok(gets.every((l) => l.status === 200), 'every answer was the whole file');
    assert.equal(gets.filter((l) => l.fault === 'drop_file').length, 1);
    await k.control({ faults: { ignore_range: false, drop_file: 0, cut_in_payload: false } });
  });
});

describe('import: hub faults', () => {
  let k: FakeKoji;
  before(async () => { k = await startFakeKoji({ builds: [STREAMED, HEADER_ONLY] }); });
  after(async () => { await k?.stop(); });

  test('503 from the hub: retried to success; persistent: one error when the retry budget is spent, the build stays queued, a plain rerun finishes it', async () => {
    await k.control({ faults: { rpc_503: 3, close_rpc: 1 } });
    const db = join(tempDir(), 'i.sqlite');
    const ok = importCmd(k, db, [String(HEADER_ONLY.id)]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(faultLines(k, 'rpc_503').length, 3);
    assert.equal(faultLines(k, 'close_rpc').length, 1, 'a cut XML-RPC answer is retried too');
    assertIndexed(db, HEADER_RPM);

    await k.control({ faults: { rpc_503: 1000 } });
    const bad = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, bad, [String(STREAMED.id)]);
    assertHubFailure(r, /^darkserver import: Koji hub http:\/\/127\.0\.0\.1:\d+\/kojihub: multicall of 1 getBuild call gave HTTP 503 \(Service Unavailable\) after \d+ attempts in [\d.]+ s$/);
    assert.deepEqual(jobs(bad).pending.map((b) => [b.koji_build_id, b.state]), [[STREAMED.id, 'queued']]);
    assertNotIndexed(bad, STREAMED_RPM);
    await k.control({ faults: { rpc_503: 0 } });
    const resume = importCmd(k, bad, []);
    assert.equal(resume.code, 0, resume.stderr);
    assertIndexed(bad, STREAMED_RPM);
  });

  test('503 on a download: retried to success; persistent: the RPM fails, the build is failed and asking again finishes it', async () => {
    await k.control({ faults: { file_503: 3 } });
    const db = join(tempDir(), 'i.sqlite');
    assert.equal(importCmd(k, db, [String(HEADER_ONLY.id)]).code, 0);
    assert.equal(faultLines(k, 'file_503').length, 3);
    assertIndexed(db, HEADER_RPM);

    await k.control({ faults: { fail_forever: [STREAMED_RPM] } });
    const bad = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, bad, [String(STREAMED.id)]);
    assertRpmFailure(r, STREAMED_RPM, new RegExp(`^darkserver import: ${STREAMED_RPM}: http://\\S+\\.rpm: HTTP 503 \\(Service Unavailable\\) after \\d+ attempts in [\\d.]+ s$`));
    assert.deepEqual(jobs(bad).pending.map((b) => [b.koji_build_id, b.state]), [[STREAMED.id, 'failed']]);
    assertNotIndexed(bad, STREAMED_RPM);
    await k.control({ faults: { fail_forever: [] } });
    const again = importCmd(k, bad, [String(STREAMED.id)]);
    assert.equal(again.code, 0, again.stderr);
    assertIndexed(bad, STREAMED_RPM);
  });

  test('garbage XML, an HTML page and an XML-RPC fault: one clear error each, not retried, resumable', async () => {
    const cases: [string, RegExp][] = [
      ['rpc_garbage', /getBuild call gave a response that is not XML-RPC \(malformed XML \(.+\)\)$/],
      ['rpc_html', /getBuild call gave a response that is not XML-RPC \(.*<html>.*\)$/],
      ['rpc_fault', /getBuild call failed: fault 1000: injected fault: the hub is having a bad day$/],
    ];
    for (const [fault, what] of cases) {
      await k.control({ faults: { [fault]: 1 } });
      const db = join(tempDir(), 'i.sqlite');
      const before = k.requests().length;
      const r = importCmd(k, db, [String(HEADER_ONLY.id)]);
      assertHubFailure(r, new RegExp(`^darkserver import: Koji hub http://127\\.0\\.0\\.1:\\d+/kojihub: multicall of 1 ${what.source}`));
      assert.equal(k.requests().slice(before).length, 1, `${fault}: asked once, not again`);
      assertNotIndexed(db, HEADER_RPM);
      const resume = importCmd(k, db, []);
      assert.equal(resume.code, 0, `${fault}: ${resume.stderr}`);
      assertIndexed(db, HEADER_RPM);
    }
  });
});

describe('import: a slow hub and --timeout', () => {
  let k: FakeKoji;
  before(async () => { k = await startFakeKoji({ builds: [STREAMED], faults: { stall_ms: 20_000 } }); });
  after(async () => { await k?.stop(); });

  test('a hub that does not answer within --timeout: retried, then one error; a later run finishes', async () => {
    await k.control({ faults: { stall_rpc: 1 } });
    const db = join(tempDir(), 'i.sqlite');
    const ok = importCmd(k, db, [String(STREAMED.id), '--timeout', '0.5']);
    assert.equal(ok.code, 0, `one slow answer is retried: ${ok.stderr}`);
    assertIndexed(db, STREAMED_RPM);

    await k.control({ faults: { stall_rpc: 1000 } });
    const bad = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, bad, [String(STREAMED.id), '--timeout', '0.3']);
    assertHubFailure(r, /^darkserver import: Koji hub http:\/\/127\.0\.0\.1:\d+\/kojihub: multicall of 1 getBuild call timed out \(UND_ERR_HEADERS_TIMEOUT, limit 300 ms\) after \d+ attempts in [\d.]+ s$/);
    assertNotIndexed(bad, STREAMED_RPM);
    await k.control({ faults: { stall_rpc: 0 } });
    const resume = importCmd(k, bad, ['--timeout', '5']);
    assert.equal(resume.code, 0, resume.stderr);
    assertIndexed(bad, STREAMED_RPM);
  });

  test('a download that stalls: resumed once; stalling every time fails within the timeout', async () => {
    await k.control({ faults: { stall_file: 1 } });
    const db = join(tempDir(), 'i.sqlite');
    const ok = importCmd(k, db, [String(STREAMED.id), '--timeout', '0.5']);
    assert.equal(ok.code, 0, ok.stderr);
    assertIndexed(db, STREAMED_RPM);

    await k.control({ faults: { stall_file: 1000 } });
    const bad = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, bad, [String(STREAMED.id), '--timeout', '0.3']);
    assertRpmFailure(r, STREAMED_RPM, /: transfer failed at byte 0 of \d+ \(no data within 0\.3 s \(timeout\)\) after \d+ attempts in [\d.]+ s$/);
    assertNotIndexed(bad, STREAMED_RPM);
    await k.control({ faults: { stall_file: 0 } });
    const again = importCmd(k, bad, [String(STREAMED.id)]);
    assert.equal(again.code, 0, again.stderr);
    assertIndexed(bad, STREAMED_RPM);
  });

  test('--timeout must be a positive number of seconds', () => {
    const db = join(tempDir(), 'i.sqlite');
    for (const v of ['0', '-1', 'soon', '']) {
      const r = importCmd(k, db, ['--timeout', v, '1']);
      assert.equal(r.code, 2, `--timeout "${v}": ${r.stderr}`);
      assert.equal(errorLines(r, 'import').length, 1);
      assert.match(r.stderr, /--timeout/);
    }
  });
});

describe('import: checksums', () => {
  test('a corrupted payload, a wrong payloadhash and a wrong size: rejected, nothing indexed, both values named', async () => {
    const builds = structuredClone([STREAMED, HEADER_ONLY, build('df-nolinks-1.0-1')]);
    builds[1].rpms[0].payloadhash = 'f'.repeat(32);
    builds[2].rpms[0].size += 1;
    const k = await startFakeKoji({ builds, faults: { corrupt: [STREAMED_RPM] } });
    try {
      const db = join(tempDir(), 'i.sqlite');
      const r = importCmd(k, db, builds.map((b) => String(b.id)));
      assert.equal(r.code, 1);
      const lines = errorLines(r, 'import');
      assert.equal(lines.length, 4, r.stderr);
      assert.ok(lines.includes(`darkserver import: ${HEADER_RPM}: checksum mismatch: the package's SIGMD5 is ${HEADER_ONLY.rpms[0].payloadhash}, Koji's payloadhash is ${'f'.repeat(32)}`), r.stderr);
      assert.match(r.stderr, new RegExp(`^darkserver import: ${STREAMED_RPM}: checksum mismatch: content MD5 is (?!${STREAMED.rpms[0].payloadhash})[0-9a-f]{32}, the package's SIGMD5 is ${STREAMED.rpms[0].payloadhash}: the file is damaged$`, 'm'));
      const size = builds[2].rpms[0].size;
      assert.match(r.stderr, new RegExp(`^darkserver import: df-nolinks-1\\.0-1\\.x86_64: file is ${size - 1} bytes, Koji says ${size}$`, 'm'));
      for (const b of builds) assertNotIndexed(db, `${b.rpms[0].nvr}.${b.rpms[0].arch}`);
      assert.equal(jobs(db).rpms.failed, 3);
      await k.control({ faults: { corrupt: [] } });
      const again = importCmd(k, db, [String(STREAMED.id)]);
      assert.equal(again.code, 0, again.stderr);
      assertIndexed(db, STREAMED_RPM);
    } finally {
      await k.stop();
    }
  });
});

describe('find: downloads under faults', () => {
  let k: FakeKoji;
  let db: string;
  const exe = truth.find((t) => t.rpm === `${STREAMED_RPM}.rpm` && t.buildId && !t.path.startsWith('/usr/lib/debug/'))!;
  const find = (args: string[] = []): { r: Run; cache: string } => {
    const cache = tempDir();
    return { r: run('darkserver', ['find', 'executable', exe.buildId!, '--db', db, ...args], { ...FAST, XDG_CACHE_HOME: cache }), cache };
  };
  before(async () => {
    k = await startFakeKoji({ builds: [STREAMED], faults: { stall_ms: 20_000 } });
    db = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, db, [String(STREAMED.id)]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => { await k?.stop(); });

  test('cut, reset, truncated-without-length, 503, stalled and Range-ignoring transfers still deliver the right file', async () => {
    const cases: Record<string, unknown>[] = [
      { close_file: 1, cut_in_payload: true },
      { drop_file: 1, cut_in_payload: true },
      { no_content_length: true, close_file: 1, cut_in_payload: true },
      { file_503: 2 },
      { stall_file: 1 },
      { ignore_range: true, drop_file: 1, cut_in_payload: true },
    ];
    for (const faults of cases) {
      await k.control({ faults: { close_file: 0, drop_file: 0, cut_in_payload: false, no_content_length: false, ignore_range: false, ...faults } });
      const { r } = find(['--timeout', '0.5']);
      assert.equal(r.code, 0, `${JSON.stringify(faults)}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.equal(scanElfBuffer(readFileSync(r.stdout.trim())).buildId, exe.buildId);
    }
    await k.control({ faults: { ignore_range: false, drop_file: 0, cut_in_payload: false } });
  });

  test('persistent failures: exit 1 in one sentence naming the source, nothing left in the cache', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ fail_forever: [STREAMED_RPM] }, /: HTTP 503 \(Service Unavailable\) after \d+ attempts in [\d.]+ s/],
      [{ stall_file: 1000 }, /: transfer failed at byte 0 of \d+ \(no data within 0\.3 s \(timeout\)\) after \d+ attempts in [\d.]+ s/],
      [{ corrupt: [STREAMED_RPM] }, /does not (match|decompress)|checksum|damaged|bad cpio/],
    ];
    for (const [faults, what] of cases) {
      await k.control({ faults });
      const { r, cache } = find(['--timeout', '0.3']);
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r, 'find');
      // The only source: its failure is said once, in the sentence that ends the run.
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^darkserver find: ${exe.buildId}: no download source delivered the executable file \\(http://127\\.0\\.0\\.1:\\d+/kojifiles/\\S+\\.rpm: `));
      assert.match(lines[0].replace(/\)$/, ''), what);
      const left = existsSync(join(cache, 'darkforge', exe.buildId!)) ? readdirSync(join(cache, 'darkforge', exe.buildId!)) : [];
      assert.deepEqual(left, [], 'no file, no partial file');
      await k.control({ faults: { fail_forever: [], stall_file: 0, corrupt: [] } });
    }
  });
});

