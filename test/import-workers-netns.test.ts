// Import workers on several machines for real: each machine is a network namespace with its own
// link and host name (helpers/netns.ts); they meet only in PostgreSQL (started by this file,
// listening on the lab network) and at the fake Koji hub (bound there too). Builds are queued
// from machine "a" (`import --queue`); `import --worker` processes on other machines take the
// work, knowing nothing but the database. A worker killed with SIGKILL in the middle of an RPM,
// a worker whose link goes down for longer than its lease, and three workers on one queue, whose
// index must equal, row for row, that of one clean single-process import. Leases are 2 s here.
//
// Nothing is skipped: without root, `ip netns` or PostgreSQL's server binaries this file fails
// (CI runs as root, and .ci/run installs iproute2 and postgresql).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { processAlive } from '../src/lib/proc/alive.ts';
import { openStore } from '../src/lib/store/open.ts';
import type { Store } from '../src/lib/store/port.ts';
import type { Run } from './helpers/cli.ts';
import { run } from './helpers/cli.ts';
import { buildsFromRpmDir, type FakeBuildSpec, type FakeKoji, startFakeKoji } from './helpers/fake-koji.ts';
import { netnsSkip, startNetLab, type Machine, type NetLab } from './helpers/netns.ts';
import { FIXTURES, ROOT } from './helpers/paths.ts';
import { assertSoundPg, HAVE_PG, startPg, type PgCluster } from './helpers/pg.ts';
import { rpmSet } from './helpers/rpm-set.ts';

const LEASE_S = 2;
const BIN = join(ROOT, 'bin', 'darkserver.js');
const ENV = { NO_COLOR: '1', DARKFORGE_DEBUG: '', DARKFORGE_BACKOFF_MS: '5', DARKFORGE_LEASE_SECONDS: String(LEASE_S) };

interface Proc { pid: number; done: Promise<Run>; stderr: () => string }
interface QueueRow { id: number; nvra: string; state: string; attempts: number; worker_id: string | null; host: string | null; method: string | null }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** `p`, or a failure after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

describe('import workers on several machines', () => {
  let lab: NetLab;
  let pg: PgCluster;
  let koji: FakeKoji;
  let builds: FakeBuildSpec[];
  let nvras: string[];
  let rpmCount: number;
  /** The clean single-process import every multi-machine index is compared with. */
  let clean: { dump: string[]; content: string[] };

  before(async () => {
    // Fail, never skip: a run without machines must not look like a pass.
    const why = netnsSkip() ?? (HAVE_PG ? undefined : 'PostgreSQL server binaries are not installed (apt-get install postgresql)');
    if (why) throw new Error(`cannot run the multi-machine import tests: ${why}`);
    builds = [
      ...buildsFromRpmDir(rpmSet(20, 2, { seed: 'netns-workers' }).files, { firstId: 5000 }),
      ...buildsFromRpmDir(readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm') && !f.startsWith('large')).map((f) => join(FIXTURES, f)), { firstId: 7000 }),
    ];
    nvras = builds.flatMap((b) => b.rpms.filter((r) => r.arch !== 'src').map((r) => `${r.nvr}.${r.arch}`));
    rpmCount = nvras.length;
    lab = startNetLab();
    pg = await startPg({ listen: [lab.hostAddress], allow: [lab.cidr] });
    koji = await startFakeKoji({ builds, bind: lab.hostAddress });
    for (const m of ['a', 'b', 'c', 'd']) lab.machine(m);
    const db = await pg.newDatabase('clean');
    const r = run('darkserver', ['import', '--hub', koji.hub, '--topurl', koji.topurl, '--instance', 'fake', '--db', db, ...ids()], ENV);
    assert.equal(r.code, 0, r.stderr);
    clean = { dump: await dump(db), content: await content(db) };
    assert.equal(clean.dump.filter((l) => l.startsWith('rpm ')).length, rpmCount);
  });
  after(async () => {
    await koji?.stop();
    await pg?.stop();
    lab?.cleanup();
  });

  const ids = (): string[] => builds.map((b) => String(b.id));
  const dbName = (url: string): string => new URL(url).pathname.slice(1);
  /** A new database: its URL from this host (loopback), and as the machines reach it (the lab network). */
  const newDb = async (): Promise<{ here: string; there: string }> => {
    const here = await pg.newDatabase('nn');
    return { here, there: pg.urlAt(lab.hostAddress, dbName(here)) };
  };

  /** `darkserver ARGS` on machine `m`. */
  const on = (m: Machine, args: string[]): Proc => {
    const child = m.spawn([process.execPath, BIN, ...args], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const done = new Promise<Run>((r) => child.on('close', (code, signal) => r({ code: code ?? (signal ? 128 : -1), stdout, stderr })));
    return { pid: child.pid!, done, stderr: () => stderr };
  };
  /** Queue every build from machine a: it looks them up in Koji and records their RPMs, fetching nothing. */
  const queueFrom = async (m: Machine, db: string): Promise<void> => {
    const r = await on(m, ['import', '--queue', '--hub', koji.hub, '--topurl', koji.topurl, '--instance', 'fake', '--db', db, ...ids()]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^queued ${builds.length} builds \\(${rpmCount} RPMs\\) from fake for import workers;`));
  };
  const worker = (m: Machine, db: string, more: string[] = []): Proc => on(m, ['import', '--worker', '--json', '--db', db, ...more]);

  const rows = async (here: string): Promise<QueueRow[]> => pg.sql<QueueRow>(
    'SELECT id, nvra, state, attempts, worker_id, host, method FROM import_rpms ORDER BY nvra COLLATE "C"', [], dbName(here));
  const running = async (here: string): Promise<QueueRow[]> => (await rows(here)).filter((r) => r.state === 'running');

  /** The whole index as text, ids and times left out: equal dumps are the same index, row for row. */
  async function dump(here: string): Promise<string[]> {
    const db = dbName(here);
    const out: string[] = [];
    for (const r of await pg.sql(`SELECT b.instance, b.name, b.version, b.release, b.nvr, b.koji_build_id, b.distro FROM builds b ORDER BY b.instance, b.nvr`, [], db)) {
      out.push(`build ${JSON.stringify(Object.values(r))}`);
    }
    for (const r of await pg.sql(`SELECT b.nvr, r.instance, r.pkgid, r.name, r.epoch, r.version, r.release, r.arch, r.nvra, r.source_rpm, r.url, r.size,
        r.payload_compressor, r.method, r.elf_files, r.elf_without_buildid FROM rpms r JOIN builds b ON b.id = r.build_id ORDER BY r.instance, r.nvra`, [], db)) {
      out.push(`rpm ${JSON.stringify(Object.values(r))}`);
    }
    for (const r of await pg.sql(`SELECT r.instance, r.nvra, f.seq, d.name || s.name || t.name AS path, ft.name AS type, encode(f.buildid, 'hex') AS buildid
        FROM files f JOIN rpms r ON r.id = f.rpm_id JOIN names d ON d.id = f.dir JOIN names s ON s.id = f.stem JOIN names t ON t.id = f.tail
        JOIN file_types ft ON ft.id = f.type ORDER BY r.instance, r.nvra, f.seq`, [], db)) {
      out.push(`file ${JSON.stringify(Object.values(r))}`);
    }
    for (const r of await pg.sql(`SELECT name, hub, topurl, weburl, mirrors, retrace FROM instances ORDER BY name`, [], db)) out.push(`instance ${JSON.stringify(Object.values(r))}`);
    for (const r of await pg.sql(`SELECT instance, koji_build_id, nvr, state, koji_state, last_error FROM import_builds ORDER BY instance, koji_build_id`, [], db)) {
      out.push(`queued build ${JSON.stringify(Object.values(r))}`);
    }
    for (const r of await pg.sql(`SELECT instance, koji_rpm_id, nvra, url, payloadhash, size, state, last_error, method FROM import_rpms ORDER BY instance, koji_rpm_id`, [], db)) {
      out.push(`queued rpm ${JSON.stringify(Object.values(r))}`);
    }
    return out;
  }
  /** What queries answer: every RPM's rows through the store port, and the stats. */
  async function content(here: string): Promise<string[]> {
    const s: Store = await openStore(here);
    try {
      const out: string[] = [];
      for (const n of nvras) for (const r of await s.byNvra(n)) out.push(`${r.rpm} ${r.elf} ${r.buildid} ${r.type} ${r.instance} ${r.kojibuildid} ${r.url}`);
      out.push(JSON.stringify({ ...(await s.stats()), db: undefined }));
      return out;
    } finally {
      await s.close();
    }
  }
  /** Equal to the clean import, sound (no orphan rows, no RPM twice). */
  const sameAsClean = async (here: string): Promise<void> => {
    assert.deepEqual(await dump(here), clean.dump);
    assert.deepEqual(await content(here), clean.content);
    await assertSoundPg(pg, here);
  };

  test('three workers on three machines drain one queue: the index of one clean import, row for row; each RPM fetched by one of them', async () => {
    const db = await newDb();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => lab.machine(n));
    await queueFrom(a, db.there);
    await koji.control({ faults: { latency_ms: 40 } });
    let done: Run[];
    try {
      done = await Promise.all([b, c, d].map((m) => worker(m, db.there, ['--jobs', '2']).done));
    } finally {
      await koji.control({ faults: { latency_ms: 0 } });
    }
    for (const r of done) assert.deepEqual([r.code, r.stderr], [0, '']);
    const sums = done.map((r) => JSON.parse(r.stdout));
    [b, c, d].forEach((m, i) => {
      assert.equal(sums[i].host, m.hostname);
      assert.match(sums[i].worker, new RegExp(`^${m.hostname}:\\d+:[0-9a-f]{8}$`));
      assert.equal(sums[i].complete, true);
    });
    assert.equal(sums.reduce((n, s) => n + s.rpms.indexed, 0), rpmCount, 'each RPM indexed by exactly one worker');
    const q = await rows(db.here);
    assert.deepEqual(q.map((r) => [r.state, r.attempts]), q.map(() => ['done', 1]), 'no RPM claimed twice');
    const hosts = new Set(q.map((r) => r.host));
    assert.ok(hosts.size >= 2 && [...hosts].every((h) => [b, c, d].some((m) => m.hostname === h)), `the work was shared: ${[...hosts].join(' ')}`);
    for (const r of q) assert.ok(r.worker_id!.startsWith(`${r.host}:`), `${r.nvra}: ${r.worker_id} on ${r.host}`);
    await sameAsClean(db.here);
    const jobs = await on(a, ['jobs', '--db', db.there]).done;
    assert.equal(jobs.stdout, `builds: ${builds.length} done\nrpms: ${rpmCount} done\n`);
  });

  test('a worker killed with SIGKILL in the middle of an RPM: `jobs` on another machine shows who holds it; after the lease a worker on another machine finishes it, rows written once', async () => {
    const db = await newDb();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => lab.machine(n));
    await queueFrom(a, db.there);
    // The hub answers a's first download slowly: a holds that RPM, in the middle of fetching it.
    await koji.control({ faults: { stall_file: 1, stall_ms: 60_000 } });
    const doomed = worker(a, db.there, ['--jobs', '1']);
    let held: QueueRow;
    try {
      await until('a to start its first download', async () => ((await koji.status()).faults.stall_file === 0 ? true : undefined), 30_000, 20);
      [held] = await until('a to hold one RPM', async () => { const r = await running(db.here); return r.length ? r : undefined; }, 10_000, 20);
      assert.equal(held.host, a.hostname);
      const shown = await on(c, ['jobs', '--db', db.there]).done;
      assert.match(shown.stdout, new RegExp(`^fake\\t${held.nvra}\\trunning\\tattempts 1\\theld by ${held.worker_id}, lease [0-2] s left$`, 'm'));
      const json = JSON.parse((await on(c, ['jobs', '--json', '--db', db.there]).done).stdout);
      const row = json.failedRpms.find((r: QueueRow) => r.nvra === held.nvra);
      assert.deepEqual([row.state, row.host, row.worker_id], ['running', a.hostname, held.worker_id]);
      assert.ok(row.lease_until > json.now && row.lease_until <= json.now + LEASE_S * 1000 + 500, `${row.lease_until} vs ${json.now}`);
    } finally {
      process.kill(doomed.pid, 'SIGKILL');
    }
    const killed = await doomed.done;
    assert.equal(killed.stdout, '', 'killed before it could answer');
    await koji.control({ faults: { stall_file: 0 } });
    // b is another machine: it cannot see that a's process is gone, only that its lease runs out.
    const rescuer = worker(b, db.there, ['--jobs', '2']);
    const r = await rescuer.done;
    assert.deepEqual([r.code, r.stderr], [0, '']);
    const sum = JSON.parse(r.stdout);
    assert.equal(sum.rpms.indexed, rpmCount, 'b indexed every RPM, the lost one too');
    const after = (await rows(db.here)).find((x) => x.id === held.id)!;
    assert.deepEqual([after.state, after.attempts, after.host], ['done', 2, b.hostname]);
    assert.equal(after.worker_id, sum.worker);
    assert.deepEqual((await rows(db.here)).filter((x) => x.id !== held.id).map((x) => x.attempts), Array(rpmCount - 1).fill(1));
    await sameAsClean(db.here);
  });

  test('a worker whose link is down for longer than its lease: its RPM is taken over; back on the network it writes nothing for it, with no error storm and no crash', async () => {
    const db = await newDb();
    const [a, b] = ['a', 'b'].map((n) => lab.machine(n));
    await queueFrom(a, db.there);
    await koji.control({ faults: { stall_file: 1, stall_ms: 8000 } });
    const cutOff = worker(a, db.there, ['--jobs', '1', '--timeout', '3']);
    let held: QueueRow;
    let taken: QueueRow;
    let b1: Run;
    try {
      await until('a to start its first download', async () => ((await koji.status()).faults.stall_file === 0 ? true : undefined), 30_000, 20);
      [held] = await until('a to hold one RPM', async () => { const r = await running(db.here); return r.length ? r : undefined; }, 10_000, 20);
      assert.equal(held.host, a.hostname);
      a.cut('down');
      const cutAt = Date.now();
      try {
        // b takes every other RPM at once, and a's when its lease has run out.
        b1 = await worker(b, db.there, ['--jobs', '2']).done;
        assert.deepEqual([b1.code, b1.stderr], [0, '']);
        assert.equal(JSON.parse(b1.stdout).rpms.indexed, rpmCount);
        taken = (await rows(db.here)).find((x) => x.id === held.id)!;
        assert.deepEqual([taken.state, taken.attempts, taken.host], ['done', 2, b.hostname]);
        // Down for longer than a lease, whatever b took.
        await sleep(Math.max(0, 3 * LEASE_S * 1000 - (Date.now() - cutAt)));
        assert.ok(processAlive(cutOff.pid), 'a runs on, cut off');
      } finally {
        a.restore();
      }
      const r = await within(cutOff.done, 120_000, 'a to end once its link is back');
      assert.equal(r.code, 0, r.stderr);
      const sum = JSON.parse(r.stdout);
      assert.deepEqual([sum.rpms.indexed, sum.rpms.already, sum.rpms.failed, sum.complete], [0, 0, 0, true], 'a wrote nothing');
      // At most one line when the database went and one when it came back, and the same for the
      // package store its stalled download was reading: no line per retry or per RPM.
      const lines = r.stderr.split('\n').filter(Boolean);
      const dbLines = lines.filter((l) => l.includes('postgresql://') || l.includes('the database answers again'));
      const storeLines = lines.filter((l) => l.startsWith('darkserver import: downloads from http://'));
      assert.equal(dbLines.length + storeLines.length, lines.length, r.stderr);
      assert.ok(dbLines.length <= 2 && storeLines.length <= 2, r.stderr);
      if (dbLines.length) {
        assert.match(dbLines[0], new RegExp(`^darkserver import: postgresql://darkforge@${lab.hostAddress.replace(/\./g, '\\.')}:\\d+/${dbName(db.here)}: [^;]+; waiting for it \\(trying again every 0\\.5 s\\)$`));
        if (dbLines[1]) assert.equal(dbLines[1], 'darkserver import: the database answers again');
      }
    } finally {
      try { process.kill(cutOff.pid, 'SIGKILL'); } catch { /* ended */ }
      await koji.control({ faults: { stall_file: 0 } });
    }
    const now = (await rows(db.here)).find((x) => x.id === held.id)!;
    assert.deepEqual(now, taken, 'b\'s record of the RPM stands');
    await sameAsClean(db.here);
  });
});

