// kill -9 and SIGINT at random moments of `darkserver index` and `darkserver import` (issue 8), many
// times over: after every kill the database passes integrity_check and holds each RPM whole or not
// at all; the killed runs resume, and the final index equals a clean run's. The moments are drawn
// from a seeded generator (DARKFORGE_SOAK_SEED to replay a run; the seed is printed).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, tempDir } from '../test/helpers/cli.ts';
import { assertSound, assertWholeRpms, dump, dumpByRpm, rpmCount, start, withDb } from '../test/helpers/db-faults.ts';
import { buildsFromRpmDir, type FakeKoji, startFakeKoji } from '../test/helpers/fake-koji.ts';
import { rpmSet, type RpmSet } from '../test/helpers/rpm-set.ts';

const SEED = Number(process.env.DARKFORGE_SOAK_SEED ?? Date.now() % 1_000_000);
console.log(`# db-kill seed ${SEED} (DARKFORGE_SOAK_SEED=${SEED} replays it)`);

/** mulberry32: small, seedable, good enough to spread kill moments. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const FAST = { DARKFORGE_BACKOFF_MS: '5' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let set: RpmSet;
let cleanIndex: string;
let cleanRows: Map<string, string[]>;
/** How long a whole index run of the set takes here, start-up included. */
let indexMs: number;

before(() => {
  set = rpmSet(150, 3, { seed: 'soak' });
  cleanIndex = join(tempDir(), 'clean.sqlite');
  const t = Date.now();
  const r = run('darkserver', ['index', '--full', '--jobs', '1', '--db', cleanIndex, set.dir]);
  indexMs = Date.now() - t;
  assert.equal(r.code, 0, r.stderr);
  cleanRows = dumpByRpm(cleanIndex);
  assert.equal(cleanRows.size, 150);
});

/** Every run streams the payloads (--full): longer runs, and the same `method` as the clean run. */
/**
 * Wait for a random moment of a run: half the time a random delay from the start (start-up,
 * opening and migrating the database included), else until the index holds a random number of
 * RPMs more than `from`, polled every 2 ms (or the run ends).
 */
async function randomMoment(file: string, from: number, exited: () => boolean): Promise<void> {
  if (random() < 0.5) return sleep(random() * indexMs);
  const target = from + 1 + Math.floor(random() * (149 - from));
  while (!exited() && rpmCount(file) < target) await sleep(2);
}

function indexArgs(db: string): string[] {
  return ['index', '--full', '--db', db, '--jobs', String(1 + Math.floor(random() * 4)), set.dir];
}

describe('index', () => {
  test('kill -9 at 40 random moments, 4 kills in a row on each database, then a run to the end: always sound, whole RPMs, a clean run\'s rows', async () => {
    let killedMidRun = 0;
    for (let db = 0; db < 10; db++) {
      const file = join(tempDir(), `k${db}.sqlite`);
      for (let kill = 0; kill < 4; kill++) {
        const before = rpmCount(file);
        const { child, exit } = start(indexArgs(file));
        let done = false;
        void exit.then(() => { done = true; });
        await randomMoment(file, before, () => done);
        child.kill('SIGKILL');
        const r = await exit;
        const after = rpmCount(file);
        if (r.signal === 'SIGKILL' && after > before && after < 150) killedMidRun++;
        if (after > 0) {
          assertSound(file);
          assertWholeRpms(file, cleanRows);
        }
      }
      const last = run('darkserver', ['index', '--full', '--db', file, set.dir]);
      assert.equal(last.code, 0, last.stderr);
      assertSound(file);
      assert.deepEqual(dump(file), dump(cleanIndex));
    }
    console.log(`# ${killedMidRun} of 40 kills landed after some RPMs and before the last`);
    assert.ok(killedMidRun >= 10, `too few kills landed mid-run (${killedMidRun}): the run is too quick for the delays drawn`);
  });

  test('SIGINT or SIGTERM at 20 random moments: exit 130/143 with a note that matches the database (or 0 when it finished first)', async () => {
    let interrupted = 0;
    for (let i = 0; i < 20; i++) {
      const file = join(tempDir(), `s${i}.sqlite`);
      const signal = pick(['SIGINT', 'SIGTERM'] as const);
      const { child, exit } = start(indexArgs(file));
      let done = false;
      void exit.then(() => { done = true; });
      await randomMoment(file, 0, () => done);
      child.kill(signal);
      const r = await exit;
      if (r.code === 0) continue; // finished before the signal
      if (r.signal === signal) continue; // before node installed its handlers: killed, nothing written
      interrupted++;
      assert.equal(r.code, signal === 'SIGINT' ? 130 : 143, r.stderr);
      const m = new RegExp(`^darkserver index: interrupted by ${signal}: (\\d+) RPMs indexed, 0 already indexed, (\\d+) not done; `).exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(rpmCount(file), Number(m[1]));
      assertSound(file);
      assertWholeRpms(file, cleanRows);
      const again = run('darkserver', ['index', '--full', '--db', file, set.dir]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(dump(file), dump(cleanIndex));
    }
    console.log(`# ${interrupted} of 20 signals interrupted a run`);
    assert.ok(interrupted >= 5, `too few signals landed mid-run (${interrupted})`);
  });
});

describe('import', () => {
  let k: FakeKoji;
  let buildId: string;
  let cleanImport: string;
  let importMs: number;
  const RPMS = 30;
  before(async () => {
    const builds = buildsFromRpmDir(rpmSet(RPMS, 2, { seed: 'soak-import' }).files, { firstId: 500 });
    buildId = String(builds[0].id);
    k = await startFakeKoji({ builds });
    cleanImport = join(tempDir(), 'clean-import.sqlite');
    const t = Date.now();
    const r = run('darkserver', importArgs(cleanImport), FAST);
    importMs = Date.now() - t;
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => { await k?.stop(); });

  function importArgs(db: string): string[] {
    return ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, '--jobs', String(1 + Math.floor(random() * 4)), buildId];
  }
  /** RPMs in state "running"; undefined while the database has no queue yet. */
  const running = (db: string): number | undefined => {
    try {
      return withDb(db, (d) => d.prepare(`SELECT count(*) FROM import_rpms WHERE state = 'running'`).pluck().get() as number);
    } catch {
      return undefined;
    }
  };

  test('kill -9 at 20 random moments, in pairs on one database: sound after each, the next run takes the claims back and ends with a clean run\'s rows', async () => {
    for (let db = 0; db < 10; db++) {
      const file = join(tempDir(), `i${db}.sqlite`);
      for (let kill = 0; kill < 2; kill++) {
        const { child, exit } = start(importArgs(file), FAST);
        await sleep(random() * importMs);
        child.kill('SIGKILL');
        await exit;
        if (rpmCount(file) > 0) {
          assertSound(file);
          assertWholeRpms(file, dumpByRpm(cleanImport));
        }
      }
      const last = run('darkserver', importArgs(file), FAST);
      assert.equal(last.code, 0, last.stderr);
      assert.equal(running(file), 0);
      assertSound(file);
      assert.deepEqual(dump(file), dump(cleanImport));
    }
  });

  test('SIGINT at 10 random moments: exit 130, nothing left running, the next run finishes', async () => {
    let interrupted = 0;
    for (let i = 0; i < 10; i++) {
      const file = join(tempDir(), `n${i}.sqlite`);
      const { child, exit } = start(importArgs(file), FAST);
      await sleep(300 + random() * importMs);
      child.kill('SIGINT');
      const r = await exit;
      if (r.code === 0 || r.signal === 'SIGINT') continue;
      interrupted++;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /^darkserver import: interrupted by SIGINT: \d+ of \d+ RPMs done, \d+ in progress put back on the queue; /);
      const left = running(file);
      if (left !== undefined) {
        assert.equal(left, 0, 'claims put back');
        assertSound(file);
        assertWholeRpms(file, dumpByRpm(cleanImport));
      }
      const again = run('darkserver', importArgs(file), FAST);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(dump(file), dump(cleanImport));
    }
    console.log(`# ${interrupted} of 10 signals interrupted an import`);
  });
});
