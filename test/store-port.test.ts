// The store port (src/lib/store/port.ts), one behavioural suite run against both adapters: the
// SQLite file and a real PostgreSQL 15 database (a throwaway cluster, helpers/pg.ts). The index
// must answer alike, row for row and in the same order (PostgreSQL's databases here sort text by
// an ICU locale, SQLite bytewise); the import queue's claims, leases and exactly-once writes, and
// the image jobs' state rules, must hold on both.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { synthRecords } from '../bench/synthetic-index.ts';
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../src/lib/errors.ts';
import { TargetNotEmpty } from '../src/lib/store/not-empty.ts';
import { openIndexLoad, openStore } from '../src/lib/store/open.ts';
import { COPY_COLUMNS, COPY_ORDER, COPY_TABLES, type CopyRow, type CopyTable, type ImageJobStore, type RpmJob, type RpmRecord, type Store, type WorkerRef } from '../src/lib/store/port.ts';
import { tempDir } from './helpers/cli.ts';
import { AWKWARD_IDS, awkwardRecords, fillQueueAndJobs } from './helpers/awkward-index.ts';
import { BACKENDS, freshDb, type Backend } from './helpers/backends.ts';

const ID_A = '699d82ed314fa6085dda4886782c4f341d2b5137';
const ID_B = '0123456789abcdef0123456789abcdef01234567';
const ID_C = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

function rec(pkgid: string, nvra: string, rows: RpmRecord['rows'], over: Partial<RpmRecord> = {}): RpmRecord {
  const [, name, version, release, arch] = /^(.*)-([^-]+)-([^-]+)\.([^.]+)$/.exec(nvra)!;
  return {
    instance: 'local', pkgid, build: { name, version, release, nvr: `${name}-${version}-${release}`, distro: 'fc38' },
    name, version, release, arch, nvra, url: `file:///rpms/${nvra}.rpm`, method: 'header',
    elfFiles: rows.length, elfWithoutBuildId: 0, rows, ...over,
  };
}

/**
 * Realistic RPMs, and the awkward cases on top: names and paths whose byte order differs from a
 * locale's (upper case, "_", non-ASCII), the same row twice, one path with two ids, odd paths, a
 * type the schema does not seed, one NVRA in two instances, an RPM without files.
 */
function records(): RpmRecord[] {
  const out = [...synthRecords(4000, 5)];
  const exe = (path: string, buildId = ID_A): RpmRecord['rows'][number] => ({ path, buildId, type: 'executable' });
  out.push(
    rec('p1', 'Zeta-1-1.x86_64', [exe('/usr/bin/zeta'), exe('/usr/bin/Zeta'), exe('/usr/bin/_zeta'), exe('/usr/bin/ärger')]),
    rec('p2', 'alpha-1-1.x86_64', [exe('/usr/bin/b'), exe('/usr/bin/B'), exe('/usr/bin/a'), exe('/usr/bin/a'), exe('/usr/bin/a', ID_B)]),
    rec('p3', '_under-1-1.noarch', [exe('no-slash', ID_B), { path: '/usr/lib/debug/usr/bin/x-y-z-1.0-1.fc38.x86_64.debug', buildId: ID_B, type: 'debuginfo' },
      { path: '/usr/lib/debug/-lead-dash.debug', buildId: ID_B, type: 'debuginfo' }, { path: '/opt/x/', buildId: ID_C, type: 'relocatable' },
      { path: '/usr/lib/modules/x.ko', buildId: ID_A, type: 'future-type' as RpmRecord['rows'][0]['type'] }]),
    rec('p4', 'alpha-1-1.x86_64', [exe('/usr/bin/a')], { instance: 'koji', build: { name: 'alpha', version: '1', release: '1', nvr: 'alpha-1-1', distro: '', kojiBuildId: 42 } }),
    rec('p5', 'alpha-debugsource-1-1.x86_64', [], { build: { name: 'alpha', version: '1', release: '1', nvr: 'alpha-1-1', distro: 'fc38' } }),
    rec('p6', 'empty-1-1.noarch', []),
  );
  return out;
}

describe('the index answers alike on both backends', () => {
  const recs = records();
  const stores = {} as Record<Backend, Store>;
  before(async () => {
    for (const b of BACKENDS) {
      stores[b] = await openStore(await freshDb(b, 'answers'));
      for (const r of recs) assert.equal(await stores[b].addRpm(r), true, `${b}: ${r.nvra}`);
      await stores[b].saveInstance({ name: 'koji', hub: 'https://koji.example/kojihub', topurl: 'https://koji.example/kojifiles', mirrors: ['https://m/{nvra}.rpm'], retrace: [] });
    }
  });
  after(async () => { for (const b of BACKENDS) await stores[b]?.close(); });
  const ids = (): string[] => [ID_A, ID_B, ID_C, 'abcdef12', 'abc', ...recs.slice(0, 40).flatMap((r) => r.rows.slice(0, 3).map((x) => x.buildId))];
  const nvras = (): string[] => [...new Set(recs.map((r) => r.nvra))].slice(-60).concat(['nosuch-1-1.x86_64']);
  const paths = (): string[] => ['/usr/bin/a', '/usr/bin/B', 'no-slash', '/opt/x/', '/usr/lib/debug/usr/bin/x-y-z-1.0-1.fc38.x86_64.debug', '/none',
    ...recs.slice(0, 40).flatMap((r) => r.rows.slice(0, 2).map((x) => x.path))];

  const same = async <T>(what: string, ask: (s: Store) => Promise<T>): Promise<T> => {
    const a = await ask(stores.sqlite);
    const b = await ask(stores.postgresql);
    assert.deepEqual(b, a, what);
    return a;
  };

  test('by build-id, N-V-R.A, path: the same rows in the same order', async () => {
    const first = await same(`byBuildId ${ID_A}`, (s) => s.byBuildId(ID_A));
    assert.deepEqual(first.map((r) => `${r.rpm} ${r.elf} ${r.instance}`).slice(0, 4),
      ['Zeta-1-1.x86_64 /usr/bin/Zeta local', 'Zeta-1-1.x86_64 /usr/bin/_zeta local', 'Zeta-1-1.x86_64 /usr/bin/zeta local', 'Zeta-1-1.x86_64 /usr/bin/ärger local'],
      'bytewise order: upper case, then "_", then lower case, then non-ASCII');
    for (const id of ids()) await same(`byBuildId ${id}`, (s) => s.byBuildId(id));
    for (const n of nvras()) await same(`byNvra ${n}`, (s) => s.byNvra(n));
    for (const n of nvras()) await same(`hasNvra ${n}`, (s) => s.hasNvra(n));
    for (const p of paths()) await same(`byPath ${p}`, (s) => s.byPath(p));
    const ties = await same('the same NVRA in two instances', (s) => s.byNvra('alpha-1-1.x86_64'));
    assert.deepEqual(ties.map((r) => `${r.elf} ${r.instance} ${r.buildid.slice(0, 4)}`),
      ['/usr/bin/B local 699d', '/usr/bin/a local 699d', '/usr/bin/a local 699d', '/usr/bin/a local 0123', '/usr/bin/a koji 699d', '/usr/bin/b local 699d']);
    assert.equal((await same('an odd number of digits matches nothing', (s) => s.byBuildId(ID_A.slice(0, 39)))).length, 0);
  });

  test('packages, build siblings, instances and stats', async () => {
    for (const q of ['alpha', 'alpha-1-1.x86_64', 'Zeta', 'nosuch', ...recs.slice(0, 20).map((r) => r.name)]) await same(`rpmsNamed ${q}`, (s) => s.rpmsNamed(q));
    const sib = await same('buildSiblings', (s) => s.buildSiblings(ID_A));
    assert.ok(sib.some((r) => r.name === 'alpha-debugsource'), 'the build\'s RPM without files is a sibling');
    for (const id of ids().slice(0, 20)) await same(`buildSiblings ${id}`, (s) => s.buildSiblings(id));
    const inst = await same('instances', async (s) => [...(await s.instances())].map(([k, v]) => [k, { ...v, updated_at: undefined }]));
    assert.deepEqual(inst, [['koji', { name: 'koji', hub: 'https://koji.example/kojihub', topurl: 'https://koji.example/kojifiles', weburl: undefined, mirrors: ['https://m/{nvra}.rpm'], retrace: [], updated_at: undefined }]]);
    const st = await same('stats', (s) => s.stats());
    assert.equal(st.rpms, recs.length);
    assert.equal(st.files, recs.reduce((n, r) => n + r.rows.length, 0));
    assert.equal(st.schemaVersion, 7);
    assert.deepEqual(Object.keys(st.byType), [...Object.keys(st.byType)].sort());
    assert.ok(st.byType['future-type'] === 1);
    assert.equal(await stores.postgresql.hasRpm('local', 'p1'), true);
    assert.equal(await stores.postgresql.hasRpm('koji', 'p1'), false);
  });
});

/** Fixed worker identities: two processes, possibly on two machines. */
const W1: WorkerRef = { id: 'host-a:101:aaaa', host: 'host-a', pid: 101 };
const W2: WorkerRef = { id: 'host-b:202:bbbb', host: 'host-b', pid: 202 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const backend of BACKENDS) {
  describe(`store port on ${backend}`, () => {
    let s: Store;
    before(async () => { s = await openStore(await freshDb(backend, 'port')); });
    after(async () => { await s?.close(); });

    test('an RPM is written whole or not at all; a package twice is written once', async () => {
      const broken = rec('w1', 'whole-1-1.x86_64', [{ path: '/usr/bin/w', buildId: ID_A, type: 'executable' }, { path: null as unknown as string, buildId: ID_A, type: 'executable' }]);
      await assert.rejects(s.addRpm(broken), TypeError);
      assert.deepEqual(await s.byNvra('whole-1-1.x86_64'), []);
      assert.equal(await s.hasRpm('local', 'w1'), false);
      const good = rec('w1', 'whole-1-1.x86_64', [{ path: '/usr/bin/w', buildId: ID_A, type: 'executable' }]);
      assert.equal(await s.addRpm(good), true);
      assert.equal(await s.addRpm(good), false);
      // Two writers of one package at once: one writes it.
      const again = rec('w2', 'twice-1-1.x86_64', [{ path: '/usr/bin/t', buildId: ID_B, type: 'executable' }]);
      const [x, y] = await Promise.all([s.addRpm(again), s.addRpm(again)]);
      assert.equal(Number(x) + Number(y), 1);
      assert.equal((await s.byNvra('twice-1-1.x86_64')).length, 1);
    });

    test('import queue: claims in queue order, never one row to two workers', async () => {
      const q = s.queue;
      const b = await q.addBuild('kq', 7, 'pkg-1-1');
      assert.deepEqual(await q.addBuild('kq', 7), b, 'adding a build twice changes nothing');
      await q.expandBuild(b, ['c', 'a', 'b', 'd'].map((n, i) => ({ koji_rpm_id: 700 + i, nvra: `${n}-1-1.x86_64`, url: `http://k/${n}.rpm`, payloadhash: null, size: 1 })),
        { kojiState: 1, nvr: 'pkg-1-1' });
      assert.equal((await q.buildById(b.id))!.state, 'fetching');
      assert.equal(await q.queuedRpms('kq'), 4);
      const claims = await Promise.all([q.claimRpm(W1, { instance: 'kq', leaseMs: 60_000 }), q.claimRpm(W2, { instance: 'kq', leaseMs: 60_000 }),
        q.claimRpm(W1, { instance: 'kq', leaseMs: 60_000 })]);
      assert.equal(new Set(claims.map((c) => c!.id)).size, 3, 'three different rows');
      assert.deepEqual(claims.map((c) => c!.nvra).sort(), ['a-1-1.x86_64', 'b-1-1.x86_64', 'c-1-1.x86_64'], 'the first three in queue order');
      for (const c of claims) {
        assert.equal(c!.state, 'running');
        assert.equal(c!.attempts, 1);
        assert.ok(c!.lease_until! > Date.now() + 50_000);
      }
      assert.equal(await q.runningElsewhere('kq', W1, [7]), 1, 'W2 holds one');
      assert.equal(await q.runningElsewhere('kq', W2, [7]), 2);
      assert.equal(await q.runningElsewhere('kq', W2, [8]), 0);
      const o = await q.overview();
      const running = o.failedRpms.filter((r) => r.instance === 'kq');
      assert.deepEqual(running.map((r) => [r.nvra, r.worker_id, r.host]).sort(), claims.map((c) => [c!.nvra, c!.worker_id, c!.host]).sort(),
        'overview shows who holds each running RPM');
      assert.deepEqual(claims.map((c) => c!.worker_id), [W1.id, W2.id, W1.id]);
      assert.ok(Math.abs(o.now - Date.now()) < 5000, 'the store\'s clock');
      assert.equal(await q.releaseWorker(W1), 2);
      assert.equal(await q.queuedRpms('kq'), 3);
      assert.equal(await q.releaseWorker(W2), 1);
    });

    test('a lapsed lease is taken over, and its old holder can then write nothing', async () => {
      const q = s.queue;
      const b = await q.addBuild('kl', 1);
      await q.expandBuild(b, [{ koji_rpm_id: 1, nvra: 'lease-1-1.x86_64', url: 'http://k/l.rpm', payloadhash: null, size: 1 }], { kojiState: 1, nvr: 'lease-1-1' });
      const mine = (await q.claimRpm(W1, { instance: 'kl', leaseMs: 300 }))!;
      assert.equal(await q.claimRpm(W2, { instance: 'kl', leaseMs: 60_000 }), undefined, 'held: nothing to claim');
      // Renewed in time, the claim outlives its first lease.
      await sleep(150);
      assert.equal(await q.renewLeases(W1, [mine.id], 300), 1);
      assert.equal(await q.renewLeases(W2, [mine.id], 300), 0, 'only the holder renews');
      await sleep(200);
      assert.equal(await q.claimRpm(W2, { instance: 'kl', leaseMs: 60_000 }), undefined, 'renewed: still held');
      await sleep(300);
      // Lapsed: W2 takes it over; W1, back from a stall, can neither write nor fail it.
      const theirs = (await q.claimRpm(W2, { instance: 'kl', leaseMs: 60_000 }))!;
      assert.equal(theirs.id, mine.id);
      assert.equal(theirs.attempts, 2);
      const row = rec('lease-pkg', 'lease-1-1.x86_64', [{ path: '/usr/bin/lease', buildId: ID_C, type: 'executable' }], { instance: 'kl' });
      assert.equal(await q.completeRpm(mine.id, W1, row, { method: 'header', bytes: 10 }), 'lost');
      assert.equal(await q.failRpm(mine.id, W1, { error: 'x', bytes: 0 }), false);
      assert.equal(await s.hasRpm('kl', 'lease-pkg'), false, 'the stale worker wrote nothing');
      assert.equal(await q.completeRpm(theirs.id, W2, row, { method: 'header', bytes: 10 }), 'indexed');
      assert.equal(await q.completeRpm(theirs.id, W2, row, { method: 'header', bytes: 10 }), 'lost', 'done: no longer held');
      const [done] = await q.rpmsOf(b.id);
      assert.deepEqual([done.state, done.worker_id, done.host, (done as unknown as { method: string }).method, done.lease_until], ['done', W2.id, W2.host, 'header', null]);
      assert.equal((await s.byNvra('lease-1-1.x86_64')).length, 1, 'written once');
      assert.equal(await q.settleBuild(b.id), 'done');
      assert.equal((await q.buildById(b.id))!.state, 'done');
      // An expired lease that nobody took over still cannot be written by its holder.
      const b2 = await q.addBuild('kl', 2);
      await q.expandBuild(b2, [{ koji_rpm_id: 2, nvra: 'late-1-1.x86_64', url: 'http://k/late.rpm', payloadhash: null, size: 1 }], { kojiState: 1, nvr: 'late-1-1' });
      const late = (await q.claimRpm(W1, { instance: 'kl', leaseMs: 100 }))!;
      await sleep(250);
      assert.equal(await q.completeRpm(late.id, W1, undefined, { method: 'already', bytes: 0 }), 'lost');
      const { now, claims } = await q.runningClaims();
      const c = claims.find((x) => x.id === late.id)!;
      assert.ok(c.lease_until! < now, 'the store sees the lease as lapsed');
      assert.equal(await q.releaseClaims([{ id: late.id, worker_id: W2.id }]), 0, 'released only by the worker that holds it');
      assert.equal(await q.releaseClaims([{ id: late.id, worker_id: W1.id }]), 1);
      assert.equal(await q.queuedRpms('kl'), 1);
    });

    test('batches: RPMs claimed several at a time, never one to two workers; written several to a transaction, each only under its lease', async () => {
      const q = s.queue;
      const b = await q.addBuild('kb', 1, 'batch-1-1');
      const names = ['h', 'c', 'a', 'g', 'e', 'b', 'f', 'd'];
      await q.expandBuild(b, names.map((n, i) => ({ koji_rpm_id: 900 + i, nvra: `${n}-1-1.x86_64`, url: `http://k/${n}.rpm`, payloadhash: null, size: 1 })),
        { kojiState: 1, nvr: 'batch-1-1' });
      assert.deepEqual(await q.claimRpms(W1, { instance: 'kb', leaseMs: 60_000, limit: 0 }), [], 'a limit of 0 claims nothing');
      const first = await q.claimRpms(W1, { instance: 'kb', leaseMs: 60_000, limit: 3 });
      assert.deepEqual(first.map((r) => r.nvra), ['a-1-1.x86_64', 'b-1-1.x86_64', 'c-1-1.x86_64'], 'the first three in queue order');
      for (const r of first) assert.deepEqual([r.state, r.worker_id, r.attempts], ['running', W1.id, 1]);
      // Two workers claiming at once get disjoint batches, and between them all that is left.
      const [x, y] = await Promise.all([q.claimRpms(W1, { instance: 'kb', leaseMs: 60_000, limit: 3 }), q.claimRpms(W2, { instance: 'kb', leaseMs: 100, limit: 3 })]);
      const all = [...first, ...x, ...y].map((r) => r.id);
      assert.equal(new Set(all).size, 8, 'eight different rows');
      assert.deepEqual(await q.claimRpms(W2, { instance: 'kb', leaseMs: 60_000, limit: 5 }), [], 'nothing left to claim');
      assert.equal(await q.runningElsewhere('kb', W1, [1]), y.length);

      // One transaction for W1's six: rows for some, none for others, and one it no longer holds.
      await sleep(250); // W2's leases (100 ms) lapse
      const taken = await q.claimRpms(W1, { instance: 'kb', leaseMs: 60_000, limit: 1 });
      assert.equal(taken.length, 1, 'a lapsed claim is taken over');
      assert.ok(y.some((r) => r.id === taken[0].id));
      const row = (pkgid: string, nvra: string) => rec(pkgid, nvra, [{ path: `/usr/bin/${nvra}`, buildId: ID_C, type: 'executable' }], { instance: 'kb' });
      const [a, bb, c] = first;
      const answers = await q.completeRpms(W1, [
        { id: a.id, rec: row('batch-a', a.nvra), method: 'header', bytes: 100 },
        { id: bb.id, rec: row('batch-a', bb.nvra), method: 'header', bytes: 200 }, // the same package again: already
        { id: c.id, method: 'skipped', bytes: 0 },
        { id: y[0].id === taken[0].id ? y[1].id : y[0].id, rec: row('batch-lost', 'lost-1-1.x86_64'), method: 'header', bytes: 1 }, // W2's, lapsed, not W1's
        { id: taken[0].id, rec: row('batch-t', taken[0].nvra), method: 'payload', bytes: 300 },
      ]);
      assert.deepEqual(answers, ['indexed', 'already', 'already', 'lost', 'indexed']);
      assert.equal(await s.hasRpm('kb', 'batch-lost'), false, 'nothing written for a claim not held');
      assert.equal((await s.byNvra(a.nvra)).length, 1);
      assert.equal((await s.byNvra(bb.nvra)).length, 0, 'one package, written once');
      assert.equal((await s.byNvra(taken[0].nvra)).length, 1);
      const rows = new Map((await q.rpmsOf(b.id)).map((r) => [r.id, r as RpmJob & { method: string; bytes_fetched: number }]));
      assert.deepEqual([a, bb, c, taken[0]].map((r) => [rows.get(r.id)!.state, rows.get(r.id)!.method, rows.get(r.id)!.bytes_fetched, rows.get(r.id)!.lease_until]),
        [['done', 'header', 100, null], ['done', 'already', 200, null], ['done', 'skipped', 0, null], ['done', 'payload', 300, null]]);
      assert.deepEqual(await q.completeRpms(W1, []), []);
      assert.deepEqual(await q.completeRpms(W1, [{ id: a.id, method: 'header', bytes: 1 }]), ['lost'], 'done: no longer held');
      // Several builds' RPMs recorded in one transaction (a page of a multicall).
      const [p2, p1, again] = await q.addBuilds('kb', [{ kojiBuildId: 3 }, { kojiBuildId: 2, nvr: 'p1-1-1' }, { kojiBuildId: 1 }]);
      assert.deepEqual([p2.koji_build_id, p1.koji_build_id, p1.nvr, p1.state], [3, 2, 'p1-1-1', 'queued'], 'rows in the order given');
      assert.deepEqual(again, await q.buildById(b.id), 'a build already queued is returned as it is');
      assert.deepEqual(await q.addBuilds('kb', []), []);
      await q.expandBuilds([
        { job: p1, rpms: [{ koji_rpm_id: 950, nvra: 'p1-1-1.x86_64', url: 'http://k/p1.rpm', payloadhash: 'aa', size: 7 }], kojiState: 1, nvr: 'p1-1-1' },
        { job: p2, rpms: [], kojiState: 1, nvr: 'p2-1-1' },
      ]);
      assert.deepEqual([(await q.buildById(p1.id))!.state, (await q.buildById(p2.id))!.nvr, (await q.buildById(p2.id))!.state], ['fetching', 'p2-1-1', 'fetching']);
      assert.deepEqual((await q.rpmsOf(p1.id)).map((r) => [r.nvra, r.state, r.payloadhash, r.size]), [['p1-1-1.x86_64', 'queued', 'aa', 7]]);
      await q.expandBuilds([]);
      assert.equal(await q.settleBuild(p2.id), 'done', 'a build without RPMs is done at once');
      assert.equal(await q.releaseWorker(W1), x.length, 'W1 still holds its second batch');
      assert.equal(await q.releaseWorker(W2), y.length - 1, 'the lapsed claims W1 did not take are W2\'s until someone does');
    });

    test('failed RPMs settle their build as failed; retry puts them back', async () => {
      const q = s.queue;
      const b = await q.addBuild('kf', 1, 'f-1-1');
      await q.expandBuild(b, [1, 2].map((i) => ({ koji_rpm_id: i, nvra: `f${i}-1-1.x86_64`, url: `http://k/f${i}.rpm`, payloadhash: null, size: 1 })), { kojiState: 1, nvr: 'f-1-1' });
      const one = (await q.claimRpm(W1, { instance: 'kf', leaseMs: 60_000 }))!;
      assert.equal(await q.settleBuild(b.id), 'fetching', 'RPMs pending');
      assert.equal(await q.failRpm(one.id, W1, { error: 'HTTP 503 after 5 attempts', bytes: 12 }), true);
      const two = (await q.claimRpm(W1, { instance: 'kf', leaseMs: 60_000 }))!;
      assert.equal(await q.completeRpm(two.id, W1, undefined, { method: 'skipped', bytes: 0 }), 'already');
      assert.equal(await q.settleBuild(b.id), 'failed');
      const failed = (await q.buildById(b.id))!;
      assert.equal(failed.last_error, '1 of 2 RPMs failed');
      const o = await q.overview();
      assert.equal(o.failedRpms.find((r) => r.id === one.id)!.last_error, 'HTTP 503 after 5 attempts');
      assert.ok(o.pending.some((p) => p.id === b.id && p.rpms_total === 2 && p.rpms_done === 1 && p.rpms_failed === 1));
      await q.retryBuild(failed.id);
      assert.equal((await q.buildById(b.id))!.state, 'fetching');
      assert.equal(await q.queuedRpms('kf'), 1);
      const b2 = await q.addBuild('kf', 2);
      await q.setBuild(b2.id, 'failed', { error: 'listRPMs failed' });
      await q.retryFailed('kf');
      assert.equal((await q.buildById(b2.id))!.state, 'queued', 'never expanded: listed again');
      assert.deepEqual((await q.buildsIn('kf', 'queued')).map((x) => x.koji_build_id), [2]);
      await q.setBuild(b2.id, 'skipped', { kojiState: 3, nvr: 'f2-1-1', error: 'DELETED in Koji' });
      const sk = (await q.build('kf', 2))!;
      assert.deepEqual([sk.state, sk.koji_state, sk.nvr, sk.last_error], ['skipped', 3, 'f2-1-1', 'DELETED in Koji']);
    });

    test('import queue: --full remembered per row, the last RPM settles its build, retry of every instance, follow marks', async () => {
      const q = s.queue;
      // --full: a build queued with it gives RPM rows marked so; asked again with it, the rows not done yet are marked too.
      const plain = await q.addBuild('kx', 1, 'x-1-1');
      assert.equal(plain.full_scan, 0);
      await q.expandBuild(plain, [1, 2].map((i) => ({ koji_rpm_id: 100 + i, nvra: `x${i}-1-1.x86_64`, url: `http://k/x${i}.rpm`, payloadhash: null, size: 1 })),
        { kojiState: 1, nvr: 'x-1-1' });
      assert.deepEqual((await q.rpmsOf(plain.id)).map((r) => r.full_scan), [0, 0]);
      const first = (await q.claimRpm(W1, { instance: 'kx', leaseMs: 60_000 }))!;
      assert.equal(await q.completeRpm(first.id, W1, undefined, { method: 'skipped', bytes: 0 }), 'already');
      assert.equal((await q.buildById(plain.id))!.state, 'fetching', 'one RPM still queued');
      assert.equal((await q.addBuild('kx', 1, undefined, { fullScan: true })).full_scan, 1);
      assert.deepEqual((await q.rpmsOf(plain.id)).map((r) => [r.state, r.full_scan]), [['done', 0], ['queued', 1]], 'only the RPM not done yet');
      const second = (await q.claimRpm(W2, { instance: 'kx', leaseMs: 60_000 }))!;
      assert.equal(second.full_scan, 1, 'a claim says so');
      // The last RPM to finish settles its build at once (no "fetching 2/2" left behind).
      assert.equal(await q.completeRpm(second.id, W2, undefined, { method: 'skipped', bytes: 0 }), 'already');
      assert.equal((await q.buildById(plain.id))!.state, 'done');
      const full = await q.addBuild('kx', 2, 'y-1-1', { fullScan: true });
      await q.expandBuild(full, [{ koji_rpm_id: 201, nvra: 'y-1-1.x86_64', url: 'http://k/y.rpm', payloadhash: null, size: 1 }], { kojiState: 1, nvr: 'y-1-1' });
      assert.deepEqual((await q.rpmsOf(full.id)).map((r) => r.full_scan), [1], 'expanded from a --full build');
      const y = (await q.claimRpm(W1, { instance: 'kx', leaseMs: 60_000 }))!;
      assert.equal(await q.failRpm(y.id, W1, { error: 'HTTP 503', bytes: 0 }), true);
      const failed = (await q.buildById(full.id))!;
      assert.deepEqual([failed.state, failed.last_error], ['failed', '1 of 1 RPMs failed'], 'a failed last RPM settles the build as failed');

      // Failed work of every instance, and which instances have work.
      const other = await q.addBuild('ky', 3);
      await q.setBuild(other.id, 'failed', { error: 'listRPMs failed' });
      assert.ok(!(await q.instancesWithWork()).includes('kx'), 'failed work is not pending work');
      const failedBefore = (await q.overview()).pending.filter((b) => b.state === 'failed');
      assert.ok(failedBefore.some((b) => b.instance === 'kx') && failedBefore.some((b) => b.instance === 'ky'));
      assert.equal(await q.retryFailed(), failedBefore.length, 'the failed builds of every instance');
      assert.deepEqual((await q.overview()).pending.filter((b) => b.state === 'failed'), []);
      assert.equal((await q.buildById(full.id))!.state, 'fetching');
      assert.equal((await q.buildById(other.id))!.state, 'queued');
      assert.deepEqual((await q.rpmsOf(full.id)).map((r) => [r.state, r.full_scan]), [['queued', 1]]);
      const busy = await q.instancesWithWork();
      assert.ok(busy.includes('kx') && busy.includes('ky'));
      assert.deepEqual(busy, [...busy].sort(), 'by name');
      assert.equal(await q.retryFailed('kx'), 0);

      // Follow marks: per instance, only forward unless reset, the start kept.
      assert.equal(await q.followMark('kx'), undefined);
      const start = { instance: 'kx', event_id: 2 ** 40, event_ts: 1_700_000_000.123456, since_ts: 1_700_000_000.123456 };
      assert.deepEqual(await q.setFollowMark(start, { reset: true }), start);
      const on = { instance: 'kx', event_id: 2 ** 40 + 5, event_ts: 1_700_000_060.5, since_ts: 1 };
      assert.deepEqual(await q.setFollowMark(on), { ...on, since_ts: start.since_ts }, 'moved forward; the start stays');
      assert.deepEqual(await q.setFollowMark({ ...start, event_id: 7, event_ts: 1_600_000_000 }), { ...on, since_ts: start.since_ts },
        'never set back by a slower follower');
      const since = { instance: 'kx', event_id: null, event_ts: 1_600_000_000, since_ts: 1_600_000_000 };
      assert.deepEqual(await q.setFollowMark(since, { reset: true }), since, '--since sets it back');
      await q.setFollowMark({ instance: 'ky', event_id: 1, event_ts: 2, since_ts: 2 }, { reset: true });
      assert.deepEqual((await q.overview()).follow.filter((m) => m.instance.startsWith('k')), [since, { instance: 'ky', event_id: 1, event_ts: 2, since_ts: 2 }]);
    });

    test('image jobs: queued -> running -> final, and a final state never changes', async () => {
      const j: ImageJobStore = s.imageJobs;
      const root = tempDir();
      const dirs = { claimDir: (id: number) => ({ jobDir: join(root, String(id)), logPath: join(root, String(id), 'job.log') }), releaseDir: () => undefined };
      const job = await j.create({ type: 'dvd', arch: 'x86_64', backend: 'pungi', config: '{"type":"dvd"}', pid: 4242, host: 'here' }, dirs);
      assert.deepEqual([job.state, job.pid, job.host, job.job_dir, job.artifacts, job.worker_id], ['queued', 4242, 'here', join(root, String(job.id)), '[]', null]);
      await j.handOver(job.id, 4343);
      assert.equal((await j.get(job.id))!.pid, 4343);
      assert.equal(await j.started(job.id, 4444, 'here'), true);
      assert.equal(await j.started(job.id, 4545, 'here'), false, 'only a queued job starts');
      await j.setProcessGroup(job.id, 5000);
      assert.equal((await j.unfinished()).find((x) => x.id === job.id)!.pgid, 5000);
      const { job: c, canceled } = await j.cancel(job.id, 'canceled (imagebuild cancel)');
      assert.deepEqual([canceled, c.state, c.error, c.pgid], [true, 'canceled', 'canceled (imagebuild cancel)', 5000]);
      await j.finished(job.id, 'succeeded', { artifacts: '["/x.iso"]', error: null });
      assert.equal((await j.get(job.id))!.state, 'canceled', 'final stays final');
      assert.equal((await j.cancel(job.id, 'again')).canceled, false);
      assert.equal(await j.markCanceled(job.id, 'again'), false);

      const other = await j.create({ type: 'boot', arch: 'i686', backend: 'lorax', config: '{}', pid: 1, host: 'here', timeoutS: 60, retryOf: job.id }, dirs);
      assert.deepEqual([other.retry_of, other.timeout_s], [job.id, 60]);
      assert.equal(await j.markInterrupted(other.id, 'queued', 2, 'interrupted'), false, 'another pid: not this job\'s process');
      assert.equal(await j.markInterrupted(other.id, 'queued', 1, 'interrupted: gone'), true);
      const gone = (await j.get(other.id))!;
      assert.deepEqual([gone.state, gone.error], ['failed', 'interrupted: gone']);
      assert.deepEqual((await j.list()).map((x) => x.id), [job.id, other.id]);
      assert.equal(await j.get(9999), undefined);
      // A folder that cannot be recorded is given back.
      let released = '';
      await assert.rejects(j.create({ type: 'dvd', arch: 'x86_64', backend: 'pungi', config: '{}', pid: 1, host: 'here' },
        { claimDir: (id) => ({ jobDir: join(root, `bad-${id}`), logPath: null as unknown as string }), releaseDir: (d) => { released = d; } }));
      assert.match(released, /bad-\d+$/);
      assert.ok(!existsSync(released));
    });

    test('image jobs for workers: claimed by arch in queue order, one worker each, under a lease; lost, put back', async () => {
      const j: ImageJobStore = s.imageJobs;
      const root = tempDir();
      const claimed: string[] = [];
      const dirs = { claimDir: (id: number) => { claimed.push(String(id)); return { jobDir: join(root, String(id)), logPath: join(root, String(id), 'job.log') }; }, releaseDir: () => undefined };
      const none = { claimDir: () => ({ jobDir: '', logPath: '' }), releaseDir: () => undefined };
      const make = (arch: string) => j.create({ type: 'boot', arch, backend: 'lorax', config: '{}', pid: null, host: null, forWorker: true }, none);
      const local = await j.create({ type: 'boot', arch: 'x86_64', backend: 'lorax', config: '{}', pid: 77, host: 'here' }, dirs);
      const [a, b, p, c] = [await make('x86_64'), await make('x86_64'), await make('ppc64le'), await make('x86_64')];
      assert.deepEqual([a.state, a.pid, a.host, a.job_dir, a.for_worker], ['queued', null, null, '', 1]);
      assert.equal(local.for_worker, 0);
      const got = await Promise.all([W1, W2, W1, W2].map((w) => j.claim(w, { arches: ['x86_64', 'i686'], leaseMs: 60_000 }, dirs)));
      const ids = got.map((g) => g?.id);
      assert.deepEqual(ids.filter(Boolean).sort((x, y) => x! - y!), [a.id, b.id, c.id], 'each x86_64 job once; not the local job, not ppc64le');
      assert.equal(ids.filter((x) => x === undefined).length, 1);
      for (const g of got.filter(Boolean)) {
        assert.equal(g!.state, 'running');
        assert.ok([W1.id, W2.id].includes(g!.worker_id!));
        assert.equal(g!.host, g!.worker_id === W1.id ? W1.host : W2.host);
        assert.equal(g!.job_dir, join(root, String(g!.id)), 'the folder claimed on the worker');
        assert.ok(g!.lease_until! > Date.now() + 50_000);
      }
      assert.equal((await j.claim(W1, { arches: ['ppc64le'], leaseMs: 300 }, dirs))!.id, p.id);
      assert.deepEqual(await j.lapsed(), [], 'no lease ran out yet');
      await sleep(150);
      assert.equal(await j.renewLease(p.id, W1.id, 300), true);
      assert.equal(await j.renewLease(p.id, W2.id, 300), false, 'only the holder renews');
      await sleep(200);
      assert.deepEqual((await j.lapsed()).map((x) => x.id), [], 'renewed in time');
      assert.equal(await j.markLost(p.id, W1.id, 'worker lost'), false, 'not while the lease holds');
      await sleep(300);
      assert.deepEqual((await j.lapsed()).map((x) => x.id), [p.id]);
      assert.equal(await j.markLost(p.id, W2.id, 'worker lost'), false, 'another worker\'s claim is not this one');
      assert.equal(await j.markLost(p.id, W1.id, 'worker lost on b'), true);
      assert.deepEqual([(await j.get(p.id))!.state, (await j.get(p.id))!.error, (await j.get(p.id))!.worker_id], ['failed', 'worker lost on b', W1.id]);
      assert.equal(await j.renewLease(p.id, W1.id, 300), false, 'the holder learns it lost the job');
      assert.equal(await j.putBack(p.id, W1.id), false, 'a final state stays');
      // A stopped worker puts its job back: queued for anyone, its process, folder and lease forgotten.
      const held = got.find((g) => g && g.worker_id === W2.id)!;
      assert.equal(await j.putBack(held.id, W1.id), false, 'only by its holder');
      assert.equal(await j.putBack(held.id, W2.id), true);
      const back = (await j.get(held.id))!;
      assert.deepEqual([back.state, back.pid, back.host, back.worker_id, back.lease_until, back.job_dir, back.started_at], ['queued', null, null, null, null, '', null]);
      assert.equal((await j.claim(W1, { arches: ['x86_64'], leaseMs: 60_000 }, dirs))!.id, held.id, 'claimed again');
      // A local job is never put back nor claimed.
      assert.equal(await j.started(local.id, 77, 'here', { workerId: W1.id, leaseMs: 60_000 }), true);
      assert.equal((await j.get(local.id))!.worker_id, W1.id);
      assert.equal(await j.putBack(local.id, W1.id), false);
    });

    test('image job logs: appended in pieces, read from any offset, only the newest part kept', async () => {
      const j: ImageJobStore = s.imageJobs;
      const none = { claimDir: () => ({ jobDir: '', logPath: '' }), releaseDir: () => undefined };
      const job = await j.create({ type: 'dvd', arch: 'x86_64', backend: 'auto', config: '{}', pid: null, host: null, forWorker: true }, none);
      const other = await j.create({ type: 'dvd', arch: 'x86_64', backend: 'auto', config: '{}', pid: null, host: null, forWorker: true }, none);
      assert.deepEqual(await j.readLog(job.id, 0, 1 << 20), []);
      const pieces = [Buffer.from('first line\n'), Buffer.from([0xe2, 0x82]), Buffer.from([0xac, 0x0a, 0x00, 0xff]), Buffer.alloc(3000, 'x')];
      for (const p of pieces) await j.appendLog(job.id, p, 1 << 20);
      await j.appendLog(other.id, Buffer.from('other job\n'), 1 << 20);
      await j.appendLog(job.id, Buffer.alloc(0), 1 << 20);
      const all = await j.readLog(job.id, 0, 1 << 20);
      assert.deepEqual(all.map((c) => c.pos), [0, 11, 13, 17], 'each piece at its byte offset');
      assert.deepEqual(Buffer.concat(all.map((c) => Buffer.from(c.data))), Buffer.concat(pieces), 'bytes as written, any bytes');
      assert.deepEqual((await j.readLog(job.id, 13, 1 << 20)).map((c) => c.pos), [13, 17]);
      assert.deepEqual((await j.readLog(job.id, 0, 12)).map((c) => c.pos), [0, 11], 'about maxBytes');
      assert.deepEqual((await j.readLog(job.id, 0, 1)).map((c) => c.pos), [0], 'at least one piece');
      assert.deepEqual((await j.readLog(job.id, 3017, 1 << 20)), [], 'nothing after the end');
      // Keep about 4000 bytes: the pieces that end before the newest 4000 go.
      await j.appendLog(job.id, Buffer.alloc(2000, 'y'), 4000);
      const kept = await j.readLog(job.id, 0, 1 << 20);
      assert.deepEqual(kept.map((c) => c.pos), [17, 3017], 'the oldest pieces are dropped, offsets stay');
      assert.deepEqual((await j.readLog(other.id, 0, 1 << 20)).map((c) => Buffer.from(c.data).toString()), ['other job\n'], 'per job');
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Copying a store: snapshot() and openIndexLoad(), between every pair of backends.

/** Every table of a store as its snapshot reads it, in batches of `batch`. */
async function dump(s: Store, batch = 1000): Promise<Record<CopyTable, CopyRow[]>> {
  const snap = await s.snapshot();
  try {
    const out = {} as Record<CopyTable, CopyRow[]>;
    for (const t of COPY_TABLES) {
      out[t] = [];
      for await (const rows of snap.rows(t, batch)) {
        assert.ok(rows.length > 0 && rows.length <= batch, `${t}: a batch of ${rows.length}`);
        out[t].push(...rows);
      }
      assert.equal(out[t].length, snap.counts[t], `${t}: as many rows as counted`);
    }
    return out;
  } finally {
    await snap.close();
  }
}

/** Copy `from` into the store at `to` through the port, `batch` rows at a time. */
async function load(from: Store, to: string, o: { replace?: boolean; batch?: number } = {}): Promise<void> {
  const snap = await from.snapshot();
  try {
    // A target that is refused throws here: the snapshot must still end, or the source stays in its read transaction.
    const l = await openIndexLoad(to, { replace: o.replace });
    try {
      for (const t of COPY_TABLES) for await (const rows of snap.rows(t, o.batch ?? 777)) await l.write(t, rows);
      await snap.close();
      await l.commit();
    } finally {
      await l.abort();
    }
  } finally {
    await snap.close();
  }
}

describe('copying a store: snapshot and bulk load', () => {
  const sources = {} as Record<Backend, string>;
  const recs = [...records(), ...awkwardRecords()];
  before(async () => {
    for (const b of BACKENDS) {
      sources[b] = await freshDb(b, 'copysrc');
      const s = await openStore(sources[b]);
      for (const r of recs) await s.addRpm(r);
      await fillQueueAndJobs(s);
      await s.close();
    }
  });

  for (const from of BACKENDS) {
    for (const to of BACKENDS) {
      test(`${from} to ${to}: every row with its id, and every answer, as in the source`, async () => {
        const src = await openStore(sources[from], { readOnly: true });
        const dst = await freshDb(to, 'copydst');
        try {
          await load(src, dst);
          const copy = await openStore(dst);
          try {
            const [a, b] = [await dump(src), await dump(copy)];
            for (const t of COPY_TABLES) assert.deepEqual(b[t], a[t], `${t}: the same rows in the same order`);
            assert.ok(a.files.length > 3_000, `${a.files.length} files rows: several batches`);
            assert.equal(a.import_rpms.length, 4);
            assert.equal(a.instances.length, 2);
            for (const id of [...AWKWARD_IDS, ID_A, ID_B, ...recs.slice(0, 30).map((r) => r.rows[0]?.buildId).filter(Boolean)]) {
              assert.deepEqual(await copy.byBuildId(id), await src.byBuildId(id), `byBuildId ${id}`);
              assert.deepEqual(await copy.buildSiblings(id), await src.buildSiblings(id), `buildSiblings ${id}`);
            }
            for (const r of recs.slice(-30)) {
              assert.deepEqual(await copy.byNvra(r.nvra), await src.byNvra(r.nvra), `byNvra ${r.nvra}`);
              assert.deepEqual(await copy.rpmsNamed(r.name), await src.rpmsNamed(r.name), `rpmsNamed ${r.name}`);
              for (const f of r.rows) assert.deepEqual(await copy.byPath(f.path), await src.byPath(f.path), `byPath ${JSON.stringify(f.path)}`);
            }
            assert.deepEqual(await copy.stats(), await src.stats());
            assert.deepEqual(await copy.instances(), await src.instances());
            assert.deepEqual(await copy.imageJobs.list(), [], 'image jobs are not copied');
            // The copy goes on: new ids follow the copied ones, new names and types are interned.
            assert.equal(await copy.addRpm(rec('after-copy', 'after-1-1.x86_64', [{ path: '/usr/bin/brand-new-name', buildId: ID_C, type: 'executable' },
              { path: '/usr/bin/after', buildId: ID_C, type: 'newer-type' as RpmRecord['rows'][0]['type'] }])), true);
            const added = await copy.byNvra('after-1-1.x86_64');
            assert.deepEqual(added.map((m) => [m.elf, m.type]), [['/usr/bin/after', 'newer-type'], ['/usr/bin/brand-new-name', 'executable']]);
            const after = await dump(copy);
            const maxId = (rows: CopyRow[]): number => Math.max(...rows.map((r) => r[0] as number));
            assert.equal(maxId(after.rpms), maxId(a.rpms) + 1);
            assert.equal(maxId(after.file_types), maxId(a.file_types) + 1);
            const nb = await copy.queue.addBuild('koji', 123456);
            assert.equal(nb.id, maxId(a.import_builds) + 1);
          } finally {
            await copy.close();
          }
        } finally {
          await src.close();
        }
      });
    }
  }

  for (const backend of BACKENDS) {
    test(`${backend}: rows come in primary-key order, from one snapshot that later writes do not change`, async () => {
      const db = await freshDb(backend, 'snap');
      const s = await openStore(db);
      const writer = await openStore(db);
      try {
        for (const r of recs.slice(0, 200)) await s.addRpm(r);
        const snap = await s.snapshot();
        const before = snap.counts.rpms;
        // Another connection writes while the snapshot is read.
        await writer.addRpm(rec('late', 'late-1-1.x86_64', [{ path: '/usr/bin/late', buildId: ID_C, type: 'executable' }]));
        for (const t of COPY_TABLES) {
          const key = COPY_ORDER[t].map((c) => COPY_COLUMNS[t].indexOf(c));
          let prev: CopyRow | undefined;
          let n = 0;
          for await (const rows of snap.rows(t, 50)) {
            for (const r of rows) {
              if (prev) {
                const cmp = key.map((k) => (prev![k]! < r[k]! ? -1 : prev![k]! > r[k]! ? 1 : 0)).find((x) => x !== 0) ?? 0;
                assert.equal(cmp, -1, `${t}: ascending ${COPY_ORDER[t].join(', ')}`);
              }
              prev = r;
              n++;
            }
          }
          assert.equal(n, snap.counts[t]);
        }
        assert.equal(snap.counts.rpms, before);
        assert.equal(snap.counts.rpms, 200, 'the RPM written after the snapshot began is not in it');
        await snap.close();
        assert.equal((await s.stats()).rpms, 201);
      } finally {
        await writer.close();
        await s.close();
      }
    });

    test(`${backend}: a target that holds an index is refused and left as it was; replace replaces it and keeps the target's image jobs`, async () => {
      const src = await openStore(sources.sqlite, { readOnly: true });
      const db = await freshDb(backend, 'full');
      const t = await openStore(db);
      await t.addRpm(rec('mine', 'mine-1-1.x86_64', [{ path: '/usr/bin/mine', buildId: ID_A, type: 'executable' }]));
      const root = tempDir();
      const job = await t.imageJobs.create({ type: 'boot', arch: 'x86_64', backend: 'lorax', config: '{}', pid: 7, host: 'server' },
        { claimDir: (id) => ({ jobDir: join(root, String(id)), logPath: join(root, String(id), 'job.log') }), releaseDir: () => undefined });
      await t.close();
      try {
        const e = await load(src, db).then(() => undefined, (x: unknown) => x);
        assert.ok(e instanceof TargetNotEmpty, String(e));
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /holds an index already \(1 RPMs, 1 build-id rows, 0 builds in the import queue\).*pass --replace/);
        let again = await openStore(db);
        assert.equal((await again.byNvra('mine-1-1.x86_64')).length, 1, 'left as it was');
        await again.close();
        await load(src, db, { replace: true });
        again = await openStore(db);
        assert.deepEqual(await again.byNvra('mine-1-1.x86_64'), [], 'replaced');
        assert.equal((await again.stats()).rpms, (await src.stats()).rpms);
        assert.deepEqual((await again.imageJobs.list()).map((j) => [j.id, j.type, j.host]), [[job.id, 'boot', 'server']], 'its own image job stays');
        await again.close();
      } finally {
        await src.close();
      }
    });

    test(`${backend}: an aborted load, or one whose rows point nowhere, leaves the target as it was`, async () => {
      const src = await openStore(sources.postgresql, { readOnly: true });
      const db = await freshDb(backend, 'abort');
      const t = await openStore(db);
      await t.addRpm(rec('keep', 'keep-1-1.x86_64', [{ path: '/usr/bin/keep', buildId: ID_B, type: 'executable' }]));
      const before = await dump(t);
      await t.close();
      try {
        const snap = await src.snapshot();
        const l = await openIndexLoad(db, { replace: true });
        for await (const rows of snap.rows('builds', 100)) await l.write('builds', rows);
        for await (const rows of snap.rows('rpms', 100)) { await l.write('rpms', rows); break; }
        await snap.close();
        await l.abort();
        await l.abort();
        const orphan = await openIndexLoad(db, { replace: true });
        await orphan.write('file_types', [[0, 'debuginfo']]);
        await orphan.write('files', [[424242, 0, 0, 0, 0, 0, Buffer.from(ID_A, 'hex')]]);
        await assert.rejects(orphan.commit(), (e: unknown) => e instanceof UserError && /refer|reference/.test(e.message) && /nothing was changed/.test(e.message));
        const s = await openStore(db);
        assert.deepEqual(await dump(s), before, 'the target is as it was');
        await s.close();
        if (backend === 'sqlite') assert.deepEqual(readdirSync(dirname(db)).filter((f) => f.includes('.copy-')), [], 'no temporary file left');
      } finally {
        await src.close();
      }
    });
  }
});
