// Several `darkserver import` processes on one queue, on both backends: three importers at once
// build the index a single clean import builds, row for row; a worker that stalls past its lease
// (SIGSTOP) loses its RPM to another worker and, when it comes back, writes nothing for it.
// `darkserver jobs` shows who holds what meanwhile.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../src/lib/store/open.ts';
import type { RpmJob, Store } from '../src/lib/store/port.ts';
import { BACKENDS, freshDb, pgCluster, type Backend } from './helpers/backends.ts';
import { run } from './helpers/cli.ts';
import { assertSound, start } from './helpers/db-faults.ts';
import { buildsFromRpmDir, startFakeKoji, type FakeKoji } from './helpers/fake-koji.ts';
import { assertSoundPg } from './helpers/pg.ts';
import { rpmSet } from './helpers/rpm-set.ts';

const RPMS = 20;
const FAST = { DARKFORGE_BACKOFF_MS: '5' };

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
        for (let end = Date.now() + 30_000; (await k.status()).faults.stall_file > 0;) {
          assert.ok(Date.now() < end, 'A started its first download');
          await new Promise((r) => setTimeout(r, 20));
        }
        a.child.kill('SIGSTOP');
        const held = (await queueRows(db)).filter((x) => x.state === 'running');
        assert.equal(held.length, 1);
        assert.ok(held[0].worker_id!.startsWith(`${hostname()}:${a.child.pid}:`), held[0].worker_id!);
        const shown = run('darkserver', ['jobs', '--db', db]);
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, new RegExp(`^fake\\t${held[0].nvra}\\trunning\\tattempts 1\\theld by ${held[0].worker_id}, lease [01] s left$`, 'm'));
        await new Promise((r) => setTimeout(r, 1600));
        assert.match(run('darkserver', ['jobs', '--db', db]).stdout, new RegExp(`\\theld by ${held[0].worker_id}, lease ran out [12] s ago$`, 'm'));

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
