// Several writers on one database, and a disk that fills at many different points (issue 8):
// every process ends with exit 0 (writers) or one clear sentence (disk full), and the database is
// sound, holds each RPM whole, and after the last run equals clean runs' rows.
import assert from 'node:assert/strict';
import { copyFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, tempDir } from '../test/helpers/cli.ts';
import { assertSound, assertWholeRpms, dump, dumpByRpm, IS_ROOT, mountTmpfs, start, until, withDb } from '../test/helpers/db-faults.ts';
import { buildsFromRpmDir, type FakeKoji, startFakeKoji } from '../test/helpers/fake-koji.ts';
import { FIXTURES } from '../test/helpers/paths.ts';
import { rpmSet, type RpmSet } from '../test/helpers/rpm-set.ts';

const FAST = { DARKFORGE_BACKOFF_MS: '5' };
const IMPORT_RPMS = 30;

let set: RpmSet;
let k: FakeKoji;
let buildId: string;
let cleanIndex: string;
let cleanImport: string;

before(async () => {
  set = rpmSet(120, 3, { seed: 'stress' });
  cleanIndex = join(tempDir(), 'clean.sqlite');
  assert.equal(run('darkserver', ['index', '--db', cleanIndex, set.dir, FIXTURES]).code, 0);
  const builds = buildsFromRpmDir(rpmSet(IMPORT_RPMS, 2, { seed: 'stress-import' }).files, { firstId: 700 });
  buildId = String(builds[0].id);
  k = await startFakeKoji({ builds });
  cleanImport = join(tempDir(), 'clean-import.sqlite');
  assert.equal(run('darkserver', importArgs(cleanImport, 4), FAST).code, 0);
});
after(async () => { await k?.stop(); });

function importArgs(db: string, jobs: number): string[] {
  return ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, '--jobs', String(jobs), buildId];
}

describe('several writers', () => {
  test('5 rounds of 3 index and 3 import processes started together on a new database: all exit 0, no lock errors, rows of clean runs', async () => {
    const expected = [...dump(cleanIndex), ...dump(cleanImport)].sort();
    for (let round = 0; round < 5; round++) {
      const db = join(tempDir(), `r${round}.sqlite`);
      const thirds = [set.files.slice(0, 60), set.files.slice(40, 100), set.files.slice(80)];
      const procs = [
        ...thirds.map((files, i) => start(['index', '--db', db, '--jobs', String(1 + i), ...files, ...(i === 0 ? [FIXTURES] : [])])),
        ...[1, 2, 4].map((jobs) => start(importArgs(db, jobs), FAST)),
      ];
      const results = await Promise.all(procs.map((p) => p.exit));
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 0, `round ${round}, process ${i}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /locked|busy/i);
      }
      for (const r of results.slice(3)) assert.match(r.stdout, /^imported 1 of 1 requested builds/);
      assertSound(db);
      assert.deepEqual(dump(db), expected, `round ${round}`);
    }
  });

  test('an import killed while another imports the same build: the other takes its claims back and finishes the build', async () => {
    for (let round = 0; round < 3; round++) {
      const db = join(tempDir(), `kill${round}.sqlite`);
      await k.control({ faults: { slow_file_ms: 0 } });
      const victim = start(importArgs(db, 4), FAST);
      await until('the first import to claim RPMs', () => {
        try {
          return withDb(db, (d) => d.prepare(`SELECT count(*) FROM import_rpms WHERE state = 'running'`).pluck().get() as number) > 0;
        } catch { return false; }
      }, 60_000, 2);
      const survivor = start(importArgs(db, 2), FAST);
      victim.child.kill('SIGKILL');
      await victim.exit;
      const r = await survivor.exit;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^imported 1 of 1 requested builds/);
      assertSound(db);
      assert.deepEqual(dump(db), dump(cleanImport));
    }
  });
});

describe('full disk', { skip: !IS_ROOT && 'needs root (tmpfs mounts)' }, () => {
  test('the disk fills at 8 different points of an index run: one sentence, sound, whole RPMs; after freeing space the next run completes', () => {
    const clean = dumpByRpm(cleanIndex);
    for (const freeKiB of [16, 40, 80, 120, 200, 320, 480, 800]) {
      const fs = mountTmpfs(16 << 20);
      try {
        const db = join(fs.dir, 'i.sqlite');
        assert.equal(run('darkserver', ['index', '--db', db, ...set.files.slice(0, 3)]).code, 0);
        const filler = fs.fillUpTo(freeKiB << 10);
        const r = run('darkserver', ['index', '--db', db, '--jobs', String(1 + (freeKiB % 4)), set.dir, FIXTURES]);
        if (r.code !== 0) {
          assert.equal(r.code, 1, r.stderr);
          // Full before the first RPM (opening the database) or part-way.
          assert.match(r.stderr, /^darkserver index: \S+: no space left on device \(disk full\), the index database cannot grow(: stopped after \d+ RPMs? indexed, \d+ not indexed)?; free some space/);
          assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        }
        // Checked once there is room again: reading a database whose log was left behind needs room for its -shm.
        unlinkSync(filler);
        assertSound(db);
        assertWholeRpms(db, clean);
        const again = run('darkserver', ['index', '--db', db, set.dir, FIXTURES]);
        assert.equal(again.code, 0, `${freeKiB} KiB free: ${again.stderr}`);
        assert.deepEqual(dump(db), dump(cleanIndex), `${freeKiB} KiB free`);
      } finally {
        fs.unmount();
      }
    }
  });

  test('the disk fills at 5 different points of an import: one sentence, no RPM marked failed; after freeing space the next run finishes', () => {
    for (const freeKiB of [16, 48, 96, 160, 256]) {
      const fs = mountTmpfs(16 << 20);
      try {
        const db = join(fs.dir, 'i.sqlite');
        copyFileSync(cleanIndex, db); // an index with local rows already, and the schema
        const filler = fs.fillUpTo(freeKiB << 10);
        const r = run('darkserver', importArgs(db, 1 + (freeKiB % 4)), FAST);
        if (r.code !== 0) {
          assert.equal(r.code, 1, r.stderr);
          assert.match(r.stderr, /^darkserver import: \S+: no space left on device \(disk full\)/);
          assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        }
        unlinkSync(filler);
        assertSound(db);
        assertWholeRpms(db, new Map([...dumpByRpm(cleanIndex), ...dumpByRpm(cleanImport)]));
        assert.equal(withDb(db, (d) => d.prepare(`SELECT count(*) FROM import_rpms WHERE state = 'failed'`).pluck().get()), 0);
        const again = run('darkserver', importArgs(db, 2), FAST);
        assert.equal(again.code, 0, `${freeKiB} KiB free: ${again.stderr}`);
        assert.deepEqual(dump(db), [...dump(cleanIndex), ...dump(cleanImport)].sort(), `${freeKiB} KiB free`);
      } finally {
        fs.unmount();
      }
    }
  });
});
