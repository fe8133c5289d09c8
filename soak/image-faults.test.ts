// imagebuild faults, many times over (npm run soak): cancel racing the job's end, the CLI and
// the runner killed at random moments, every image tool dying every way. Each round must end
// in one final, consistent record; no job may stay queued or running once its processes are gone.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/lib/store/sqlite/store.ts';
import { processAlive } from '../src/lib/proc/alive.ts';
import { cancelRace, CONF, FINAL, ib, ibChild, imageEnv, JobJson, standinRuns, statusOf, waitFor } from '../test/helpers/image-jobs.ts';

// Seeded, so a failing round can be replayed: SOAK_SEED=n npm run soak.
let seed = Number(process.env.SOAK_SEED ?? 20260121);
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

test('cancel racing completion, 60 rounds: cancel\'s answer and the record always agree', async (t) => {
  t.diagnostic(`seed ${seed}`);
  const e = imageEnv();
  const store = new SqliteStore(e.db);
  const outcomes: Record<string, number> = {};
  try {
    for (let i = 0; i < 60; i++) {
      const won = await cancelRace(e, store, Math.floor(random() * 700));
      outcomes[won] = (outcomes[won] ?? 0) + 1;
    }
    assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    await store.close();
  }
  t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
});

test('the CLI killed at a random moment while submitting --detach, 20 rounds: no job is lost or stuck', async (t) => {
  const e = imageEnv();
  assert.equal(ib(e, ['list']).code, 0);
  const db = new Database(e.db, { readonly: true });
  const count = (): number => (db.prepare('SELECT count(*) AS n FROM image_jobs').get() as { n: number }).n;
  try {
    for (let i = 0; i < 20; i++) {
      const before = count();
      const cli = ibChild(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--detach'], { group: true });
      // Even rounds: right around the moment the job is recorded and its runner spawned; odd
      // rounds: at any moment of the CLI's life.
      if (i % 2 === 0) await waitFor('the job row', () => (count() > before ? true : undefined), 60_000, 5);
      await new Promise((r) => setTimeout(r, Math.floor(random() * (i % 2 === 0 ? 60 : 2500))));
      try { process.kill(-cli.pid, 'SIGKILL'); } catch { /* already done */ }
      await cli.done;
    }
  } finally {
    db.close();
  }
  const ended = await waitFor('every job to end', () => {
    const all = JSON.parse(ib(e, ['list', '--json']).stdout) as JobJson[];
    return all.every((j) => FINAL.includes(j.state)) ? all : undefined;
  }, 120_000, 500);
  assert.ok(ended.length >= 10, `${ended.length} jobs`);
  const by: Record<string, number> = {};
  for (const j of ended) {
    by[j.state] = (by[j.state] ?? 0) + 1;
    if (j.state === 'failed') assert.match(j.error!, /^interrupted: /, `job ${j.id}`);
    else assert.equal(j.state, 'succeeded', `job ${j.id}: ${j.error}`);
    if (j.state === 'succeeded') assert.ok(j.artifacts.every((a) => existsSync(a)));
    if (j.pid) await waitFor(`job ${j.id}'s runner to exit`, () => (processAlive(j.pid!) ? undefined : true), 30_000, 100);
  }
  t.diagnostic(`${ended.length} jobs created by 20 killed CLIs: ${JSON.stringify(by)}`);
});

test('the runner killed with SIGKILL at a random moment, 15 rounds: failed (interrupted), never running forever', async (t) => {
  const by: Record<string, number> = {};
  for (let i = 0; i < 15; i++) {
    const e = imageEnv({ DF_STANDIN_SLEEP: String(Math.floor(random() * 2)) });
    const d = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--detach', '--json']);
    assert.equal(d.code, 0, d.stderr);
    const { id } = JSON.parse(d.stdout) as { id: number };
    await new Promise((r) => setTimeout(r, Math.floor(random() * 2500)));
    const before = statusOf(e, id);
    if (before.pid) { try { process.kill(before.pid, 'SIGKILL'); } catch { /* ended */ } }
    const final = await waitFor('the job to end', () => { const s = statusOf(e, id); return FINAL.includes(s.state) ? s : undefined; }, 60_000, 200);
    by[final.state] = (by[final.state] ?? 0) + 1;
    if (final.state === 'failed') assert.match(final.error!, /^interrupted: /);
    else assert.equal(final.state, 'succeeded', final.error ?? '');
    for (const run of standinRuns(e)) await waitFor('the tool to end', () => (processAlive(run.pid) ? undefined : true), 15_000, 100);
  }
  t.diagnostic(JSON.stringify(by));
});

test('every image tool dying every way: failed, with the reason, the log and the work folder', () => {
  const tools: [string[], string][] = [
    [['boot'], 'lorax'], [['dvd'], 'pungi'],
    [['live', '--backend', 'livecd-creator'], 'livecd-creator'], [['live', '--backend', 'livemedia-creator'], 'livemedia-creator'],
  ];
  for (const [args, tool] of tools) {
    for (const [fail, reason] of [['1', 'failed with exit code 1'], ['70', 'failed with exit code 70'], ['SIGKILL', 'was killed by signal SIGKILL'], ['SIGSEGV', 'was killed by signal SIGSEGV'], ['SIGABRT', 'was killed by signal SIGABRT']]) {
      const e = imageEnv({ DF_STANDIN_FAIL: fail });
      const r = ib(e, [...args, '--config', CONF, '--staging', `file://${e.staging}`]);
      assert.equal(r.code, 1, `${tool} ${fail}: ${r.stderr}`);
      const job = statusOf(e, 1);
      assert.equal(job.state, 'failed');
      assert.ok(job.error!.startsWith(`${tool} ${reason}`), `${tool} ${fail}: ${job.error}`);
      assert.ok(existsSync(job.log_path));
      assert.ok(job.workdir && existsSync(join(job.workdir, 'kickstart.ks')) === (tool !== 'lorax'));
      assert.equal(existsSync(e.staging), false);
    }
  }
});
