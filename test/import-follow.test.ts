// darkserver import --follow against the fake Koji hub, where builds appear while it runs: each is
// indexed within two polls; a first start begins at Koji's current event (nothing completed
// before it is imported); a BUILDING build is imported once it completes, a DELETED one skipped,
// one whose completion committed late (stamped behind the mark) still found; a restart goes on
// from the stored mark and fetches nothing twice; SIGTERM between polls exits 0, during a poll
// 143 with its RPMs put back; a walk may run at once on the same database.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BACKENDS, freshDb } from './helpers/backends.ts';
import { run } from './helpers/cli.ts';
import { buildsFromRpmDir, type FakeBuildSpec, type FakeKoji, type LogLine, startFakeKoji } from './helpers/fake-koji.ts';
import { FIXTURES, ROOT } from './helpers/paths.ts';
import { UserError } from '../src/lib/errors.ts';
import { kojiTime, parseSince } from '../src/lib/import/since.ts';

const FAST = { DARKFORGE_BACKOFF_MS: '5' };
const rpmFiles = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String)
  .filter((f) => f.endsWith('.rpm') && !f.startsWith('large')).map((f) => join(dir, f));
const fixtureBuilds = buildsFromRpmDir(rpmFiles(FIXTURES), { firstId: 1000 });
const byNvr = (builds: FakeBuildSpec[], nvr: string): FakeBuildSpec => builds.find((b) => b.nvr === nvr)!;
const binaries = (b: FakeBuildSpec): string[] => b.rpms.filter((r) => r.arch !== 'src').map((r) => `${r.nvr}.${r.arch}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Follow {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function follow(k: FakeKoji, db: string, args: string[] = []): Follow {
  return darkserver(['import', '--follow', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...args]);
}

/** A darkserver command that keeps running, its output gathered as it comes. */
function darkserver(args: string[]): Follow {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', ...FAST } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

/** `darkserver jobs --json`; {} while the database does not exist yet (the follower creates it). */
const jobs = (db: string) => {
  const r = run('darkserver', ['jobs', '--json', '--db', db]);
  return r.code === 0 ? JSON.parse(r.stdout) : {};
};
const indexed = (db: string, nvra: string): boolean => run('darkserver', ['query', '--db', db, '--rpm', nvra]).code === 0;
const isRpc = (name: string) => (l: LogLine): boolean => l.rpc === name;
const getsOf = (k: FakeKoji, nvra: string, after = 0): LogLine[] =>
  k.requests().filter((l) => l.method === 'GET' && l.path.endsWith(`/${nvra}.rpm`) && l.t >= after);
const noStack = (s: string): void => assert.doesNotMatch(s, /^\s+at |internal error/m, 'no stack trace');

/** Builds appear at `t` (seconds); the build is indexed after at most two polls (listBuilds calls) that followed. */
async function indexedWithinTwoPolls(k: FakeKoji, db: string, b: FakeBuildSpec, t: number): Promise<void> {
  for (const nvra of binaries(b)) await until(`${nvra} indexed`, () => indexed(db, nvra));
  const firstGet = Math.min(...binaries(b).map((n) => getsOf(k, n, t)[0]?.t ?? Infinity));
  assert.ok(Number.isFinite(firstGet), `${b.nvr}: its RPMs were fetched`);
  const polls = k.requests().filter((l) => isRpc('listBuilds')(l) && l.t > t && l.t < firstGet).length;
  assert.ok(polls >= 1 && polls <= 2, `${b.nvr}: fetched after ${polls} polls`);
}

for (const backend of BACKENDS) {
  describe(`import --follow, ${backend}`, () => {
    test('builds that appear are each indexed within two polls; BUILDING later, DELETED skipped, a late commit found; a restart resumes at the mark', async () => {
      const builds = structuredClone(fixtureBuilds);
      const early = [byNvr(builds, 'df-cross-1.0-1'), byNvr(builds, 'df-debug-1.0-1')]; // completed before the first start
      const [complete, building, deleted, late, whileStopped] = ['df-hardlink-1.0-1', 'df-kmod-1.0-1', 'df-kmodz-1.0-1', 'df-noarch-1.0-1', 'df-nolinks-1.0-1']
        .map((n) => byNvr(builds, n));
      for (const b of [complete, building, deleted, late, whileStopped]) b.hidden = true;
      building.state = 0;
      deleted.state = 2;
      const k = await startFakeKoji({ builds });
      try {
        const db = await freshDb(backend, 'follow');
        const f = follow(k, db, ['--poll', '1', '--jobs', '2']);
        await until('the follow mark', () => jobs(db).follow?.some((m: { instance: string }) => m.instance === 'fake'));
        const start = jobs(db).follow[0];
        assert.equal(start.event_id, (await k.status()).last_event.id, 'a first start begins at Koji\'s current event');

        await sleep(1000);
        let t = Date.now() / 1000;
        const completedAt = (await k.status()).last_event.ts;
        await k.control({ appear: [complete.id] });
        await indexedWithinTwoPolls(k, db, complete, t);

        // The late one commits now, stamped between the start and the mark (which has moved past
        // the complete build's event): found only by looking back behind the mark.
        t = Date.now() / 1000;
        const stamp = (start.since_ts + completedAt) / 2;
        assert.ok(jobs(db).follow[0].event_ts > stamp);
        await k.control({ appear: [building.id, deleted.id], appear_late: { [late.id]: Date.now() / 1000 - stamp } });
        await indexedWithinTwoPolls(k, db, late, t);
        // Two more polls: the BUILDING build is not imported yet, the DELETED one is skipped.
        const seen = k.requests().filter(isRpc('listBuilds')).length;
        await until('two more polls', () => k.requests().filter(isRpc('listBuilds')).length >= seen + 2);
        assert.equal(indexed(db, binaries(building)[0]), false, 'still BUILDING in Koji');
        const q = jobs(db);
        const row = (b: FakeBuildSpec) => q.pending.find((x: { koji_build_id: number }) => x.koji_build_id === b.id);
        assert.deepEqual([row(deleted)?.state, row(deleted)?.koji_state], ['skipped', 2]);
        assert.deepEqual(getsOf(k, binaries(deleted)[0]), [], 'nothing fetched of a DELETED build');
        t = Date.now() / 1000;
        await k.control({ build_state: { [building.id]: 1 } });
        await indexedWithinTwoPolls(k, db, building, t);
        for (const b of early) for (const n of binaries(b)) assert.equal(indexed(db, n), false, `${n} completed before the first start`);

        f.child.kill('SIGTERM');
        const end = await f.exited;
        // Between polls: 0; during one: 143 with its RPMs put back (each poll is short here).
        assert.ok(end.code === 0 || end.code === 143, `exit ${end.code} ${end.signal}`);
        noStack(f.stderr());
        if (end.code === 0) assert.equal(f.stderr(), '', 'quiet when not a terminal');
        const lines = f.stdout().split('\n').filter(Boolean);
        assert.ok(lines.every((l) => /^fake: \d+ builds? imported \(\d+ RPMs indexed, .*\) up to Koji event \d+$/.test(l)), f.stdout());
        assert.equal(lines.reduce((n, l) => n + Number(/^fake: (\d+)/.exec(l)![1]), 0), 3, 'one line per batch: 3 builds in all');
        const mark = jobs(db).follow[0];
        assert.ok(mark.event_id > start.event_id && mark.since_ts === start.since_ts, 'the mark moved; the start stays');

        // Stopped: a build completes meanwhile. The restart takes it from the stored mark and fetches nothing twice.
        await k.control({ appear: [whileStopped.id] });
        const restart = Date.now() / 1000;
        const g = follow(k, db, ['--poll', '30']);
        for (const n of binaries(whileStopped)) await until(`${n} indexed after the restart`, () => indexed(db, n));
        await until('the restart\'s batch line', () => /^fake: 1 build imported/m.test(g.stdout()));
        for (const b of [complete, building, late]) for (const n of binaries(b)) assert.deepEqual(getsOf(k, n, restart), [], `${n} not fetched again`);
        g.child.kill('SIGTERM');
        assert.deepEqual(await g.exited, { code: 0, signal: null }, 'SIGTERM between polls');
        assert.equal(g.stderr(), '');
        const after = jobs(db);
        assert.ok(after.follow[0].event_id >= mark.event_id);
        assert.match(run('darkserver', ['jobs', '--db', db]).stdout, new RegExp(`^follow fake: Koji event ${after.follow[0].event_id} \\(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\)$`, 'm'));
        assert.equal(after.rpms.failed ?? 0, 0);
        assert.equal(after.rpms.running ?? 0, 0);
        const all = [complete, building, late, whileStopped].flatMap(binaries);
        assert.equal(after.rpms.done, all.length, 'each RPM once');
        assert.equal(JSON.parse(run('darkserver', ['stats', '--json', '--db', db]).stdout).rpms, all.length);
      } finally {
        await k.stop();
      }
    });
  });
}

for (const backend of BACKENDS) {
  test(`${backend}: a producer and a worker as services: --follow --queue queues what Koji completes and fetches nothing, --worker --follow imports it`, async () => {
    const builds = structuredClone(fixtureBuilds);
    const [first, second] = ['df-hardlink-1.0-1', 'df-debug-1.0-1'].map((n) => byNvr(builds, n));
    for (const b of [first, second]) b.hidden = true;
    const k = await startFakeKoji({ builds });
    const files = (): LogLine[] => k.requests().filter((l) => l.method === 'GET' && l.path.startsWith('/kojifiles/'));
    const db = await freshDb(backend, 'producer');
    const producer = follow(k, db, ['--queue', '--poll', '1']);
    let worker: Follow | undefined;
    try {
      await until('the follow mark', () => jobs(db).follow?.length === 1);
      await k.control({ appear: [first.id] });
      await until('the producer\'s line', () => /^fake: 1 build \(\d+ RPMs\) queued for import workers up to Koji event \d+$/m.test(producer.stdout()));
      assert.equal(producer.stdout().trim().split('\n').length, 1, producer.stdout());
      assert.deepEqual(jobs(db).rpms, { queued: binaries(first).length });
      assert.deepEqual(files(), [], 'the producer fetched no file');

      worker = darkserver(['import', '--worker', '--follow', '--poll', '1', '--json', '--db', db]);
      for (const n of binaries(first)) await until(`${n} indexed by the worker`, () => indexed(db, n));
      // Koji completes another build while both run: queued by one, imported by the other.
      await k.control({ appear: [second.id] });
      for (const n of binaries(second)) await until(`${n} indexed by the worker`, () => indexed(db, n));
      await until('the worker\'s lines', () => worker!.stdout().trim().split('\n').filter(Boolean)
        .reduce((sum, l) => sum + JSON.parse(l).rpms.indexed, 0) === binaries(first).length + binaries(second).length);
      assert.match(producer.stdout(), /^fake: 1 build \(\d+ RPMs\) queued for import workers up to Koji event \d+\nfake: 1 build \(\d+ RPMs\) queued/);
      assert.doesNotMatch(producer.stdout(), /imported/, 'the producer imported nothing itself');
      for (const p of [producer, worker]) {
        p.child.kill('SIGTERM');
        assert.deepEqual(await p.exited, { code: 0, signal: null }, 'SIGTERM between polls and passes');
        assert.equal(p.stderr(), '');
      }
      const q = jobs(db);
      assert.deepEqual([q.builds, q.rpms], [{ done: 2 }, { done: binaries(first).length + binaries(second).length }]);
    } finally {
      producer.child.kill('SIGKILL');
      worker?.child.kill('SIGKILL');
      await k.stop();
    }
  });
}

describe('import --follow: stopping, starting points, a walk at the same time', () => {
  test('SIGTERM during a poll: exit 143, one line, the RPM put back; the next start finishes it', async () => {
    const builds = structuredClone(fixtureBuilds);
    const b = byNvr(builds, 'df-seekable-1.0-1');
    b.hidden = true;
    const k = await startFakeKoji({ builds });
    try {
      const db = await freshDb('sqlite', 'term');
      const f = follow(k, db, ['--poll', '1']);
      await until('the follow mark', () => jobs(db).follow?.length === 1);
      await k.control({ faults: { stall_file: 1, stall_ms: 30_000 }, appear: [b.id] });
      await k.waitForRequests((ls) => ls.some((l) => l.fault === 'stall_file'), 60_000);
      f.child.kill('SIGTERM');
      const end = await f.exited;
      assert.equal(end.code, 143, f.stderr());
      noStack(f.stderr());
      assert.match(f.stderr(), /^darkserver import: interrupted by SIGTERM during a poll: 1 RPMs in progress put back on the queue; the next "darkserver import --follow" goes on from Koji event \d+\n$/);
      const q = jobs(db);
      assert.deepEqual([q.rpms.queued, q.rpms.running, q.rpms.done], [1, undefined, undefined]);
      const g = follow(k, db, ['--poll', '30']);
      await until('indexed after the restart', () => indexed(db, binaries(b)[0]));
      g.child.kill('SIGTERM');
      assert.equal((await g.exited).code, 0);
      assert.equal(jobs(db).builds.done, 1);
    } finally {
      await k.stop();
    }
  });

  test('a hub that fails its answers: told once, and once when it answers again; the builds of that time are not lost', async () => {
    const builds = structuredClone(fixtureBuilds);
    const b = byNvr(builds, 'df-nolinks-1.0-1');
    b.hidden = true;
    const k = await startFakeKoji({ builds });
    try {
      const db = await freshDb('sqlite', 'trouble');
      const f = follow(k, db, ['--poll', '1']);
      await until('the follow mark', () => jobs(db).follow?.length === 1);
      // XML-RPC faults are the hub's answer, not retried: each poll fails at once.
      await k.control({ faults: { rpc_fault: 3 }, appear: [b.id] });
      await until('the hub answers again', () => /answers again/.test(f.stderr()));
      await until('indexed', () => indexed(db, binaries(b)[0]));
      f.child.kill('SIGTERM');
      const end = await f.exited;
      assert.ok(end.code === 0 || end.code === 143, `exit ${end.code}`);
      noStack(f.stderr());
      const lines = f.stderr().split('\n').filter(Boolean).filter((l) => !/interrupted by SIGTERM/.test(l));
      assert.equal(lines.length, 2, f.stderr());
      assert.match(lines[0], /^darkserver import: Koji hub http:\/\/127\.0\.0\.1:\d+\/kojihub: getLastEvent\(\) failed: fault 1000: injected fault: the hub is having a bad day; trying again every 1 s$/);
      assert.equal(lines[1], 'darkserver import: fake: Koji answers again');
      assert.match(f.stdout(), /^fake: 1 build imported/m);
    } finally {
      await k.stop();
    }
  });

  test('--since a date or an event; bad values are usage errors', async () => {
    const builds = structuredClone(fixtureBuilds).slice(0, 3);
    const k = await startFakeKoji({ builds });
    try {
      // The configured builds completed 2024-01-02 03:05:05 UTC.
      const before = await freshDb('sqlite', 'since');
      const f = follow(k, before, ['--poll', '30', '--since', '2024-01-02T03:00:00Z']);
      await until('every build since then', () => jobs(before).builds?.done === 3);
      f.child.kill('SIGTERM');
      assert.equal((await f.exited).code, 0);
      assert.equal(jobs(before).follow[0].since_ts, Date.UTC(2024, 0, 2, 3) / 1000);

      const later = await freshDb('sqlite', 'since2');
      const g = follow(k, later, ['--poll', '30', '--since', String(1000 + builds[2].id)]);
      await until('the mark at the event', () => jobs(later).follow?.[0]?.event_id > 1000 + builds[2].id);
      await until('one poll', () => k.requests().some(isRpc('listBuilds')));
      await sleep(500);
      g.child.kill('SIGTERM');
      assert.equal((await g.exited).code, 0);
      // Every build completed a minute after its creation event: all of them are after that event.
      assert.equal(jobs(later).builds?.done, 3);

      for (const [since, why] of [['yesterday', /not a Koji event id nor a date/], ['2024-02-30', /not a Koji event id nor a date/], ['99999999', /Koji has no such event/]] as const) {
        const r = run('darkserver', ['import', '--follow', '--since', since, '--hub', k.hub, '--topurl', k.topurl, '--db', await freshDb('sqlite', 'bad')], FAST);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, why);
        assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      }
      const both = run('darkserver', ['import', '--follow', '--hub', k.hub, '--db', await freshDb('sqlite', 'bad'), '1000'], FAST);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /--follow .* takes no build/);
      assert.equal(run('darkserver', ['import', '--poll', '5', '--hub', k.hub, '--db', await freshDb('sqlite', 'bad')], FAST).code, 2);
    } finally {
      await k.stop();
    }
  });

  for (const backend of BACKENDS) {
    test(`a walk and --follow at once on one database, ${backend}: every RPM indexed once`, async () => {
      const builds = structuredClone(fixtureBuilds);
      const appearing = builds.filter((b) => ['df-kmod-1.0-1', 'df-nolinks-1.0-1', 'df-setid-1.0-1'].includes(b.nvr));
      for (const b of appearing) b.hidden = true;
      // Two more on the hub's own clock: one a few seconds in, one stamped then but committed later.
      byNvr(builds, 'df-hardlink-1.0-1').appear_after_s = 4;
      Object.assign(byNvr(builds, 'df-cross-1.0-1'), { appear_after_s: 3, commit_delay_s: 4 });
      const k = await startFakeKoji({ builds, faults: { slow_file_ms: 20 } });
      try {
        const db = await freshDb(backend, 'both');
        const f = follow(k, db, ['--poll', '1', '--jobs', '2']);
        await until('the follow mark', () => jobs(db).follow?.length === 1);
        const walk = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), 'import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake',
          '--db', db, '--from', String(builds[0].id), '--to', String(builds[builds.length - 1].id), '--jobs', '2'],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...FAST } });
        let walkOut = '';
        walk.stdout!.setEncoding('utf8').on('data', (s: string) => { walkOut += s; });
        walk.stderr!.setEncoding('utf8').on('data', (s: string) => { walkOut += s; });
        const walked = new Promise<number | null>((r) => walk.on('exit', (c) => r(c)));
        await k.waitForRequests((ls) => ls.some((l) => l.method === 'GET'), 60_000);
        await k.control({ appear: appearing.map((b) => b.id) });
        assert.equal(await walked, 0, walkOut);
        assert.match(walkOut, new RegExp(`^walked build ids ${builds[0].id} to ${builds[builds.length - 1].id} of fake: `));
        const all = builds.flatMap(binaries);
        await until('every RPM indexed', () => (jobs(db).rpms.done ?? 0) === all.length, 120_000);
        f.child.kill('SIGTERM');
        const end = await f.exited;
        assert.ok(end.code === 0 || end.code === 143, `exit ${end.code}`);
        const q = jobs(db);
        assert.deepEqual([q.rpms.done, q.rpms.failed, q.rpms.queued], [all.length, undefined, undefined]);
        assert.equal(q.builds.done, builds.length);
        assert.equal(JSON.parse(run('darkserver', ['stats', '--json', '--db', db]).stdout).rpms, all.length, 'each RPM written once');
        for (const n of all) assert.equal(indexed(db, n), true, n);
      } finally {
        await k.stop();
      }
    });
  }
});

describe('--since and the times given to listBuilds', () => {
  test('an event id, a date, a time with or without a zone; what does not exist is refused', () => {
    assert.deepEqual(parseSince('98765432'), { event: 98765432 });
    assert.deepEqual(parseSince('2024-01-02Z'), { ts: Date.UTC(2024, 0, 2) / 1000 });
    assert.deepEqual(parseSince('2024-01-02T03:04:05.25Z'), { ts: Date.UTC(2024, 0, 2, 3, 4, 5, 250) / 1000 });
    assert.deepEqual(parseSince('2024-01-02 03:04+02:00'), { ts: Date.UTC(2024, 0, 2, 1, 4) / 1000 });
    assert.deepEqual(parseSince('2024-01-02 03:04:05 -0530'), { ts: Date.UTC(2024, 0, 2, 8, 34, 5) / 1000 });
    assert.deepEqual(parseSince('2024-01-02 03:04'), { ts: new Date(2024, 0, 2, 3, 4).getTime() / 1000 }, 'no zone: local time');
    assert.deepEqual(parseSince('2024-02-29'), { ts: new Date(2024, 1, 29).getTime() / 1000 });
    for (const bad of ['0', '-5', '2023-02-29', '2024-13-01', '2024-01-02 24:00', '2024-01-02 12:60', 'now', '', '1.5', '2024-1-2']) {
      assert.throws(() => parseSince(bad), (e: unknown) => e instanceof UserError && e.exitCode === 2, bad);
    }
  });

  test('listBuilds gets UTC with microseconds and an explicit offset', () => {
    assert.equal(kojiTime(1704164645), '2024-01-02 03:04:05.000000+00:00');
    assert.equal(kojiTime(1704164645.123456), '2024-01-02 03:04:05.123456+00:00');
    assert.equal(kojiTime(1704164645.5), '2024-01-02 03:04:05.500000+00:00');
    assert.equal(kojiTime(0), '1970-01-01 00:00:00.000000+00:00');
  });
});
