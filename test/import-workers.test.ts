// Several `darkserver import` processes on one queue, on both backends: three importers at once
// build the index a single clean import builds, row for row; a worker that stalls past its lease
// (SIGSTOP) loses its RPM to another worker and, when it comes back, writes nothing for it.
// `darkserver jobs` shows who holds what meanwhile. Then `import --queue` and `import --worker`
// on one machine (test/import-workers-netns.test.ts runs workers on several).
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../src/lib/store/open.ts';
import type { RpmJob, Store } from '../src/lib/store/port.ts';
import { BACKENDS, freshDb, pgCluster, type Backend } from './helpers/backends.ts';
import { run, tempDir } from './helpers/cli.ts';
import { assertSound, start } from './helpers/db-faults.ts';
import { buildsFromRpmDir, startFakeKoji, type FakeBuildSpec, type FakeKoji } from './helpers/fake-koji.ts';
import { FIXTURES } from './helpers/paths.ts';
import { assertSoundPg } from './helpers/pg.ts';
import { rpmSet } from './helpers/rpm-set.ts';

const RPMS = 20;
const FAST = { DARKFORGE_BACKOFF_MS: '5', DARKFORGE_RETRY_TIME: '0.5' };

/** Every RPM of the set with its rows, through the store port: the index's observable content. */
async function content(db: string, nvras: string[]): Promise<string[]> {
  const s: Store = await openStore(db);
  try {
    const out: string[] = [];
    for (const n of nvras) for (const r of await s.byNvra(n)) out.push(`${r.rpm} ${r.elf} ${r.buildid} ${r.type} ${r.instance} ${r.kojibuildid} ${r.url}`);
    const st = await s.stats();
    out.push(JSON.stringify({ ...st, db: undefined }));
    return out;
  } finally {
    await s.close();
  }
}

async function queueRows(db: string): Promise<RpmJob[]> {
  const s = await openStore(db);
  try {
    const [b] = await s.queue.buildsIn('fake', 'done').then((x) => (x.length ? x : s.queue.buildsIn('fake', 'fetching')));
    return await s.queue.rpmsOf(b.id);
  } finally {
    await s.close();
  }
}

/** Wait until every download the hub was told to stall (faults.stall_file) has started. */
async function stalled(k: FakeKoji, what: string): Promise<void> {
  for (let end = Date.now() + 30_000; (await k.status()).faults.stall_file > 0;) {
    assert.ok(Date.now() < end, what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sound(backend: Backend, db: string): Promise<void> {
  if (backend === 'sqlite') assertSound(db);
  else await assertSoundPg(await pgCluster(), db);
}

describe('several importers on one queue', () => {
  let k: FakeKoji;
  let buildId: string;
  let nvras: string[];
  const clean: Partial<Record<Backend, string[]>> = {};
  before(async () => {
    const set = rpmSet(RPMS, 2, { seed: 'workers' });
    const builds = buildsFromRpmDir(set.files, { firstId: 5000 });
    buildId = String(builds[0].id);
    nvras = builds[0].rpms.filter((r) => r.arch !== 'src').map((r) => `${r.nvr}.${r.arch}`);
    assert.equal(nvras.length, RPMS);
    k = await startFakeKoji({ builds });
  });
  after(async () => { await k?.stop(); });
  const args = (db: string, more: string[] = []): string[] =>
    ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...more, buildId];

  for (const backend of BACKENDS) {
    test(`${backend}: three importers at once give the index of one clean import, each RPM fetched once`, async () => {
      const one = await freshDb(backend, 'clean');
      const r = run('darkserver', args(one), FAST);
      assert.equal(r.code, 0, r.stderr);
      clean[backend] = await content(one, nvras);

      const db = await freshDb(backend, 'three');
      // A hub far away (each request waits 300 ms): one importer alone would need 3 s, so all three are at work before it is done.
      await k.control({ faults: { latency_ms: 300 } });
      try {
        const runs = [0, 1, 2].map(() => start([...args(db, ['--jobs', '2', '--json'])], FAST));
        const done = await Promise.all(runs.map((x) => x.exit));
        for (const d of done) assert.equal(d.code, 0, d.stderr);
        const sums = done.map((d) => JSON.parse(d.stdout));
        assert.equal(sums.reduce((n, s) => n + s.rpms.indexed, 0), RPMS, 'each RPM indexed by exactly one of them');
        assert.ok(sums.every((s) => s.complete && s.builds.imported === 1), 'each answers for the whole build');
        const rows = await queueRows(db);
        assert.deepEqual(rows.map((x) => [x.state, x.attempts]), rows.map(() => ['done', 1]), 'no RPM claimed twice');
        const workers = new Set(rows.map((x) => x.worker_id));
        assert.ok(workers.size >= 2, `the work was shared (workers: ${[...workers].join(', ')})`);
        for (const w of workers) assert.match(w!, new RegExp(`^${hostname()}:\\d+:[0-9a-f]{8}$`));
        assert.ok(rows.every((x) => x.host === hostname()));
      } finally {
        await k.control({ faults: { latency_ms: 0 } });
      }
      assert.deepEqual(await content(db, nvras), clean[backend]);
      if (backend === 'postgresql') assert.deepEqual(clean.postgresql, clean.sqlite, 'the same index on both backends');
      await sound(backend, db);
    });

    test(`${backend}: a worker stalled past its lease loses its RPM; back, it writes nothing for it`, async () => {
      const db = await freshDb(backend, 'lease');
      // A's first download stalls on the hub (its process waits on the network, in no transaction): stop it there.
      await k.control({ faults: { stall_file: 1, stall_ms: 4000 } });
      const a = start(args(db, ['--jobs', '1', '--json']), { ...FAST, DARKFORGE_LEASE_SECONDS: '1' });
      try {
        await stalled(k, 'A started its first download');
        a.child.kill('SIGSTOP');
        const held = (await queueRows(db)).filter((x) => x.state === 'running');
        assert.equal(held.length, 1);
        assert.ok(held[0].worker_id!.startsWith(`${hostname()}:${a.child.pid}:`), held[0].worker_id!);
        const shown = run('darkserver', ['jobs', '--db', db]);
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, new RegExp(`^fake\\t${held[0].nvra}\\trunning\\tattempts 1\\theld by ${held[0].worker_id}, lease [01] s left$`, 'm'));
        await new Promise((r) => setTimeout(r, 1600));
        // At least 1 s: the lease was 1 s and 1.6 s have passed; more when a busy machine is slow to run jobs.
        assert.match(run('darkserver', ['jobs', '--db', db]).stdout, new RegExp(`\\theld by ${held[0].worker_id}, lease ran out [1-9]\\d* s ago$`, 'm'));

        const b = start(args(db, ['--jobs', '2', '--json']), FAST);
        const bDone = await b.exit;
        assert.equal(bDone.code, 0, bDone.stderr);
        assert.equal(JSON.parse(bDone.stdout).rpms.indexed, RPMS, 'B took over the lapsed claim and did everything');
        const taken = (await queueRows(db)).find((x) => x.id === held[0].id)!;
        assert.deepEqual([taken.state, taken.attempts], ['done', 2]);
        assert.ok(taken.worker_id!.startsWith(`${hostname()}:${b.child.pid}:`), `taken over by B: ${taken.worker_id}`);
        const before = await content(db, nvras);

        a.child.kill('SIGCONT');
        const aDone = await a.exit;
        assert.equal(aDone.code, 0, aDone.stderr);
        assert.equal(aDone.stderr, '');
        const sum = JSON.parse(aDone.stdout);
        assert.deepEqual([sum.rpms.indexed, sum.rpms.already, sum.rpms.failed], [0, 0, 0], 'A, back after losing its lease, wrote nothing');
        assert.deepEqual(await content(db, nvras), before);
        const again = (await queueRows(db)).find((x) => x.id === held[0].id)!;
        const method = (x: RpmJob): unknown => (x as unknown as { method: string }).method;
        assert.deepEqual([again.state, again.worker_id, again.attempts, method(again)], ['done', taken.worker_id, 2, method(taken)], 'B\'s record stands');
        assert.equal(method(taken), 'header');
      } finally {
        a.child.kill('SIGCONT');
        a.child.kill('SIGKILL');
        await k.control({ faults: { stall_file: 0 } });
      }
      assert.deepEqual(await content(db, nvras), clean[backend] ?? await content(await (async () => {
        const one = await freshDb(backend, 'clean2');
        assert.equal(run('darkserver', args(one), FAST).code, 0);
        return one;
      })(), nvras));
      await sound(backend, db);
    });
  }
});

// `darkserver import --worker`: the queue of every instance the store records, with the hub
// recorded there, until no work is left; `import --queue` puts builds on it and fetches nothing.
describe('import --worker', () => {
  const fixtureBuilds = buildsFromRpmDir(readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm') && !f.startsWith('large')).map((f) => join(FIXTURES, f)),
    { firstId: 7000 });
  let k: FakeKoji;
  let set: { builds: FakeBuildSpec[]; nvras: string[] };
  before(async () => {
    const builds = buildsFromRpmDir(rpmSet(RPMS, 2, { seed: 'workers' }).files, { firstId: 5000 });
    set = { builds, nvras: builds[0].rpms.filter((r) => r.arch !== 'src').map((r) => `${r.nvr}.${r.arch}`) };
    k = await startFakeKoji({ builds: [...builds, ...fixtureBuilds] });
  });
  after(async () => { await k?.stop(); });
  const producer = (db: string, more: string[]): string[] => ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...more];
  const files = (): number => k.requests().filter((l) => l.method === 'GET' && l.path.startsWith('/kojifiles/')).length;
  const jobsOf = (db: string): { builds: Record<string, number>; rpms: Record<string, number>; failedRpms: RpmJob[] } => {
    const r = run('darkserver', ['jobs', '--json', '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  test('flags: a worker takes no build, walk or instance of its own; --queue needs builds', () => {
    const db = join(tempDir(), 'w.sqlite');
    for (const extra of [['42'], ['--from', '1'], ['--instance', 'koji'], ['--hub', 'http://127.0.0.1:9/kojihub'], ['--config', '/dev/null']]) {
      const r = run('darkserver', ['import', '--worker', '--db', db, ...extra]);
      assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^darkserver import: --worker takes the queued work of every Koji instance in the database, with the hub recorded there: it takes no (BUILD|--\w+) \(queue builds with "darkserver import --queue BUILD…" or "--queue --from ID"\)\n$/);
    }
    const q = run('darkserver', ['import', '--queue', '--hub', 'http://127.0.0.1:9/kojihub', '--db', db]);
    assert.equal(q.code, 2);
    assert.equal(q.stderr, 'darkserver import: --queue needs builds to queue: BUILD… or --from ID (or --follow)\n');
    const both = run('darkserver', ['import', '--queue', '--worker', '--db', db]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--worker/);
    assert.ok(!existsSync(db), 'nothing was created');
  });

  for (const backend of BACKENDS) {
    test(`${backend}: --queue fetches nothing; two workers drain the queue to the index of one clean import, each RPM fetched once`, async () => {
      const clean = await freshDb(backend, 'clean');
      const before0 = files();
      const one = run('darkserver', producer(clean, [String(set.builds[0].id)]), FAST);
      assert.equal(one.code, 0, one.stderr);
      const fetchesOfOne = files() - before0;

      const db = await freshDb(backend, 'queued');
      const before = files();
      const q = run('darkserver', producer(db, ['--queue', String(set.builds[0].id)]), FAST);
      assert.equal(q.code, 0, q.stderr);
      assert.equal(q.stdout, `queued 1 builds (${RPMS} RPMs) from fake for import workers; 0 imported already, 0 skipped, `
        + '0 still building (a worker asks Koji again), 0 failed\n');
      assert.equal(files(), before, 'queuing fetched no file');
      assert.deepEqual(jobsOf(db).rpms, { queued: RPMS });

      await k.control({ faults: { latency_ms: 80 } });
      let done;
      try {
        const workers = [0, 1].map(() => start(['import', '--worker', '--jobs', '2', '--json', '--db', db], FAST));
        done = await Promise.all(workers.map((w) => w.exit));
      } finally {
        await k.control({ faults: { latency_ms: 0 } });
      }
      for (const d of done) assert.equal(d.code, 0, d.stderr);
      for (const d of done) assert.equal(d.stderr, '');
      const sums = done.map((d) => JSON.parse(d.stdout));
      assert.equal(sums.reduce((n, s) => n + s.rpms.indexed, 0), RPMS, 'each RPM indexed by one of them');
      for (const s of sums) {
        assert.match(s.worker, new RegExp(`^${hostname()}:\\d+:[0-9a-f]{8}$`));
        assert.deepEqual([s.instances, s.builds, s.complete], [['fake'], { worked: 1, imported: 1, skipped: 0, building: 0, failed: 0 }, true]);
      }
      assert.equal(files() - before, fetchesOfOne, 'the requests of one clean import: no RPM fetched twice');
      const rows = await queueRows(db);
      assert.deepEqual(rows.map((x) => [x.state, x.attempts]), rows.map(() => ['done', 1]));
      assert.deepEqual(new Set(rows.map((x) => x.worker_id)), new Set(sums.map((s) => s.worker)), 'both took a share');
      assert.deepEqual(await content(db, set.nvras), await content(clean, set.nvras));
      await sound(backend, db);
      // Queued again once imported: nothing to queue.
      const again = run('darkserver', producer(db, ['--queue', String(set.builds[0].id)]), FAST);
      assert.deepEqual([again.code, again.stdout], [0, 'queued 0 builds (0 RPMs) from fake for import workers; 1 imported already, 0 skipped, 0 still building (a worker asks Koji again), 0 failed\n']);
      // Nothing left: a worker says so and exits 0.
      const idle = run('darkserver', ['import', '--worker', '--db', db]);
      assert.equal(idle.code, 0, idle.stderr);
      assert.match(idle.stdout, /^worker \S+: imported 0 of 0 builds worked on: 0 RPMs indexed \(0 from the header alone\), 0 already indexed, 0 failed; fetched 0 B of 0 B; 0 builds skipped, 0 still building, 0 failed\n$/);
    });

    test(`${backend}: a worker takes every instance the store records, with the hub recorded there, and looks up builds no producer looked up`, async () => {
      const db = await freshDb(backend, 'instances');
      const build = fixtureBuilds.find((b) => b.nvr === 'df-debug-1.0-1')!;
      assert.equal(run('darkserver', ['import', '--queue', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'one', '--db', db, build.nvr], FAST).code, 0);
      // A second instance whose producer stopped before it asked Koji anything: only the queue row and the instance record.
      const s = await openStore(db);
      try {
        await s.saveInstance({ name: 'two', hub: k.hub, topurl: k.topurl, mirrors: [], retrace: [] });
        await s.queue.addBuild('two', build.id);
      } finally {
        await s.close();
      }
      const rpcBefore = k.requests().filter((l) => l.method === 'POST').length;
      const w = run('darkserver', ['import', '--worker', '--json', '--db', db], FAST);
      assert.equal(w.code, 0, w.stderr);
      const sum = JSON.parse(w.stdout);
      const n = build.rpms.filter((r) => r.arch !== 'src').length;
      assert.deepEqual([sum.instances, sum.builds.imported, sum.rpms.indexed], [['one', 'two'], 2, 2 * n]);
      assert.ok(k.requests().filter((l) => l.method === 'POST').length > rpcBefore, 'the worker asked the recorded hub about the build of "two"');
      for (const inst of ['one', 'two']) {
        const q = run('darkserver', ['query', '--json', '--db', db, '--rpm', `${build.rpms.find((r) => r.arch !== 'src')!.nvr}.x86_64`]);
        assert.ok((JSON.parse(q.stdout) as { instance: string; kojibuildid: number }[]).some((x) => x.instance === inst && x.kojibuildid === build.id), inst);
      }
      await sound(backend, db);
    });

    test(`${backend}: failed RPMs and BUILDING builds: one line each, exit 1; --retry-failed and a later worker finish them`, async () => {
      const db = await freshDb(backend, 'problems');
      const bad = fixtureBuilds.find((b) => b.nvr === 'df-kmod-1.0-1')!;
      const later = fixtureBuilds.find((b) => b.nvr === 'df-nolinks-1.0-1')!;
      const fine = fixtureBuilds.find((b) => b.nvr === 'df-cross-1.0-1')!;
      const badNvra = `${bad.rpms[0].nvr}.${bad.rpms[0].arch}`;
      const gone = fixtureBuilds.find((b) => b.nvr === 'df-hardlink-1.0-1')!;
      await k.control({ build_state: { [later.id]: 0, [gone.id]: 2 }, faults: { fail_forever: [badNvra] } });
      try {
        // A DELETED build asked for is a problem for --queue, as for import; the rest is queued.
        const deleted = run('darkserver', producer(db, ['--queue', String(gone.id), String(fine.id)]), FAST);
        assert.equal(deleted.code, 1);
        // One line: nothing to retry for a build Koji deleted, so no --retry-failed hint (issue 13).
        assert.equal(deleted.stderr, `darkserver import: build ${gone.id} (${gone.nvr}): DELETED in Koji; nothing to import\n`);
        assert.match(deleted.stdout, /^queued 1 builds \(\d+ RPMs\) from fake for import workers; 0 imported already, 1 skipped, /);
        const q = run('darkserver', producer(db, ['--queue', '--json', String(bad.id), String(later.id), String(fine.id)]), FAST);
        assert.equal(q.code, 0, q.stderr);
        assert.deepEqual([JSON.parse(q.stdout).queued.builds, JSON.parse(q.stdout).builds.building], [2, 1]);
        const w = run('darkserver', ['import', '--worker', '--db', db], FAST);
        assert.equal(w.code, 1);
        assert.match(w.stderr, new RegExp(`^darkserver import: ${badNvra}: http://127\\.0\\.0\\.1:\\d+/kojifiles/\\S+\\.rpm: HTTP 503 \\(Service Unavailable\\) after \\d+ attempts in [\\d.]+ s$`, 'm'));
        assert.match(w.stderr, new RegExp(`^darkserver import: build ${later.id} \\(${later.nvr}\\): still BUILDING in Koji; it stays queued for the next import$`, 'm'));
        assert.match(w.stderr, /^darkserver import: not every build this worker worked on was imported \(see "darkserver jobs"; --retry-failed tries failed ones again\)$/m);
        assert.equal(w.stderr.trim().split('\n').length, 3, w.stderr);
        assert.match(w.stdout, /imported 1 of 3 builds worked on from fake: \d+ RPMs indexed .* 1 failed; .* 0 builds skipped, 1 still building, 1 failed\n$/);
        assert.deepEqual(jobsOf(db).builds, { building: 1, done: 1, failed: 1, skipped: 1 });
      } finally {
        await k.control({ build_state: { [later.id]: 1, [gone.id]: 1 }, faults: { fail_forever: [] } });
      }
      const again = run('darkserver', ['import', '--worker', '--retry-failed', '--json', '--db', db], FAST);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout).builds, { worked: 2, imported: 2, skipped: 0, building: 0, failed: 0 });
      assert.deepEqual(jobsOf(db).builds, { done: 3, skipped: 1 });
      assert.equal(run('darkserver', ['query', '--db', db, '--rpm', badNvra]).code, 0);
      await sound(backend, db);
    });

    test(`${backend}: SIGTERM puts the worker's RPMs back on the queue and exits 143; the next worker finishes`, async () => {
      const db = await freshDb(backend, 'term');
      assert.equal(run('darkserver', producer(db, ['--queue', String(set.builds[0].id)]), FAST).code, 0);
      await k.control({ faults: { stall_file: 2, stall_ms: 20_000 } });
      const w = start(['import', '--worker', '--jobs', '2', '--db', db], FAST);
      try {
        await stalled(k, 'the worker started two downloads');
        w.child.kill('SIGTERM');
        const e = await w.exit;
        assert.equal(e.code, 143, e.stderr);
        assert.match(e.stderr, /^darkserver import: interrupted by SIGTERM: \d+ of \d+ RPMs done, 2 in progress put back on the queue; run "darkserver import --worker" again to finish\n$/);
      } finally {
        w.child.kill('SIGKILL');
        await k.control({ faults: { stall_file: 0 } });
      }
      assert.equal((await queueRows(db)).filter((x) => x.state === 'running').length, 0);
      const next = run('darkserver', ['import', '--worker', '--db', db], FAST);
      assert.equal(next.code, 0, next.stderr);
      assert.deepEqual(jobsOf(db).rpms, { done: RPMS });
    });
  }

  for (const backend of BACKENDS) {
    test(`${backend}: --worker --follow takes work as producers queue it, pass after pass; a BUILDING build is no problem until Koji completes it; SIGTERM between passes exits 0`, async () => {
      const db = await freshDb(backend, 'follow');
      const first = fixtureBuilds.find((b) => b.nvr === 'df-noarch-1.0-1')!;
      const building = fixtureBuilds.find((b) => b.nvr === 'df-setid-1.0-1')!;
      const bad = fixtureBuilds.find((b) => b.nvr === 'df-seekable-1.0-1')!;
      const badNvra = `${bad.rpms.find((r) => r.arch !== 'src')!.nvr}.x86_64`;
      const w = start(['import', '--worker', '--follow', '--poll', '1', '--json', '--db', db], FAST);
      let out = '';
      w.child.stdout!.on('data', (x: string) => { out += x; });
      const passes = (): { pass: number; builds: { imported: number; failed: number }; rpms: { indexed: number; failed: number }; instances: string[] }[] =>
        out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
        for (let end = Date.now() + 30_000; !ok();) {
          assert.ok(Date.now() < end, `${what}; stdout so far: ${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      try {
        // An empty database: the worker waits, quietly.
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(out, '');
        assert.equal(w.child.exitCode, null, 'still running');

        await k.control({ build_state: { [building.id]: 0 }, faults: { fail_forever: [badNvra] } });
        assert.equal(run('darkserver', producer(db, ['--queue', String(first.id), String(building.id)]), FAST).code, 0);
        await waitFor('the queued build was imported by a later pass', () => passes().some((p) => p.builds.imported === 1));
        const p1 = passes().find((p) => p.builds.imported === 1)!;
        assert.deepEqual([p1.instances, p1.rpms.indexed, p1.builds.failed], [['fake'], first.rpms.filter((r) => r.arch !== 'src').length, 0]);
        assert.deepEqual(jobsOf(db).builds, { building: 1, done: 1 });

        // A failing RPM: one line, not one per pass.
        assert.equal(run('darkserver', producer(db, ['--queue', String(bad.id)]), FAST).code, 0);
        await waitFor('the failing build was worked on', () => passes().some((p) => p.rpms.failed === 1));
        const seen = passes().length;
        // Koji completes the BUILDING build: a pass imports it.
        await k.control({ build_state: { [building.id]: 1 } });
        await waitFor('the build Koji completed was imported', () => passes().slice(seen).some((p) => p.builds.imported === 1));
        await new Promise((r) => setTimeout(r, 2500)); // two more passes with nothing to do
        assert.deepEqual(jobsOf(db).builds, { done: 2, failed: 1 });
        assert.ok(passes().every((p, i) => p.pass > (passes()[i - 1]?.pass ?? 0)), 'passes are numbered');
      } finally {
        await k.control({ build_state: { [building.id]: 1 }, faults: { fail_forever: [] } });
      }
      // Between passes (idle): SIGTERM ends it at once, exit 0.
      const t = Date.now();
      w.child.kill('SIGTERM');
      const e = await w.exit;
      assert.equal(e.code, 0, e.stderr);
      assert.ok(Date.now() - t < 5000, 'it did not wait for anything');
      const lines = e.stderr.trim().split('\n');
      assert.equal(lines.length, 1, e.stderr);
      assert.match(lines[0], new RegExp(`^darkserver import: ${badNvra.replace(/\./g, '\\.')}: http://127\\.0\\.0\\.1:\\d+/kojifiles/\\S+\\.rpm: HTTP 503 \\(Service Unavailable\\) after \\d+ attempts in [\\d.]+ s$`));
      assert.doesNotMatch(e.stderr, /BUILDING/);
      assert.equal(run('darkserver', ['import', '--worker', '--follow', '--since', '1', '--db', db]).code, 2);
      await sound(backend, db);

      // During a pass: the RPMs in flight go back on the queue, exit 143, one line.
      const db2 = await freshDb(backend, 'follow-term');
      assert.equal(run('darkserver', producer(db2, ['--queue', String(set.builds[0].id)]), FAST).code, 0);
      await k.control({ faults: { stall_file: 2, stall_ms: 20_000 } });
      const w2 = start(['import', '--worker', '--follow', '--jobs', '2', '--db', db2], FAST);
      try {
        await stalled(k, 'the worker started two downloads');
        w2.child.kill('SIGTERM');
        const e2 = await w2.exit;
        assert.equal(e2.code, 143, e2.stderr);
        assert.equal(e2.stderr, 'darkserver import: interrupted by SIGTERM during a pass: 2 RPMs in progress put back on the queue; '
          + 'the next "darkserver import --worker" takes them\n');
      } finally {
        w2.child.kill('SIGKILL');
        await k.control({ faults: { stall_file: 0 } });
      }
      assert.deepEqual(jobsOf(db2).rpms, { queued: RPMS }, 'nothing left running: the two in flight were put back');
    });
  }

  test('postgresql: a worker waits out a server that goes away and comes back, and finishes the queue', async () => {
    const pg = await pgCluster();
    const db = await freshDb('postgresql', 'restart');
    assert.equal(run('darkserver', producer(db, ['--queue', String(set.builds[0].id)]), FAST).code, 0);
    await k.control({ faults: { latency_ms: 150 } });
    const w = start(['import', '--worker', '--jobs', '2', '--json', '--db', db], { ...FAST, DARKFORGE_LEASE_SECONDS: '2' });
    try {
      for (let end = Date.now() + 30_000; (await queueRows(db)).filter((x) => x.state === 'done').length < 2;) {
        assert.ok(Date.now() < end, 'the worker indexed a first RPM or two');
        await new Promise((r) => setTimeout(r, 50));
      }
      await pg.kill();
      await new Promise((r) => setTimeout(r, 3000));
      await pg.start();
      const e = await w.exit;
      assert.equal(e.code, 0, e.stderr);
      const lines = e.stderr.trim().split('\n');
      assert.equal(lines.length, 2, e.stderr);
      assert.match(lines[0], /^darkserver import: postgresql:\/\/darkforge@127\.0\.0\.1:\d+\/restart_\d+_\d+: (the connection to the PostgreSQL server was lost|cannot connect to the PostgreSQL server|the PostgreSQL server is shutting down)[^;]*; waiting for it \(trying again every 0\.5 s\)$/);
      assert.equal(lines[1], 'darkserver import: the database answers again');
      assert.doesNotMatch(e.stderr, new RegExp(pg.password));
      assert.equal(JSON.parse(e.stdout).complete, true);
    } finally {
      w.child.kill('SIGKILL');
      await k.control({ faults: { latency_ms: 0 } });
    }
    assert.deepEqual((await queueRows(db)).map((x) => x.state), Array(RPMS).fill('done'));
    await sound('postgresql', db);
  });
});
