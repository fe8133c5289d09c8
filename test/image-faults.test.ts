// imagebuild when things go wrong: the image tool dies mid-build, the CLI or the runner is
// killed, a cancel races the job's own end, the staging target is unreachable, two databases
// share one jobs folder. Real CLI, real SQLite, the stand-in image tools on PATH.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { UserError } from '../src/lib/errors.ts';
import { cancelJob } from '../src/lib/image/cancel.ts';
import { loadImageConfig } from '../src/lib/image/config.ts';
import { JobStore } from '../src/lib/image/jobs.ts';
import { SqliteStore } from '../src/lib/store/sqlite/store.ts';
import { processAlive } from '../src/lib/proc/alive.ts';
import { tempDir } from './helpers/cli.ts';
import { cancelRace, CONF, FINAL, freePort, ib, ibChild, imageEnv, ImageEnv, isIso, JobJson, standinRuns, statusOf, waitFor } from './helpers/image-jobs.ts';


test('the image tool dies mid-build (exit code or signal): job failed with the reason, log and work folder kept', () => {
  for (const [fail, reason] of [['3', /^pungi failed with exit code 3$/], ['SIGKILL', /^pungi was killed by signal SIGKILL\b/]] as const) {
    const e = imageEnv({ DF_STANDIN_FAIL: fail });
    const r = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 1, r.stderr);
    const last = r.stderr.trim().split('\n').pop()!;
    assert.match(last, /^imagebuild dvd: job 1 failed: pungi (failed with exit code 3|was killed by signal SIGKILL).*; its work folder is kept at \/\S+\/jobs\/1\/work$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const job = statusOf(e, 1);
    assert.equal(job.state, 'failed');
    assert.match(job.error!, reason);
    assert.equal(job.workdir, join(job.job_dir, 'work'));
    assert.ok(existsSync(join(job.workdir!, 'pungi-partial.tmp')), 'what the tool left is there to look at');
    assert.ok(existsSync(join(job.workdir!, 'kickstart.ks')));
    const log = readFileSync(job.log_path, 'utf8');
    assert.match(log, /running: pungi /);
    assert.match(log, fail === '3' ? /stand-in failure requested/ : /dying from SIGKILL/);
    assert.match(log, /work folder kept: /);
    assert.equal(existsSync(e.staging), false, 'nothing staged');
    const text = ib(e, ['status', '1']).stdout;
    assert.match(text, new RegExp(`^work folder:\\t${job.workdir}$`, 'm'));
  }
});

test('--no-keep-workdir removes the work folder of a failed job but keeps its log; success removes it unless --keep-workdir', () => {
  const e = imageEnv({ DF_STANDIN_FAIL: 'SIGSEGV' });
  const r = ib(e, ['live', '--config', CONF, '--backend', 'livemedia-creator', '--staging', `file://${e.staging}`, '--no-keep-workdir']);
  assert.equal(r.code, 1);
  const failed = statusOf(e, 1);
  assert.match(failed.error!, /^livemedia-creator was killed by signal SIGSEGV/);
  assert.equal(failed.workdir, null);
  assert.equal(existsSync(join(failed.job_dir, 'work')), false);
  assert.match(readFileSync(failed.log_path, 'utf8'), /dying from SIGSEGV[\s\S]*work folder removed: /);
  assert.match(ib(e, ['status', '1']).stdout, /^work folder:\tremoved$/m);

  const ok = ib(e, ['live', '--config', CONF, '--backend', 'livemedia-creator', '--staging', `file://${e.staging}`, '--json'], { DF_STANDIN_FAIL: '' });
  assert.equal(ok.code, 0, ok.stderr);
  const done = JSON.parse(ok.stdout) as JobJson;
  assert.equal(done.state, 'succeeded');
  assert.equal(done.workdir, null, 'a succeeded job leaves no scratch behind by default');
  assert.equal(existsSync(join(done.job_dir, 'work')), false);
  assert.ok(done.artifacts.some((a) => a.endsWith('.iso') && isIso(a)));

  const kept = ib(e, ['live', '--config', CONF, '--backend', 'livemedia-creator', '--staging', `file://${e.staging}`, '--json', '--keep-workdir'], { DF_STANDIN_FAIL: '' });
  assert.equal(kept.code, 0, kept.stderr);
  const k = JSON.parse(kept.stdout) as JobJson;
  assert.equal(k.workdir, join(k.job_dir, 'work'));
  assert.ok(existsSync(join(k.workdir!, 'lmc-result')));
  assert.deepEqual((k.config as { keepWorkdir?: boolean }).keepWorkdir, true, 'the choice is part of the job (retry keeps it)');
  assert.match(ib(e, ['live', '--config', CONF, '--dry-run', '--keep-workdir']).stdout, /^work folder: kept$/m);
});

test('an unreachable staging target: the build succeeded, staging failed is its own state, the image is kept and named', async () => {
  const closed = await freePort();
  const home = tempDir();
  writeFileSync(join(home, 'a-file'), 'not a folder\n');
  const targets: [string, RegExp][] = [
    [`ftp://127.0.0.1:${closed}/pub/images`, /ECONNREFUSED/],
    [`scp://127.0.0.1:${closed}/srv/images`, /[Cc]onnection refused|lost connection/],
    [`file://${join(home, 'a-file', 'images')}`, /not a directory|ENOTDIR/],
  ];
  // The three builds run at once; each is a job of its own database.
  const runs = targets.map(([staging]) => {
    const e = imageEnv();
    return { e, staging, child: ibChild(e, ['boot', '--config', CONF, '--staging', staging, '--json']) };
  });
  for (const [i, { e, staging, child }] of runs.entries()) {
    const r = await child.done;
    assert.equal(r.code, 1, `${staging}: ${r.stderr}`);
    const job = JSON.parse(r.stdout) as JobJson;
    assert.equal(job.state, 'staging_failed', staging);
    assert.match(job.error!, /^staging failed: /);
    assert.match(job.error!, targets[i][1]);
    assert.equal(job.artifacts.length, 1);
    const image = job.artifacts[0];
    assert.equal(image, join(job.job_dir, 'images', 'boot.iso'), 'moved out of the work folder into the job folder');
    assert.ok(isIso(image));
    const last = r.stderr.trim().split('\n').pop()!;
    assert.equal(last, `imagebuild boot: job 1 built its image(s), but ${job.error}; they are kept at ${image}`);
    assert.match(readFileSync(job.log_path, 'utf8'), /the build succeeded but staging failed: /);
    if (i > 0) continue;
    assert.match(ib(e, ['status', '1']).stdout, new RegExp(`^state:\\tstaging_failed$[\\s\\S]*^kept images:\\t${image}$`, 'm'));
    assert.match(ib(e, ['list']).stdout, /^1\tstaging_failed\tboot\t/m);
  }
});

test('two databases sharing one XDG jobs folder never share a job folder', () => {
  const e = imageEnv();
  const other: ImageEnv = { ...e, db: join(e.home, 'other.sqlite') };
  const a = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}/a`, '--json', '--keep-workdir']);
  const b = ib(other, ['dvd', '--config', CONF, '--staging', `file://${e.staging}/b`, '--json', '--keep-workdir']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const ja = JSON.parse(a.stdout) as JobJson;
  const jb = JSON.parse(b.stdout) as JobJson;
  assert.equal(ja.id, 1);
  assert.equal(jb.id, 1);
  assert.notEqual(ja.job_dir, jb.job_dir);
  assert.equal(ja.job_dir, join(e.data, 'darkforge', 'jobs', '1'));
  assert.equal(jb.job_dir, join(e.data, 'darkforge', 'jobs', '1-2'));
  const logA = readFileSync(ja.log_path, 'utf8');
  assert.equal(logA.match(/image build 1:/g)?.length, 1, 'the second job wrote nothing into the first one\'s log');
  assert.match(logA, /staging \d+ image\(s\) to file:\/\/\S+\/staging\/a/);
  assert.match(readFileSync(jb.log_path, 'utf8'), /staging \d+ image\(s\) to file:\/\/\S+\/staging\/b/);
  // The first job's kept work folder is still its own.
  assert.ok(readFileSync(join(ja.workdir!, 'kickstart.ks'), 'utf8').length > 0);
  assert.deepEqual(readdirSync(join(e.data, 'darkforge', 'jobs')).sort(), ['1', '1-2']);
});

test('the CLI killed with SIGKILL after --detach: the job runs on, and status tells the truth throughout', async () => {
  const e = imageEnv({ DF_STANDIN_SLEEP: '2' });
  // The CLI in a process group of its own, as a CI step would be; the whole group is killed.
  const cli = ibChild(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--detach'], { group: true });
  const id = Number(await waitFor('the job id', () => /^(\d+)\n/.exec(cli.stdout())?.[1], 30_000, 20));
  try { process.kill(-cli.pid, 'SIGKILL'); } catch { /* it had already exited */ }
  await cli.done;
  const seen: string[] = [];
  const final = await waitFor('the job to end', () => {
    const s = statusOf(e, id);
    seen.push(s.state);
    return FINAL.includes(s.state) ? s : undefined;
  }, 60_000, 200);
  assert.equal(final.state, 'succeeded', `${final.error} (states seen: ${seen.join(' ')})`);
  assert.ok(seen.includes('running'), `states seen: ${seen.join(' ')}`);
  assert.deepEqual([...new Set(seen)].filter((s) => s !== 'queued' && s !== 'running'), ['succeeded'], `never anything but queued, running, succeeded: ${seen.join(' ')}`);
  assert.ok(final.artifacts.some((a) => a.endsWith('.iso') && isIso(a)));
  assert.equal(processAlive(final.pid!), false, 'the runner has ended');
});

test('a runner killed with SIGKILL is not "running" forever; its orphaned tool is stopped', async () => {
  const e = imageEnv({ DF_STANDIN_SLEEP: '60' });
  const d = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--detach', '--json']);
  assert.equal(d.code, 0, d.stderr);
  const { id } = JSON.parse(d.stdout);
  const running = await waitFor('the tool to run', () => {
    const s = statusOf(e, id);
    return s.state === 'running' && s.pgid && standinRuns(e).length ? s : undefined;
  }, 30_000, 100);
  const tool = standinRuns(e)[0].pid;
  process.kill(running.pid!, 'SIGKILL');
  const after = await waitFor('the job to be given up', () => { const s = statusOf(e, id); return s.state === 'running' ? undefined : s; }, 30_000, 100);
  assert.equal(after.state, 'failed');
  assert.match(after.error!, new RegExp(`^interrupted: the job's process \\(pid ${running.pid}\\) ended before the job did`));
  assert.equal(after.workdir, join(after.job_dir, 'work'), 'the work folder stays for a look');
  await waitFor('the orphaned tool to end', () => (processAlive(tool) ? undefined : true), 15_000, 100);
});

test('a recorded pid now used by a younger process, or a group without the job\'s token, is not the job\'s', async () => {
  const e = imageEnv();
  assert.equal(ib(e, ['list']).code, 0);
  // Stand-ins for "some other program that got the pid": started after the job started.
  const sleeper = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  const stranger = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  try {
    const db = new Database(e.db);
    const now = Math.floor(Date.now() / 1000);
    const insert = db.prepare(`INSERT INTO image_jobs (type, arch, backend, config, state, pid, pgid, created_at, started_at, job_dir, log_path)
      VALUES ('dvd', 'x86_64', 'pungi', '{}', 'running', ?, ?, ?, ?, ?, ?)`);
    // 1: started an hour ago, its pid now belongs to a process younger than the job.
    insert.run(sleeper.pid, stranger.pid, now - 3600, now - 3600, join(e.home, 'j1'), join(e.home, 'j1', 'job.log'));
    // 2: the same live process, recorded by a job that started after it: still running.
    insert.run(sleeper.pid, null, now + 1, now + 1, join(e.home, 'j2'), join(e.home, 'j2', 'job.log'));
    db.close();
    const one = statusOf(e, 1);
    assert.equal(one.state, 'failed');
    assert.match(one.error!, /^interrupted: /);
    assert.equal(statusOf(e, 2).state, 'running', 'a live process that started before its job is the job\'s');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(processAlive(stranger.pid!), 'a group that does not carry the job\'s token is left alone');
    assert.ok(processAlive(sleeper.pid!));
  } finally {
    sleeper.kill('SIGKILL');
    stranger.kill('SIGKILL');
  }
});

test('a job canceled while queued never starts, even if its runner comes up afterwards', async () => {
  const e = imageEnv();
  const store = new SqliteStore(e.db);
  try {
    const jobs = new JobStore(store);
    const { config } = loadImageConfig({ type: 'dvd', configFile: CONF, overrides: { staging: `file://${e.staging}` } });
    const job = await jobs.create({ config: config!, backend: 'pungi', jobsRoot: join(e.data, 'darkforge', 'jobs') });
    assert.equal((await cancelJob(jobs, job)).state, 'canceled');
    assert.equal(await jobs.started(job.id, process.pid), false, 'a canceled job does not become running');
    assert.equal((await jobs.get(job.id))!.state, 'canceled');
    const r = ib(e, ['run-job', String(job.id)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statusOf(e, job.id).state, 'canceled');
    assert.equal(standinRuns(e).length, 0, 'no tool ran');
    await assert.rejects(cancelJob(jobs, (await jobs.get(job.id))!), (err: unknown) => err instanceof UserError && /already canceled/.test(err.message));
  } finally {
    await store.close();
  }
});

test('cancel racing the job\'s own end: one consistent final state, every time', async (t) => {
  const e = imageEnv();
  const store = new SqliteStore(e.db);
  const outcomes: Record<string, number> = {};
  try {
    for (const delay of [0, 250, 600]) {
      const won = await cancelRace(e, store, delay);
      outcomes[won] = (outcomes[won] ?? 0) + 1;
    }
    assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    await store.close();
  }
  t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
});
