// imagebuild worker on one machine (several machines: image-netns.test.ts): jobs recorded with
// --queue and run by `imagebuild worker` with the stand-in tools, on both store backends; several
// workers on one queue, each job run once; SIGTERM puts the running job back, SIGQUIT lets it
// finish; a worker killed with SIGKILL; an arch this host cannot build; passwords that job records
// never keep; the job log in the database, bounded.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DbLogSink } from '../src/lib/image/joblog.ts';
import { processAlive } from '../src/lib/proc/alive.ts';
import { openStore } from '../src/lib/store/open.ts';
import type { Store } from '../src/lib/store/port.ts';
import { BACKENDS, freshDb, type Backend } from './helpers/backends.ts';
import { CONF, confCopy, ib, ibChild, imageEnv, type ImageEnv, type JobJson, standinRuns, startFtp, statusOf, waitFor } from './helpers/image-jobs.ts';

const WORKER_ID = new RegExp(`^${hostname().replace(/[.]/g, '\\.')}:\\d+:[0-9a-f]{8}$`);

async function env(backend: Backend, extra: NodeJS.ProcessEnv = {}): Promise<ImageEnv> {
  const e = imageEnv({ DARKFORGE_LEASE_SECONDS: '2', ...extra });
  return { ...e, db: await freshDb(backend, 'iw') };
}

/** The job's log as the database holds it. */
async function dbLog(e: ImageEnv, id: number): Promise<Buffer> {
  const s = await openStore(e.db);
  try {
    return Buffer.concat((await s.imageJobs.readLog(id, 0, 1 << 30)).map((c) => Buffer.from(c.data)));
  } finally {
    await s.close();
  }
}

const queue = (e: ImageEnv, type: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): number => {
  const r = ib(e, [type, '--config', CONF, '--queue', ...args], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d+\n$/);
  return Number(r.stdout);
};

for (const backend of BACKENDS) {
  describe(`imagebuild worker on ${backend}`, () => {
    test('--queue records the job and runs nothing; a worker runs it with the same runner, its log also in the database', async () => {
      const e = await env(backend);
      const id = queue(e, 'dvd', ['--staging', `file://${e.staging}`]);
      assert.equal(standinRuns(e).length, 0, 'nothing ran');
      const list = ib(e, ['list']);
      assert.match(list.stdout, new RegExp(`^${id}\\tqueued\\tdvd\\tx86_64\\tauto\\t-\\t-\\t-\\twaiting for a worker of x86_64\\n$`));
      const waiting = statusOf(e, id);
      assert.deepEqual([waiting.state, waiting.pid, waiting.job_dir, (waiting as unknown as { for_worker: boolean }).for_worker], ['queued', null, '', true]);
      assert.match(ib(e, ['status', String(id)]).stdout, /^host:\t-\nworker:\twaiting for a worker of x86_64\n/m);
      const logs = ib(e, ['logs', String(id)]);
      assert.deepEqual([logs.code, logs.stdout], [0, '']);
      assert.match(logs.stderr, /job \d+ is waiting for a worker: no log yet/);
      assert.equal(ib(e, ['dvd', '--config', CONF, '--queue', '--detach']).code, 2, '--queue and --detach exclude each other');

      const w = ib(e, ['worker', '--once', '--poll', '1']);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(w.stdout, `job ${id} succeeded\n`);
      assert.match(w.stderr, new RegExp(`job ${id} claimed: dvd for x86_64`));
      assert.deepEqual(standinRuns(e).map((r) => r.tool), ['pungi']);
      const done = statusOf(e, id) as JobJson & { host: string; worker_id: string };
      assert.equal(done.state, 'succeeded', done.error ?? '');
      assert.equal(done.host, hostname());
      assert.match(done.worker_id, WORKER_ID);
      assert.ok(done.job_dir.startsWith(join(e.data, 'darkforge', 'jobs')), 'the folder is the worker\'s');
      assert.ok(done.artifacts.some((a) => a.startsWith(`${e.staging}/`) && a.endsWith('.iso')), done.artifacts.join(' '));
      assert.match(ib(e, ['list']).stdout, new RegExp(`^${id}\\tsucceeded\\t.*\\t${hostname()}\\t${done.worker_id}\\n$`));
      // The database's copy of the log is the file, byte for byte.
      const file = readFileSync(done.log_path);
      assert.match(file.toString(), /running: pungi /);
      assert.deepEqual(await dbLog(e, id), file);
      // The kickstart travelled with the record.
      assert.match(String((done.config as { kickstartSnapshot?: { text: string } }).kickstartSnapshot?.text), /%packages/);
    });

    test('three workers on one queue: every job runs exactly once, whichever worker takes it', async () => {
      const e = await env(backend, { DF_STANDIN_SLEEP: '0.4' });
      const ids = [1, 2, 3, 4, 5, 6].map(() => queue(e, 'boot'));
      const workers = [['--jobs', '2'], [], []].map((extra) => ibChild(e, ['worker', '--once', '--poll', '1', ...extra]));
      const done = await Promise.all(workers.map((w) => w.done));
      for (const d of done) assert.equal(d.code, 0, d.stderr);
      const ran = done.flatMap((d) => d.stdout.trim().split('\n').filter(Boolean));
      assert.deepEqual(ran.sort(), ids.map((i) => `job ${i} succeeded`).sort(), 'each job reported once, by one worker');
      const jobs = ids.map((i) => statusOf(e, i) as JobJson & { worker_id: string });
      // The lorax stand-in ran once per job, in that job's own folder.
      const runs = standinRuns(e);
      assert.equal(runs.length, ids.length);
      for (const j of jobs) assert.equal(runs.filter((r) => r.cwd.startsWith(`${j.job_dir}/`)).length, 1, `job ${j.id} ran once`);
      assert.ok(new Set(jobs.map((j) => j.worker_id)).size >= 2, 'the work was shared');
    });

    test('a lease that ran out on another machine: the next look marks the job "worker lost on HOST"; retry queues it again', async () => {
      const e = await env(backend);
      const s = await openStore(e.db);
      try {
        const none = { claimDir: () => ({ jobDir: '', logPath: '' }), releaseDir: () => undefined };
        const cfg = JSON.stringify({ type: 'boot', arch: 'x86_64', release: '40', nvr: [], bid: [], backend: 'auto', files: [CONF], origins: {} });
        const row = await s.imageJobs.create({ type: 'boot', arch: 'x86_64', backend: 'lorax', config: cfg, pid: null, host: null, forWorker: true }, none);
        const far = { id: 'builder9:4242:0badcafe', host: 'builder9', pid: 4242 };
        const dirs = { claimDir: () => ({ jobDir: '/srv/jobs/1', logPath: '/srv/jobs/1/job.log' }), releaseDir: () => undefined };
        assert.equal((await s.imageJobs.claim(far, { arches: ['x86_64'], leaseMs: 1500 }, dirs))!.id, row.id);
        await s.imageJobs.appendLog(row.id, Buffer.from('line one from builder9\n'), 1 << 20);
        // Its pid means nothing here: while the lease holds, the job is running.
        assert.equal(statusOf(e, row.id).state, 'running');
        const logs = ib(e, ['logs', String(row.id)]);
        assert.deepEqual([logs.code, logs.stdout], [0, 'line one from builder9\n'], 'the log of another machine, from the database');
        await new Promise((r) => setTimeout(r, 1700));
        const lost = statusOf(e, row.id);
        assert.equal(lost.state, 'failed');
        assert.match(lost.error!, /^worker lost on builder9: builder9:4242:0badcafe stopped renewing its lease on the job \(killed, or cut off from the database\); it ran out at \d{4}-/);
        // A job of another machine whose log the database does not have: said so, exit 1.
        const bare = await s.imageJobs.create({ type: 'boot', arch: 'x86_64', backend: 'lorax', config: cfg, pid: null, host: null, forWorker: true }, none);
        await s.imageJobs.claim(far, { arches: ['x86_64'], leaseMs: 60_000 }, dirs);
        await s.imageJobs.markCanceled(bare.id, 'canceled');
        const nolog = ib(e, ['logs', String(bare.id)]);
        assert.equal(nolog.code, 1);
        assert.match(nolog.stderr, /job \d+ ran on builder9, and the database holds none of its log \(it is in \/srv\/jobs\/1\/job\.log there\)/);
        const again = ib(e, ['retry', String(row.id)]);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stderr, new RegExp(`job ${row.id} queued again as job ${row.id + 2}, for an imagebuild worker of x86_64`));
        assert.equal(again.stdout, `${row.id + 2}\n`);
        const retried = statusOf(e, row.id + 2) as JobJson & { retry_of: number };
        assert.deepEqual([retried.state, retried.retry_of], ['queued', row.id]);
      } finally {
        await s.close();
      }
    });
  });
}

describe('imagebuild worker: signals, kill -9, cancel (SQLite)', () => {
  const toolPid = (e: ImageEnv, n = 1): Promise<number> => waitFor('the tool to start', () => standinRuns(e)[n - 1]?.pid, 30_000);

  test('SIGTERM ends the running tool and puts its job back; another worker runs it from the start', async () => {
    const e = await env('sqlite');
    const id = queue(e, 'dvd');
    const w = ibChild(e, ['worker', '--poll', '1'], { env: { DF_STANDIN_SLEEP: '60' } });
    const tool = await toolPid(e);
    assert.equal(statusOf(e, id).state, 'running');
    process.kill(w.pid, 'SIGTERM');
    const r = await w.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`SIGTERM: stopping; job\\(s\\) ${id} go back on the queue`));
    assert.match(r.stderr, new RegExp(`job ${id} is back on the queue`));
    await waitFor('the tool to end', () => (processAlive(tool) ? undefined : true), 10_000);
    const back = statusOf(e, id) as JobJson & { worker_id: string | null };
    assert.deepEqual([back.state, back.pid, back.worker_id, back.job_dir], ['queued', null, null, '']);
    assert.match((await dbLog(e, id)).toString(), /stopped on .* by its worker; the job goes back on the queue/);
    const again = ib(e, ['worker', '--once']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `job ${id} succeeded\n`);
    assert.equal(standinRuns(e).length, 2, 'run afresh');
  });

  test('SIGQUIT lets the running job finish and takes no other', async () => {
    const e = await env('sqlite');
    const [first, second] = [queue(e, 'boot'), queue(e, 'boot')];
    const w = ibChild(e, ['worker', '--poll', '1'], { env: { DF_STANDIN_SLEEP: '2' } });
    await toolPid(e);
    process.kill(w.pid, 'SIGQUIT');
    const r = await w.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `job ${first} succeeded\n`);
    assert.match(r.stderr, /SIGQUIT: taking no new job; waiting for 1 running job\(s\) to finish/);
    assert.equal(statusOf(e, second).state, 'queued');
  });

  test('cancel stops a worker\'s job within two seconds; the worker itself is not signalled and takes the next job', async () => {
    const e = await env('sqlite');
    const [first, second] = [queue(e, 'boot'), queue(e, 'boot')];
    const w = ibChild(e, ['worker', '--poll', '1'], { env: { DF_STANDIN_SLEEP: '60' } });
    const tool = await toolPid(e);
    const t0 = Date.now();
    const c = ib(e, ['cancel', String(first)]);
    assert.equal(c.code, 0, c.stderr);
    await waitFor('the tool to end', () => (processAlive(tool) ? undefined : true), 5000, 20);
    assert.ok(Date.now() - t0 < 2500, `${Date.now() - t0} ms`);
    await waitFor('the next job to start', () => standinRuns(e)[1]?.pid, 30_000);
    assert.ok(processAlive(w.pid), 'the worker runs on');
    assert.equal(statusOf(e, first).state, 'canceled');
    assert.equal(statusOf(e, second).state, 'running');
    process.kill(w.pid, 'SIGTERM');
    assert.equal((await w.done).code, 0);
  });

  test('a worker killed with SIGKILL: on its own machine the job fails at once, its tool is stopped', async () => {
    const e = await env('sqlite');
    const id = queue(e, 'boot');
    const w = ibChild(e, ['worker', '--poll', '1'], { env: { DF_STANDIN_SLEEP: '60' } });
    const tool = await toolPid(e);
    process.kill(w.pid, 'SIGKILL');
    await w.done;
    const j = statusOf(e, id);
    assert.equal(j.state, 'failed');
    assert.equal(j.error, `worker lost on ${hostname()}: its process (pid ${w.pid}) ended before the job did; see its log`);
    await waitFor('the orphaned tool to end', () => (processAlive(tool) ? undefined : true), 10_000);
  });

  test('worker flags: an arch this host cannot build, a missing --config', () => {
    const e = imageEnv();
    const r = ib(e, ['worker', '--arch', 'ppc64le', '--once']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--arch ppc64le: this x86_64 host cannot build ppc64le images \(allowed: x86_64, i386, i486, i586, i686\)/);
    const c = ib(e, ['worker', '--config', join(e.home, 'nope.conf'), '--once']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /--config .*nope\.conf: /);
  });
});

describe('an arch this host cannot build', { skip: process.arch !== 'x64' && 'needs an x86_64 host' }, () => {
  test('SQLite (one machine): refused, with or without --queue; nothing recorded', async () => {
    const e = await env('sqlite');
    const r = ib(e, ['boot', '--config', CONF, '--arch', 'ppc64le']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /this x86_64 host cannot build ppc64le images \(the image arch must be the build host's\)/);
    const q = ib(e, ['boot', '--config', CONF, '--arch', 'ppc64le', '--queue']);
    assert.equal(q.code, 2);
    assert.match(q.stderr, /no worker of another machine can take it from an SQLite store \(one machine's file\): queue it in a PostgreSQL store/);
    assert.equal(ib(e, ['list', '--json']).stdout.trim(), '[]');
  });

  test('PostgreSQL: queued for a worker of that arch (said on stderr, exit 0); only such a worker takes it', async () => {
    const e = await env('postgresql');
    const r = ib(e, ['dvd', '--config', CONF, '--arch', 'ppc64le']);
    assert.equal(r.code, 0, r.stderr);
    const id = Number(r.stdout);
    assert.equal(r.stderr, `imagebuild dvd: job ${id} queued for an imagebuild worker of ppc64le: this x86_64 host cannot build ppc64le images (follow it with "imagebuild logs ${id} --follow")\n`);
    const x86 = ib(e, ['worker', '--once']);
    assert.deepEqual([x86.code, x86.stdout], [0, ''], x86.stderr);
    assert.equal(statusOf(e, id).state, 'queued', 'an x86_64 worker leaves it');
    // The tests' stand-in for a ppc64le machine: the host's arch for darkforge and for the stand-in tools.
    const ppc = ib(e, ['worker', '--once', '--arch', 'ppc64le'], { DARKFORGE_TEST_MACHINE: 'ppc64le', DF_STANDIN_MACHINE: 'ppc64le' });
    assert.equal(ppc.code, 0, ppc.stderr);
    assert.match(ppc.stderr, /warning: DARKFORGE_TEST_MACHINE=ppc64le: this host is taken to be a ppc64le machine \(a test setting/);
    assert.equal(ppc.stdout, `job ${id} succeeded\n`);
    assert.ok(statusOf(e, id).artifacts.some((a) => /-ppc64le-\d{8}T\d{6}Z\.iso$/.test(a)));
  });
});

describe('passwords and the worker', () => {
  test('a queued job keeps no password; the worker takes the FTP password from its own --config, or says it has none', async () => {
    const e = await env('sqlite');
    const secret = 'Sesame-7f3a!';
    const ftp = await startFtp(join(e.home, 'ftp'), { user: 'qa', password: secret });
    try {
      const target = `ftp://qa:${encodeURIComponent(secret)}@127.0.0.1:${ftp.port}/images`;
      const r = ib(e, ['boot', '--config', CONF, '--queue', '--staging', target]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /the FTP staging password is not stored with the job: the worker that runs it uses its own \(imagebuild worker --config FILE\)/);
      const id = Number(r.stdout);
      // Without a password of its own, the worker builds, and says why the images stay with it.
      const bare = ib(e, ['worker', '--once']);
      assert.equal(bare.code, 1);
      const j = statusOf(e, id);
      assert.equal(j.state, 'staging_failed');
      assert.equal(j.error, `staging failed: this machine (${hostname()}) has no FTP password for qa@127.0.0.1:${ftp.port}: a job's record keeps none`);
      // With its own imagebuild.conf (another path on the FTP server, the same login): staged.
      const own = confCopy((t) => t.replace(/^staging =$/m, `staging = ftp://qa:${encodeURIComponent(secret).replace(/%/g, '%%')}@127.0.0.1:${ftp.port}/elsewhere`));
      const retry = ib(e, ['retry', String(id)]);
      assert.equal(retry.code, 0, retry.stderr);
      const ok = ib(e, ['worker', '--once', '--config', own]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, `job ${id + 1} succeeded\n`);
      assert.ok(readdirSync(join(ftp.root, 'images')).some((f) => f.endsWith('.iso')), 'staged where the job asked');
      // Nowhere: not the records, the database's logs, the log files, any output.
      const s: Store = await openStore(e.db);
      try {
        for (const row of await s.imageJobs.list()) {
          assert.ok(!JSON.stringify(row).includes(secret) && !JSON.stringify(row).includes(encodeURIComponent(secret)), `job ${row.id} record`);
          const log = Buffer.concat((await s.imageJobs.readLog(row.id, 0, 1 << 30)).map((c) => Buffer.from(c.data))).toString();
          assert.ok(log.length > 0 && !log.includes(secret) && !log.includes(encodeURIComponent(secret)), `job ${row.id} log`);
          if (existsSync(row.log_path)) assert.ok(!readFileSync(row.log_path, 'utf8').includes(secret));
        }
      } finally {
        await s.close();
      }
      for (const out of [r, bare, ok, retry]) assert.ok(!`${out.stdout}${out.stderr}`.includes(secret));
    } finally {
      await ftp.stop();
    }
  });
});

describe('the job log in the database', () => {
  test('appended in pieces, bounded while the database is away, the gap said; everything after it arrives', async () => {
    const stored: Buffer[] = [];
    let away = true;
    const errors: unknown[] = [];
    const sink = new DbLogSink(async (d) => {
      if (away) throw new Error('server closed the connection');
      stored.push(Buffer.from(d));
    }, { keepBytes: 4096, onError: (e) => errors.push(e), flushMs: 5 });
    for (let i = 0; i < 10000; i++) sink.push(`line ${String(i).padStart(4, '0')} of the build\n`);
    await sink.flush();
    assert.ok(errors.length >= 1);
    assert.equal(stored.length, 0);
    away = false;
    sink.push('the end\n');
    await sink.close();
    const text = Buffer.concat(stored).toString();
    assert.match(text, /^\n\[… \d+ bytes of this log were not stored in the database: it was too slow or could not be reached; the log file on the job's machine has them …\]\n/);
    const dropped = Number(/\[… (\d+) bytes/.exec(text)![1]);
    const kept = text.slice(text.indexOf('…]\n') + 3);
    assert.ok(kept.length <= 4096 + 64 * 1024 && kept.endsWith('line 9999 of the build\nthe end\n'), 'the newest lines, bounded');
    assert.equal(dropped + kept.length, 10000 * 'line 0000 of the build\n'.length + 'the end\n'.length, 'nothing lost but what was said');
    sink.push('after close\n');
    await sink.flush();
    assert.ok(!Buffer.concat(stored).toString().includes('after close'));
  });

  test('logs reads a job of another machine from the database, saying which part the database no longer keeps', async () => {
    const e = await env('sqlite');
    const s = await openStore(e.db);
    try {
      const none = { claimDir: () => ({ jobDir: '', logPath: '' }), releaseDir: () => undefined };
      const row = await s.imageJobs.create({ type: 'boot', arch: 'x86_64', backend: 'lorax', config: '{}', pid: null, host: null, forWorker: true }, none);
      await s.imageJobs.claim({ id: 'b2:1:00000000', host: 'b2', pid: 1 }, { arches: ['x86_64'], leaseMs: 60_000 },
        { claimDir: () => ({ jobDir: '/j/1', logPath: '/j/1/job.log' }), releaseDir: () => undefined });
      for (let i = 0; i < 10; i++) await s.imageJobs.appendLog(row.id, Buffer.from(`${String(i).repeat(1000)}\n`), 3003);
      await s.imageJobs.finished(row.id, 'succeeded', { artifacts: '[]', error: null });
      const r = ib(e, ['logs', String(row.id)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, ['7', '8', '9'].map((d) => `${d.repeat(1000)}\n`).join(''));
      assert.match(r.stderr, /the first 7007 bytes of this part of the log are no longer in the database \(it keeps the newest part of each job's log\); the whole log is in \/j\/1\/job\.log on b2/);
    } finally {
      await s.close();
    }
  });
});
