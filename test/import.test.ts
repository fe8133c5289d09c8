// darkserver import against a fake Koji hub (test/fake-koji/hub.py: real XML-RPC, a package
// store that honours Range, injectable faults), checked against the ground truth of the RPMs
// it serves.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildsFromRpmDir, FakeBuildSpec, FakeKoji, startFakeKoji } from './helpers/fake-koji.ts';
import { CORPUS, FIXTURES, HAVE_CORPUS, ROOT, readTruth, TruthRow } from './helpers/paths.ts';
import { run, tempDir } from './helpers/cli.ts';
import { BACKENDS, freshDb } from './helpers/backends.ts';

const FAST = { DARKFORGE_BACKOFF_MS: '5', DARKFORGE_RETRY_TIME: '0.5' };
const rpmFiles = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String)
  .filter((f) => f.endsWith('.rpm') && !f.startsWith('large')).map((f) => join(dir, f));

const fixtureBuilds = buildsFromRpmDir(rpmFiles(FIXTURES), { firstId: 1000 });
const fixtureTruth = readTruth(FIXTURES).filter((t) => !t.rpm.startsWith('large'));
const byNvr = (nvr: string): FakeBuildSpec => fixtureBuilds.find((b) => b.nvr === nvr)!;
const nvra = (rpm: string): string => rpm.replace(/^.*\//, '').replace(/\.rpm$/, '');

function importCmd(k: FakeKoji, db: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...args], { ...FAST, ...env });
}

/** Every build-id row of the index, one sorted line each: the index's observable content. */
function dump(db: string, ids: string[]): string[] {
  const r = run('darkserver', ['query', '--json', '--db', db, ...new Set(ids)]);
  return (JSON.parse(r.stdout) as Record<string, unknown>[]).map((x) => `${x.buildid} ${x.rpm} ${x.elf} ${x.instance} ${x.kojibuildid}`).sort();
}

function expectTruth(db: string, truth: TruthRow[], instance: string, idOf: (rpm: string) => number): void {
  const withId = truth.filter((t) => t.buildId);
  const got = new Set(dump(db, withId.map((t) => t.buildId!)));
  for (const t of withId) {
    const line = `${t.buildId} ${nvra(t.rpm)} ${t.path} ${instance} ${idOf(t.rpm)}`;
    assert.ok(got.has(line), `missing ${line}`);
  }
}

const buildOfRpm = (builds: FakeBuildSpec[], dir: string) => (rpm: string): number =>
  builds.find((b) => b.rpms.some((r) => r.file === join(dir, rpm)))!.id;

for (const backend of BACKENDS) {
  describe(`import from a fake Koji hub, ${backend}`, () => {
    let k: FakeKoji;
    before(async () => { k = await startFakeKoji({ builds: fixtureBuilds }); });
    after(async () => { await k?.stop(); });

    test('by build id and by N-V-R: every ground-truth row, with Koji\'s build id and URL', async () => {
      const db = await freshDb(backend, 'i');
      const ids = fixtureBuilds.filter((b) => b.nvr !== 'df-debug-1.0-1').map((b) => String(b.id));
      const r = importCmd(k, db, [...ids, 'df-debug-1.0-1', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const sum = JSON.parse(r.stdout);
      assert.equal(sum.builds.requested, fixtureBuilds.length);
      assert.equal(sum.builds.imported, fixtureBuilds.length);
      assert.equal(sum.rpms.failed, 0);
      const binary = fixtureBuilds.flatMap((b) => b.rpms).filter((x) => x.arch !== 'src');
      assert.equal(sum.rpms.indexed, binary.length);
      assert.equal(k.requests().filter((l) => l.path.endsWith('.src.rpm')).length, 0, 'source RPMs are not fetched');
      expectTruth(db, fixtureTruth, 'fake', buildOfRpm(fixtureBuilds, FIXTURES));
      const row = JSON.parse(run('darkserver', ['query', '--json', '--db', db, '--rpm', 'df-debug-1.0-1.x86_64']).stdout)[0];
      assert.equal(row.url, `${k.topurl}/packages/df-debug/1.0/1/x86_64/df-debug-1.0-1.x86_64.rpm`);
      assert.equal(row.kojibuildid, byNvr('df-debug-1.0-1').id);
      assert.deepEqual(row.urls, [row.url]);
    });

    test('importing again fetches no RPM and changes nothing', async () => {
      const db = await freshDb(backend, 'i');
      const id = String(byNvr('df-kmod-1.0-1').id);
      assert.equal(importCmd(k, db, [id]).code, 0);
      const before = run('darkserver', ['stats', '--json', '--db', db]).stdout;
      const gets = k.requests().filter((l) => l.method === 'GET').length;
      const again = importCmd(k, db, [id]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(k.requests().filter((l) => l.method === 'GET').length, gets);
      assert.equal(run('darkserver', ['stats', '--json', '--db', db]).stdout, before);
    });

    test('header-first: a links-only RPM costs one request; one with an ELF file lacking a build-id is streamed, each byte once', async () => {
      const db = await freshDb(backend, 'i');
      const start = k.requests().length;
      assert.equal(importCmd(k, db, [String(byNvr('df-kmod-1.0-1').id), String(byNvr('df-hardlink-1.0-1').id)]).code, 0);
      const lines = k.requests().slice(start);
      const of = (name: string) => lines.filter((l) => l.path.endsWith(`/${name}`));
      const served = (name: string): number => of(name).reduce((n, l) => n + l.bytes, 0);
      const size = (nvr: string): number => byNvr(nvr).rpms[0].size;
      // Smaller than the first range (64 KiB): the one request brings the whole file (the header-first
      // saving on bigger packages is in import-speed.test.ts).
      assert.equal(of('df-kmod-1.0-1.x86_64.rpm').length, 1, 'one request');
      assert.ok(served('df-kmod-1.0-1.x86_64.rpm') <= size('df-kmod-1.0-1'), `kmod: ${served('df-kmod-1.0-1.x86_64.rpm')} of ${size('df-kmod-1.0-1')}`);
      assert.equal(served('df-hardlink-1.0-1.x86_64.rpm'), size('df-hardlink-1.0-1'), 'each byte of the streamed RPM fetched once');
    });

    test('a server that ignores Range still works', async () => {
      const k2 = await startFakeKoji({ builds: fixtureBuilds, faults: { ignore_range: true } });
      try {
        const db = await freshDb(backend, 'i');
        const r = importCmd(k2, db, fixtureBuilds.map((b) => String(b.id)));
        assert.equal(r.code, 0, r.stderr);
        expectTruth(db, fixtureTruth, 'fake', buildOfRpm(fixtureBuilds, FIXTURES));
        assert.ok(k2.requests().every((l) => l.method !== 'GET' || l.status === 200));
      } finally {
        await k2.stop();
      }
    });

    test('--full streams every payload and gives the same rows', async () => {
      const a = await freshDb(backend, 'a');
      const b = await freshDb(backend, 'b');
      const ids = fixtureBuilds.map((x) => String(x.id));
      assert.equal(importCmd(k, a, ids).code, 0);
      assert.equal(importCmd(k, b, [...ids, '--full']).code, 0);
      const all = fixtureTruth.filter((t) => t.buildId).map((t) => t.buildId!);
      assert.deepEqual(dump(a, all), dump(b, all));
    });
  });

  describe(`faults, ${backend}`, () => {
    test('503s and dropped connections are retried to success', async () => {
      const k = await startFakeKoji({ builds: fixtureBuilds, faults: { rpc_503: 2, drop_rpc: 1, file_503: 2, drop_file: 2 } });
      try {
        const db = await freshDb(backend, 'i');
        const r = importCmd(k, db, fixtureBuilds.map((b) => String(b.id)));
        assert.equal(r.code, 0, r.stderr);
        expectTruth(db, fixtureTruth, 'fake', buildOfRpm(fixtureBuilds, FIXTURES));
        const faults = k.requests().map((l) => l.fault).filter(Boolean);
        assert.equal(faults.length, 7, `faults seen: ${faults}`);
      } finally {
        await k.stop();
      }
    });

    test('a persistent failure is one clear error, exit 1, and --retry-failed finishes the job later', async () => {
      const bad = 'df-kmod-1.0-1.x86_64';
      const k = await startFakeKoji({ builds: fixtureBuilds, faults: { fail_forever: [bad] } });
      try {
        const db = await freshDb(backend, 'i');
        const id = String(byNvr('df-kmod-1.0-1').id);
        const r = importCmd(k, db, [id, String(byNvr('df-nolinks-1.0-1').id)]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`^darkserver import: ${bad}: http://127\\.0\\.0\\.1:\\d+/kojifiles/\\S+\\.rpm: HTTP 503 \\(Service Unavailable\\) after \\d+ attempts in [\\d.]+ s$`, 'm'));
        assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
        const jobs = run('darkserver', ['jobs', '--json', '--db', db]);
        const o = JSON.parse(jobs.stdout);
        assert.equal(o.rpms.failed, 1);
        assert.equal(o.rpms.done, 1);
        assert.equal(o.failedRpms[0].nvra, bad);
        assert.equal(run('darkserver', ['query', '--db', db, '--rpm', bad]).code, 1, 'nothing indexed from the failed RPM');
        const other = importCmd(k, db, [String(byNvr('df-cross-1.0-1').id)]);
        assert.equal(other.code, 0, `an old failure does not fail another build's import: ${other.stderr}`);
        assert.match(other.stdout, /imported 1 of 1 requested builds/);
        await k.control({ faults: { fail_forever: [] } });
        const again = importCmd(k, db, ['--retry-failed']);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(run('darkserver', ['query', '--db', db, '--rpm', bad]).code, 0);
        assert.equal(JSON.parse(run('darkserver', ['jobs', '--json', '--db', db]).stdout).builds.done, 3);
      } finally {
        await k.stop();
      }
    });

    test('checksum mismatch: a corrupted payload, and a header whose SIGMD5 is not Koji\'s payloadhash', async () => {
      const streamed = 'df-hardlink-1.0-1.x86_64'; // has an ELF file without build-id: its payload is read
      const builds = structuredClone(fixtureBuilds);
      const kmod = builds.find((b) => b.nvr === 'df-kmod-1.0-1')!;
      kmod.rpms[0].payloadhash = '0'.repeat(32);
      const k = await startFakeKoji({ builds, faults: { corrupt: [streamed] } });
      try {
        const db = await freshDb(backend, 'i');
        const r = importCmd(k, db, [String(byNvr('df-hardlink-1.0-1').id), String(kmod.id), String(byNvr('df-nolinks-1.0-1').id)]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`${streamed}: (checksum mismatch|payload does not decompress)`));
        assert.match(r.stderr, /df-kmod-1\.0-1\.x86_64: checksum mismatch: the package's SIGMD5 is [0-9a-f]{32}, Koji's payloadhash is 0{32}/);
        assert.equal(run('darkserver', ['query', '--db', db, '--rpm', streamed]).code, 1);
        assert.equal(run('darkserver', ['query', '--db', db, '--rpm', 'df-kmod-1.0-1.x86_64']).code, 1);
        assert.equal(run('darkserver', ['query', '--db', db, '--rpm', 'df-nolinks-1.0-1.x86_64']).code, 0);
      } finally {
        await k.stop();
      }
    });

    test('an unreachable hub is one clear error', async () => {
      const db = await freshDb(backend, 'i');
      const r = run('darkserver', ['import', '--hub', 'http://127.0.0.1:9/kojihub', '--db', db, '1'], FAST);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^darkserver import: Koji hub http:\/\/127\.0\.0\.1:9\/kojihub: .*cannot connect \(ECONNREFUSED\) after \d+ attempts in [\d.]+ s\n$/);
    });
  });

  describe(`producer mode, ${backend}`, () => {
    test('--from/--to: COMPLETE imported, BUILDING re-checked and left queued, DELETED and missing ids recorded', async () => {
      const builds = structuredClone(fixtureBuilds).slice(0, 5);
      builds[1].state = 2; // DELETED
      builds[2].state_sequence = [0, 1]; // BUILDING, COMPLETE when checked again in the same run
      builds[3].state_sequence = [0]; // BUILDING for good
      builds[4].state = 4; // CANCELED
      const k = await startFakeKoji({ builds });
      try {
        const db = await freshDb(backend, 'i');
        const first = builds[0].id;
        const r = importCmd(k, db, ['--from', String(first), '--to', String(first + 7), '--json']);
        assert.equal(r.code, 1, 'a build is still building');
        assert.match(r.stderr, new RegExp(`build ${builds[3].id} \\(${builds[3].nvr}\\): still BUILDING`));
        const o = JSON.parse(run('darkserver', ['jobs', '--json', '--db', db]).stdout);
        const state = (id: number) => o.pending.find((b: { koji_build_id: number }) => b.koji_build_id === id)?.state ?? 'done';
        assert.equal(state(builds[0].id), 'done');
        assert.equal(state(builds[1].id), 'skipped');
        assert.equal(state(builds[2].id), 'done');
        assert.equal(state(builds[3].id), 'building');
        assert.equal(state(builds[4].id), 'skipped');
        for (let id = first + 5; id <= first + 7; id++) assert.equal(state(id), 'skipped', `missing id ${id}`);
        assert.match(o.pending.find((b: { koji_build_id: number }) => b.koji_build_id === first + 6).last_error, /no such build/);
        await k.control({ build_state: { [builds[3].id]: 1 } });
        const resume = importCmd(k, db, []);
        assert.equal(resume.code, 0, resume.stderr);
        assert.equal(JSON.parse(run('darkserver', ['jobs', '--json', '--db', db]).stdout).builds.done, 3);
      } finally {
        await k.stop();
      }
    });
  });

  describe(`resume after kill -9, ${backend}`, () => {
    test('a killed import resumes and ends with exactly the rows of a clean run', async () => {
      const k = await startFakeKoji({ builds: fixtureBuilds, faults: { slow_file_ms: 150 } });
      try {
        const ids = fixtureBuilds.map((b) => String(b.id));
        const clean = await freshDb(backend, 'clean');
        await k.control({ faults: { slow_file_ms: 0 } });
        assert.equal(importCmd(k, clean, [...ids, '--full']).code, 0);
        await k.control({ faults: { slow_file_ms: 150 } });

        const db = await freshDb(backend, 'killed');
        const child = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), 'import', '--hub', k.hub, '--topurl', k.topurl,
          '--instance', 'fake', '--db', db, '--full', '--jobs', '2', ...ids], { stdio: 'ignore', env: { ...process.env, ...FAST } });
        const firstDone = Date.now();
        const seen = k.requests().length;
        await k.waitForRequests((ls) => ls.slice(seen).filter((l) => l.method === 'GET' && l.status === 206 && l.bytes > 0).length >= 5, 20_000);
        child.kill('SIGKILL');
        await new Promise((r) => child.on('exit', r));
        assert.ok(Date.now() - firstDone < 20_000);
        const midRun = run('darkserver', ['jobs', '--json', '--db', db]);
        assert.equal(midRun.code, 0, midRun.stderr);
        const mid = JSON.parse(midRun.stdout);
        assert.ok((mid.rpms.done ?? 0) < fixtureBuilds.flatMap((b) => b.rpms).filter((r) => r.arch !== 'src').length, 'killed mid-run');

        await k.control({ faults: { slow_file_ms: 0 } });
        const resume = importCmd(k, db, ['--full']);
        assert.equal(resume.code, 0, resume.stderr);
        const all = fixtureTruth.filter((t) => t.buildId).map((t) => t.buildId!);
        assert.deepEqual(dump(db, all), dump(clean, all));
        const stats = (f: string) => { const s = JSON.parse(run('darkserver', ['stats', '--json', '--db', f]).stdout); delete s.db; return s; };
        assert.deepEqual(stats(db), stats(clean));
      } finally {
        await k.stop();
      }
    });
  });

  describe(`instances, ${backend}`, () => {
    test('two instances in one database, and the corpus served as Koji builds', { skip: !HAVE_CORPUS && 'no corpus beside the checkout' }, async () => {
      // rhel6/rhel7 reuse fedora30's N-V-R, as two distributions' Kojis would: give them their own hub.
      const corpusFiles = rpmFiles(CORPUS);
      const second = corpusFiles.filter((f) => /\/elfutils\/rhel[67]\//.test(f));
      const primary = corpusFiles.filter((f) => !second.includes(f));
      const buildsA = buildsFromRpmDir([...rpmFiles(FIXTURES), ...primary], { firstId: 3000 });
      const buildsB = buildsFromRpmDir(second, { firstId: 3000 });
      const a = await startFakeKoji({ builds: buildsA });
      const b = await startFakeKoji({ builds: buildsB });
      try {
        const home = tempDir();
        mkdirSync(join(home, 'darkforge'));
        writeFileSync(join(home, 'darkforge', 'test.conf'), [
          '[alpha]', `server = ${a.hub}`, `topurl = ${a.topurl}`,
          `mirrors = ${a.base}/mirror/{first}/{nvra}.rpm ${a.base}/fc/{releasever}/{nvra}.rpm`, `retrace = ${a.base}/retrace/{nvra}.rpm`, '',
          '[beta]', `server = ${b.hub}`, `topurl = ${b.topurl}`, '',
        ].join('\n'));
        const env = { ...FAST, XDG_CONFIG_HOME: home };
        const db = await freshDb(backend, 'i');
        const ra = run('darkserver', ['import', '--instance', 'alpha', '--db', db, ...buildsA.map((x) => String(x.id))], env);
        assert.equal(ra.code, 0, ra.stderr);
        const rb = run('darkserver', ['import', '--instance', 'beta', '--db', db, ...buildsB.map((x) => String(x.id))], env);
        assert.equal(rb.code, 0, rb.stderr);

        const truth = readTruth(CORPUS).map((t) => ({ ...t, rpm: join(CORPUS, t.rpm) }));
        const inB = (t: TruthRow) => second.includes(t.rpm);
        expectTruth(db, truth.filter((t) => !inB(t)), 'alpha', buildOfRpm(buildsA, '/'));
        expectTruth(db, truth.filter(inB), 'beta', buildOfRpm(buildsB, '/'));
        expectTruth(db, fixtureTruth.map((t) => ({ ...t, rpm: join(FIXTURES, t.rpm) })), 'alpha', buildOfRpm(buildsA, '/'));
        const s = JSON.parse(run('darkserver', ['stats', '--json', '--db', db]).stdout);
        assert.deepEqual(Object.keys(s.byInstance).sort(), ['alpha', 'beta']);

        // Download candidates: mirror patterns first (those that can be filled), then Koji, then retrace.
        const fc = JSON.parse(run('darkserver', ['query', '--json', '--db', db, '--rpm', 'hello3-1.0-2.x86_64']).stdout)[0];
        assert.deepEqual(fc.urls, [`${a.base}/mirror/h/hello3-1.0-2.x86_64.rpm`, fc.url, `${a.base}/retrace/hello3-1.0-2.x86_64.rpm`]);
        const f38 = JSON.parse(run('darkserver', ['query', '--json', '--db', db, '--rpm', 'hello-2.10-9.fc38.x86_64']).stdout)[0];
        assert.equal(f38.distro, 'fc38');
        assert.deepEqual(f38.urls.slice(0, 2), [`${a.base}/mirror/h/hello-2.10-9.fc38.x86_64.rpm`, `${a.base}/fc/38/hello-2.10-9.fc38.x86_64.rpm`]);
        const pkg = run('darkserver', ['query', '--db', db, '--package', 'hello-2.10-9.fc38.x86_64.rpm']);
        assert.equal(pkg.code, 0);
        assert.equal(pkg.stdout, `hello-2.10-9.fc38.x86_64\t${f38.urls.join(' ')}\n`);
        const byName = JSON.parse(run('darkserver', ['query', '--json', '--db', db, '--package', 'hello2']).stdout);
        assert.deepEqual(byName.map((x: { instance: string }) => x.instance).sort(), ['alpha', 'beta', 'beta']);
        assert.equal(run('darkserver', ['query', '--db', db, '--package', 'nosuchpkg']).code, 1);
      } finally {
        await a.stop();
        await b.stop();
      }
    });
  });
}

describe('instances', () => {
  test('profiles: --config in Koji\'s format and in darkproducer\'s, unknown names listed', () => {
    const dir = tempDir();
    const koji = join(dir, 'k.conf');
    writeFileSync(koji, '[mykoji]\nserver = http://127.0.0.1:9/kojihub\ntopurl = http://127.0.0.1:9/files\n');
    const dark = join(dir, 'darkserverurl-ppc.conf');
    writeFileSync(dark, '[darkserver]\narch = ppc\nurl = http://127.0.0.1:9/kojihub/\n');
    const db = join(dir, 'i.sqlite');
    for (const cfg of [koji, dark]) {
      const r = run('darkserver', ['import', '--config', cfg, '--db', db, '1'], { ...FAST });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Koji hub http:\/\/127\.0\.0\.1:9\/kojihub\/?: .*ECONNREFUSED/);
    }
    const unknown = run('darkserver', ['import', '--instance', 'nope', '--db', db, '1'], { XDG_CONFIG_HOME: dir, HOME: dir });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no Koji profile named "nope" \(known: arm, koji, ppc, s390;/);
    assert.equal(run('darkserver', ['import', '--db', db, '--from', '5', '--to', '3']).code, 2);
    assert.equal(run('darkserver', ['import', '--db', db, 'not a build']).code, 2);
  });
});
