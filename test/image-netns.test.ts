// Image workers on several machines for real: each machine is a network namespace with its own
// link and host name (helpers/netns.ts); they meet only in PostgreSQL (started by this file,
// listening on the lab network too) and at the fake Koji hub (bound there as well). Jobs are
// queued on machine "a" and run by `imagebuild worker` processes on "b", "c" and "d" with the
// stand-in tools; "p" plays a ppc64le machine. Cancel and logs --follow across machines, a worker
// killed with SIGKILL, a worker whose link is cut for longer than its lease, and one job never
// run by two workers. Leases are 3 s here (DARKFORGE_LEASE_SECONDS).
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { processAlive } from '../src/lib/proc/alive.ts';
import { openStore } from '../src/lib/store/open.ts';
import type { Run } from './helpers/cli.ts';
import { tempDir } from './helpers/cli.ts';
import { buildsFromRpmDir, type FakeKoji, startFakeKoji } from './helpers/fake-koji.ts';
import { CONF, STANDINS, standinRuns, waitFor, type ImageEnv } from './helpers/image-jobs.ts';
import { netnsSkip, startNetLab, type Machine, type NetLab } from './helpers/netns.ts';
import { FIXTURES, ROOT } from './helpers/paths.ts';
import { HAVE_PG, startPg, type PgCluster } from './helpers/pg.ts';

const LEASE_S = 3;
const BIN = join(ROOT, 'bin', 'imagebuild.js');
const skip = netnsSkip() ?? (!HAVE_PG && 'PostgreSQL server binaries are not installed (apt-get install postgresql)');

interface Proc { pid: number; done: Promise<Run>; stdout: () => string; stderr: () => string }

describe('image workers on several machines', { skip }, () => {
  let lab: NetLab;
  let pg: PgCluster;
  let koji: FakeKoji;
  const home = tempDir('darkforge-netns-');
  const standinLog = join(home, 'standin.jsonl');
  const staging = join(home, 'staging');
  // What standinRuns and friends need: every machine appends to one stand-in log (one file system).
  const shared = { log: standinLog } as ImageEnv;
  const builds = buildsFromRpmDir(readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm')).map((f) => join(FIXTURES, f)));
  const debug = builds.find((b) => b.nvr === 'df-debug-1.0-1')!;

  before(async () => {
    lab = startNetLab();
    pg = await startPg({ listen: [lab.hostAddress], allow: [lab.cidr] });
    koji = await startFakeKoji({ builds, bind: lab.hostAddress });
    for (const m of ['a', 'b', 'c', 'd', 'p']) lab.machine(m);
  });
  after(async () => {
    await koji?.stop();
    await pg?.stop();
    lab?.cleanup();
  });

  /** A new database, as the machines reach it (through the lab network). */
  const newDb = async (): Promise<string> => {
    const local = await pg.newDatabase('nn');
    return pg.urlAt(lab.hostAddress, new URL(local).pathname.slice(1));
  };

  /** `imagebuild ARGS --db DB` on machine `m`, with its own data folder and the stand-in tools. */
  const on = (m: Machine, db: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc => {
    const data = join(home, m.name, 'data');
    mkdirSync(data, { recursive: true });
    const child = m.spawn([process.execPath, BIN, ...args, '--db', db], {
      env: {
        ...process.env, NO_COLOR: '1', PATH: `${STANDINS}:${process.env.PATH}`, XDG_DATA_HOME: data, XDG_CONFIG_HOME: join(home, m.name, 'cfg'),
        DF_STANDIN_LOG: standinLog, DARKFORGE_LEASE_SECONDS: String(LEASE_S), ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const done = new Promise<Run>((r) => child.on('close', (code, signal) => r({ code: code ?? (signal ? 128 : -1), stdout, stderr })));
    return { pid: child.pid!, done, stdout: () => stdout, stderr: () => stderr };
  };
  const runOn = (m: Machine, db: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Run> => on(m, db, args, env).done;
  const status = async (m: Machine, db: string, id: number): Promise<Record<string, unknown> & { state: string; error: string | null; host: string | null; worker_id: string | null }> => {
    const r = await runOn(m, db, ['status', String(id), '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const queueOn = async (m: Machine, db: string, args: string[]): Promise<number> => {
    const r = await runOn(m, db, args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d+\n$/);
    return Number(r.stdout);
  };
  /** The pid of the stand-in tool started in `jobDir`. */
  const toolOf = (jobDir: () => string | undefined): Promise<number> => waitFor('the job\'s tool to start', () => {
    const dir = jobDir();
    return dir ? standinRuns(shared).find((r) => r.cwd.startsWith(`${dir}/`))?.pid : undefined;
  }, 30_000, 50);
  const jobDirOf = async (db: string, id: number): Promise<string> => {
    const s = await openStore(pg.url(new URL(db).pathname.slice(1)));
    try {
      return await waitFor(`job ${id} to be claimed`, async () => (await s.imageJobs.get(id))?.job_dir || undefined, 30_000, 50);
    } finally {
      await s.close();
    }
  };

  test('a job queued on one machine runs on another: Koji packages fetched over its link, staged and logged there, read from the first', async () => {
    const db = await newDb();
    const [a, b] = [lab.machine('a'), lab.machine('b')];
    const id = await queueOn(a, db, ['boot', '--config', CONF, '--queue', '--hub', koji.hub, '--topurl', koji.topurl, '--nvr', debug.nvr,
      '--staging', `file://${staging}/one`]);
    assert.equal(koji.requests().length, 0, 'queuing fetches nothing');
    const w = await runOn(b, db, ['worker', '--once']);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, `job ${id} succeeded\n`);
    assert.ok(koji.requests().some((l) => l.method === 'GET' && l.path.endsWith('.rpm') && (l.status === 200 || l.status === 206)), JSON.stringify(koji.requests()));
    const j = await status(a, db, id);
    assert.equal(j.host, b.hostname);
    assert.match(j.worker_id!, new RegExp(`^${b.hostname}:\\d+:[0-9a-f]{8}$`));
    assert.ok(String(j.job_dir).startsWith(join(home, 'b', 'data')), 'the job folder is on the worker');
    assert.equal(j.workdir, null, 'a folder of another machine is not shown as this one\'s');
    const lorax = standinRuns(shared).find((r) => r.cwd.startsWith(`${j.job_dir}/`))!;
    assert.ok(lorax.argv.some((x) => x.startsWith(`file://${j.job_dir}/work/koji-side`)), 'the side repository was made on the worker');
    assert.ok((j.artifacts as string[]).some((p) => p.startsWith(`${staging}/one/`) && p.endsWith('.iso')));
    // From machine a, the log comes out of the database.
    const logs = await runOn(a, db, ['logs', String(id)]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`image build ${id}: boot for x86_64, .*, on ${b.hostname}\\n`));
    assert.match(logs.stdout, /creating the side repository with 1 RPMs from Koji/);
    assert.match(logs.stdout, /running: lorax /);
    assert.match((await runOn(a, db, ['list'])).stdout, new RegExp(`^${id}\\tsucceeded\\tboot\\tx86_64\\t.*\\t${b.hostname}\\t${b.hostname}:`, 'm'));
  });

  test('an arch machine a cannot build is queued for a worker of that arch; an x86_64 worker leaves it, the ppc64le one runs it', async () => {
    const db = await newDb();
    const [a, c, p] = [lab.machine('a'), lab.machine('c'), lab.machine('p')];
    const r = await runOn(a, db, ['dvd', '--config', CONF, '--arch', 'ppc64le', '--staging', `file://${staging}/ppc`]);
    assert.equal(r.code, 0, r.stderr);
    const id = Number(r.stdout);
    assert.match(r.stderr, new RegExp(`job ${id} queued for an imagebuild worker of ppc64le: this x86_64 host cannot build ppc64le images`));
    const x86 = await runOn(c, db, ['worker', '--once']);
    assert.deepEqual([x86.code, x86.stdout], [0, ''], x86.stderr);
    assert.equal((await status(a, db, id)).state, 'queued');
    const ppc = await runOn(p, db, ['worker', '--once', '--arch', 'ppc64le'], { DARKFORGE_TEST_MACHINE: 'ppc64le', DF_STANDIN_MACHINE: 'ppc64le' });
    assert.equal(ppc.code, 0, ppc.stderr);
    assert.equal(ppc.stdout, `job ${id} succeeded\n`);
    const j = await status(a, db, id);
    assert.equal(j.host, p.hostname);
    assert.ok((j.artifacts as string[]).some((f) => /DVD-ppc64le-\d{8}T\d{6}Z\.iso$/.test(f)), String(j.artifacts));
  });

  test('cancel on machine a stops the tool of a worker on machine b within two seconds; logs --follow on machine c shows the log as it grows', async () => {
    const db = await newDb();
    const [a, b, c] = [lab.machine('a'), lab.machine('b'), lab.machine('c')];
    const id = await queueOn(a, db, ['boot', '--config', CONF, '--queue']);
    // Followed from before it starts: the follower waits for it.
    const follow = on(c, db, ['logs', String(id), '--follow']);
    const worker = on(b, db, ['worker', '--poll', '1'], { DF_STANDIN_SLEEP: '60' });
    const dir = await jobDirOf(db, id);
    const tool = await toolOf(() => dir);
    await waitFor('the follower to show the tool running', () => (/lorax: working dir is /.test(follow.stdout()) ? true : undefined), 15_000, 50);
    assert.equal((await status(a, db, id)).state, 'running', 'shown while the job still runs');
    const t0 = Date.now();
    const cancel = await runOn(a, db, ['cancel', String(id)]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(cancel.stdout, `job ${id} canceled\n`);
    const tCancel = Date.now();
    await waitFor('the tool on b to end', () => (processAlive(tool) ? undefined : true), 10_000, 20);
    const stoppedIn = Date.now() - tCancel;
    assert.ok(stoppedIn <= 2000, `the tool ended ${stoppedIn} ms after cancel returned (${tCancel - t0} ms for the cancel itself)`);
    const f = await follow.done;
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /running: lorax /);
    assert.match(f.stdout, /lorax stopped: the job was canceled/);
    assert.ok(processAlive(worker.pid), 'the worker itself runs on');
    const j = await status(c, db, id);
    assert.deepEqual([j.state, j.error], ['canceled', 'canceled (imagebuild cancel)']);
    process.kill(worker.pid, 'SIGTERM');
    assert.equal((await worker.done).code, 0);
  });

  test('a worker killed with SIGKILL: after its lease the job is "worker lost on b"; retry on a, and a worker on c runs it', async () => {
    const db = await newDb();
    const [a, b, c] = [lab.machine('a'), lab.machine('b'), lab.machine('c')];
    const id = await queueOn(a, db, ['boot', '--config', CONF, '--queue', '--staging', `file://${staging}/retried`]);
    const doomed = on(b, db, ['worker', '--poll', '1'], { DF_STANDIN_SLEEP: '60' });
    const dir = await jobDirOf(db, id);
    const tool = await toolOf(() => dir);
    const other = on(c, db, ['worker', '--poll', '1']);
    await waitFor('c\'s worker to start', () => (/worker .* on dfc-/.test(other.stderr()) ? true : undefined), 15_000, 50);
    process.kill(doomed.pid, 'SIGKILL');
    const killedAt = Date.now();
    await doomed.done;
    try {
      // Machine c's worker sweeps the queue every second: it gives the job up once the lease ran out.
      const lost = await waitFor('the job to be given up', async () => {
        const j = await status(a, db, id);
        return j.state === 'running' ? undefined : j;
      }, 30_000, 250);
      const after = Date.now() - killedAt;
      assert.equal(lost.state, 'failed');
      assert.match(lost.error!, new RegExp(`^worker lost on ${b.hostname}: ${b.hostname}:\\d+:[0-9a-f]{8} stopped renewing its lease`));
      assert.ok(after >= (LEASE_S - 1) * 1000 && after < (LEASE_S + 6) * 1000, `given up ${after} ms after the kill`);
      const retry = await runOn(a, db, ['retry', String(id)]);
      assert.equal(retry.code, 0, retry.stderr);
      const again = Number(retry.stdout);
      const done = await waitFor('the retried job to end', async () => {
        const j = await status(a, db, again);
        return ['queued', 'running'].includes(j.state) ? undefined : j;
      }, 30_000, 250);
      assert.equal(done.state, 'succeeded', String(done.error));
      assert.equal(done.host, c.hostname);
      assert.equal(done.retry_of, id);
      assert.equal((await status(a, db, id)).state, 'failed', 'the lost job stays as it was');
    } finally {
      process.kill(other.pid, 'SIGTERM');
      await other.done;
      // The killed worker's tool lives on, orphaned on b (as it would on a real machine until a
      // worker there looks): end it.
      try { process.kill(tool, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  test('a worker cut off for longer than its lease: the job is given up, the worker stops its tool, and when its link is back it changes nothing and works on', async () => {
    const db = await newDb();
    const [a, b, c] = [lab.machine('a'), lab.machine('b'), lab.machine('c')];
    const id = await queueOn(a, db, ['boot', '--config', CONF, '--queue']);
    // Long enough for the cut to outlast the lease; short enough for the next job.
    const w = on(b, db, ['worker', '--poll', '1'], { DF_STANDIN_SLEEP: '10' });
    const dir = await jobDirOf(db, id);
    const tool = await toolOf(() => dir);
    // Packets dropped both ways, the link itself up: connections hang rather than fail.
    b.cut('drop');
    const cutAt = Date.now();
    try {
      // Seen from machine c (status judges leases too).
      const lost = await waitFor('the job to be given up', async () => {
        const j = await status(c, db, id);
        return j.state === 'running' ? undefined : j;
      }, 30_000, 500);
      assert.equal(lost.state, 'failed');
      assert.match(lost.error!, new RegExp(`^worker lost on ${b.hostname}: `));
      // The runner on b has not renewed its lease for a whole lease either: it ends its tool rather than build beside another.
      await waitFor('the tool on b to end', () => (processAlive(tool) ? undefined : true), (LEASE_S + 5) * 1000, 100);
      assert.ok(Date.now() - cutAt < (LEASE_S + 5) * 1000);
    } finally {
      b.restore();
    }
    // Back on the network, the worker takes new work; the lost job's record stays as it was given up.
    const next = await queueOn(a, db, ['boot', '--config', CONF, '--queue']);
    const done = await waitFor('b to run the next job', async () => {
      const j = await status(a, db, next);
      return ['queued', 'running'].includes(j.state) ? undefined : j;
    }, 90_000, 500);
    assert.equal(done.host, b.hostname);
    const old = await status(a, db, id);
    assert.equal(old.state, 'failed');
    assert.match(old.error!, /^worker lost on /);
    const log = await runOn(a, db, ['logs', String(id)]);
    assert.match(log.stdout, /stopped: its lease ran out: the database could not be reached for \d+ s; the record stays as it is \(failed\)/);
    process.kill(w.pid, 'SIGTERM');
    const end = await w.done;
    assert.equal(end.code, 0, end.stderr);
  });

  test('three workers on three machines share one queue: every job runs once, on one of them', async () => {
    const db = await newDb();
    const a = lab.machine('a');
    const before = standinRuns(shared).length;
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push(await queueOn(a, db, ['boot', '--config', CONF, '--queue']));
    const workers = ['b', 'c', 'd'].map((n) => on(lab.machine(n), db, ['worker', '--once', '--poll', '1'], { DF_STANDIN_SLEEP: '0.3' }));
    const done = await Promise.all(workers.map((w) => w.done));
    for (const d of done) assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(done.flatMap((d) => d.stdout.trim().split('\n').filter(Boolean)).sort(), ids.map((i) => `job ${i} succeeded`).sort());
    const jobs = await Promise.all(ids.map((i) => status(a, db, i)));
    const runs = standinRuns(shared).slice(before);
    assert.equal(runs.length, ids.length, 'one tool run per job');
    for (const j of jobs) assert.equal(runs.filter((r) => r.cwd.startsWith(`${j.job_dir}/`)).length, 1, `job ${j.id as number}`);
    const hosts = new Set(jobs.map((j) => j.host));
    assert.ok(hosts.size >= 2 && [...hosts].every((h) => ['b', 'c', 'd'].some((n) => h === lab.machine(n).hostname)), [...hosts].join(' '));
  });
});

