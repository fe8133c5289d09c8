// The index database under faults (issue 8): a disk that fills up, a read-only database, SIGINT
// and SIGTERM, kill -9, several writers at once. Real SQLite, the real CLI as child processes,
// real RPMs (test/helpers/rpm-set.ts builds 60 with rpmbuild) and the fake Koji hub. Every run
// must end with one clear answer and a database that passes integrity_check, holds each RPM
// whole or not at all, and after a resumed run equals a clean run's. The long random-kill loops
// are in soak/db-*.test.ts.
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DatabaseError } from '../src/lib/index/db-errors.ts';
import { databaseError } from '../src/lib/store/sqlite/errors.ts';
import { run, tempDir } from './helpers/cli.ts';
import {
  assertSound, assertWholeRpms, dump, dumpByRpm, holdWriteLock, IS_ROOT, mountTmpfs, rpmCount, start, until,
  waitingForLock, withDb,
} from './helpers/db-faults.ts';
import { buildsFromRpmDir, type FakeKoji, startFakeKoji } from './helpers/fake-koji.ts';
import { FIXTURE_RPMS, FIXTURES } from './helpers/paths.ts';
import { rpmSet, type RpmSet } from './helpers/rpm-set.ts';

const FAST = { DARKFORGE_BACKOFF_MS: '5' };
const NO_STACK = /\bat .*\.[jt]s:\d+|^\s+at /m;
const needsRoot = !IS_ROOT && 'needs root (tmpfs mounts)';

let set: RpmSet;
let cleanIndex: string;
let cleanRows: Map<string, string[]>;

before(() => {
  set = rpmSet(60, 4);
  cleanIndex = join(tempDir(), 'clean.sqlite');
  const r = run('darkserver', ['index', '--db', cleanIndex, set.dir]);
  assert.equal(r.code, 0, r.stderr);
  cleanRows = dumpByRpm(cleanIndex);
  assert.equal(cleanRows.size, 60);
});

/** Index the first `n` RPMs of the set, so a later run starts in the middle. */
function indexFirst(db: string, n: number): void {
  const r = run('darkserver', ['index', '--db', db, ...set.files.slice(0, n)]);
  assert.equal(r.code, 0, r.stderr);
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  assert.doesNotMatch(stderr, NO_STACK);
  return lines[0];
}

describe('full disk', { skip: needsRoot }, () => {
  test('the disk fills while indexing: one sentence naming the database, exit 1, whole RPMs only; after freeing space the next run completes', () => {
    const fs = mountTmpfs(8 << 20);
    try {
      const db = join(fs.dir, 'i.sqlite');
      indexFirst(db, 5);
      const filler = fs.fillUpTo(160 << 10);
      const r = run('darkserver', ['index', '--db', db, set.dir]);
      assert.equal(r.code, 1, r.stderr);
      const line = oneLine(r.stderr);
      assert.match(line, new RegExp(`^darkserver index: ${db.replace(/[/.]/g, '\\$&')}: no space left on device \\(disk full\\), the index database cannot grow: `
        + 'stopped after \\d+ RPMs? indexed, \\d+ not indexed; free some space and run the same command again$'));
      assert.equal(r.stdout, '');
      // Checked once there is room again: reading a database whose log was left behind needs room for its -shm.
      unlinkSync(filler);
      assertSound(db);
      const kept = assertWholeRpms(db, cleanRows);
      assert.ok(kept >= 5 && kept < 60, `stopped part-way (${kept} of 60 RPMs)`);

      const again = run('darkserver', ['index', '--db', db, set.dir]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`^indexed ${60 - kept} RPMs .*, ${kept} already indexed:`));
      assertSound(db);
      assert.deepEqual(dump(db), dump(cleanIndex));
    } finally {
      fs.unmount();
    }
  });

  test('no room to create the database at all: the same sentence, exit 1, no stack', () => {
    const fs = mountTmpfs(1 << 20);
    try {
      fs.fillUpTo(0);
      const db = join(fs.dir, 'new.sqlite');
      const r = run('darkserver', ['index', '--db', db, FIXTURES]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(oneLine(r.stderr), /new\.sqlite: no space left on device \(disk full\), the index database cannot grow; free some space/);
    } finally {
      fs.unmount();
    }
  });
});

describe('read-only database', { skip: needsRoot }, () => {
  const ID = '3c70818e2b0596eb6b15aaecc372d629204adce1'; // df-kmod's module (test/fixtures/rpms/GROUND_TRUTH.tsv)

  test('index and import refuse it up front (exit 2, "…is read-only"), nothing changes; query, stats and jobs still answer', () => {
    const fs = mountTmpfs(4 << 20);
    try {
      const db = join(fs.dir, 'i.sqlite');
      assert.equal(run('darkserver', ['index', '--db', db, FIXTURES]).code, 0);
      const stats = run('darkserver', ['stats', '--json', '--db', db]).stdout;
      const query = run('darkserver', ['query', '--db', db, ID]).stdout;
      assert.match(query, new RegExp(`^${ID}\tdf-kmod-1\\.0-1\\.x86_64\t/lib/modules/`));
      const files = readdirSync(fs.dir).sort();
      const size = statSync(db).size;
      fs.readOnly();

      const idx = run('darkserver', ['index', '--db', db, set.dir]);
      assert.equal(idx.code, 2);
      assert.equal(oneLine(idx.stderr), `darkserver index: ${db}: the index database is read-only (read-only file system); nothing was changed`);
      const imp = run('darkserver', ['import', '--db', db, '--hub', 'http://127.0.0.1:9/kojihub', '--topurl', 'http://127.0.0.1:9/kojifiles', '1']);
      assert.equal(imp.code, 2);
      assert.equal(oneLine(imp.stderr), `darkserver import: ${db}: the index database is read-only (read-only file system); nothing was changed`);
      const fresh = run('darkserver', ['index', '--db', join(fs.dir, 'sub', 'new.sqlite'), FIXTURES]);
      assert.equal(fresh.code, 2);
      assert.match(oneLine(fresh.stderr), /new\.sqlite: the index database is read-only \(read-only file system: .*\); nothing was changed$/);

      assert.deepEqual(readdirSync(fs.dir).sort(), files);
      assert.equal(statSync(db).size, size);
      const q = run('darkserver', ['query', '--db', db, ID]);
      assert.equal(q.code, 0, q.stderr);
      assert.equal(q.stdout, query);
      const s = run('darkserver', ['stats', '--json', '--db', db]);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(s.stdout, stats);
      const rpm = run('darkserver', ['query', '--db', db, '--rpm', 'df-kmod-1.0-1.x86_64']);
      assert.equal(rpm.code, 0, rpm.stderr);
      assert.equal(rpm.stdout.trim().split('\n').length, 2);
      const jobs = run('darkserver', ['jobs', '--json', '--db', db]);
      assert.equal(jobs.code, 0, jobs.stderr);
      assert.deepEqual(JSON.parse(jobs.stdout).rpms, {});
    } finally {
      fs.unmount();
    }
  });

  test('a read-only index whose last writer was killed (its -wal and -shm left beside it): readers see what is in the log', async () => {
    const fs = mountTmpfs(4 << 20);
    try {
      const db = join(fs.dir, 'i.sqlite');
      assert.equal(run('darkserver', ['index', '--db', db, FIXTURES]).code, 0);
      // A writer deletes one RPM (the change stays in the log: no checkpoint) and is killed.
      await spawnWriter(db, "DELETE FROM rpms WHERE nvra = 'df-kmod-1.0-1.x86_64'");
      assert.ok(existsSync(`${db}-wal`) && existsSync(`${db}-shm`), 'the killed writer left its log');
      fs.readOnly();
      const q = run('darkserver', ['query', '--db', db, '--rpm', 'df-kmod-1.0-1.x86_64']);
      assert.equal(q.code, 1, 'the deletion in the log is seen');
      const s = run('darkserver', ['stats', '--json', '--db', db]);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(JSON.parse(s.stdout).rpms, FIXTURE_RPMS - 1);
    } finally {
      fs.unmount();
    }
  });

  test('a read-only index with a -wal but no -shm: one sentence saying so, exit 2', async () => {
    const fs = mountTmpfs(4 << 20);
    try {
      const db = join(fs.dir, 'i.sqlite');
      assert.equal(run('darkserver', ['index', '--db', db, FIXTURES]).code, 0);
      await spawnWriter(db, "DELETE FROM rpms WHERE nvra = 'df-kmod-1.0-1.x86_64'");
      unlinkSync(`${db}-shm`);
      fs.readOnly();
      const q = run('darkserver', ['stats', '--db', db]);
      assert.equal(q.code, 2);
      assert.match(oneLine(q.stderr), /i\.sqlite: the index database is read-only and its log i\.sqlite-wal cannot be read without i\.sqlite-shm; open it once with write access/);
    } finally {
      fs.unmount();
    }
  });
});

/** A process that changes the database without a checkpoint and dies by SIGKILL, leaving FILE-wal and FILE-shm. */
async function spawnWriter(db: string, sql: string): Promise<void> {
  const script = `const D = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
    const db = new D(${JSON.stringify(db)}); db.pragma('wal_autocheckpoint = 0'); db.pragma('foreign_keys = ON');
    db.exec(${JSON.stringify(sql)}); process.kill(process.pid, 'SIGKILL');`;
  const c = spawn(process.execPath, ['-e', script], { stdio: 'inherit' });
  const [, signal] = await new Promise<[number | null, string | null]>((r) => c.on('exit', (code, sig) => r([code, sig])));
  assert.equal(signal, 'SIGKILL');
}

describe('signals', () => {
  for (const [signal, code, oclif] of [['SIGINT', 130, false], ['SIGTERM', 143, true]] as const) {
    test(`${signal} while index writes an RPM${oclif ? ' (oclif path)' : ''}: that RPM is finished, exit ${code} with a note; the next run indexes the rest`, async () => {
      const db = join(tempDir(), 'i.sqlite');
      indexFirst(db, 10);
      const lock = holdWriteLock(db);
      let released = false;
      try {
        const { child, exit } = start(['index', '--db', db, '--jobs', '4', set.dir], oclif ? { DARKFORGE_NO_FAST_PATH: '1' } : {});
        await until('the index run to wait for the write lock', () => waitingForLock(child.pid!));
        child.kill(signal);
        lock.release();
        released = true;
        const r = await exit;
        assert.equal(r.code, code, r.stderr);
        assert.equal(r.stdout, '');
        const m = new RegExp(`^darkserver index: interrupted by ${signal}: (\\d+) RPMs indexed, (\\d+) already indexed, (\\d+) not done; `
          + 'run the same command again to index the rest$').exec(oneLine(r.stderr));
        assert.ok(m, r.stderr);
        const [indexed, already, notDone] = m.slice(1).map(Number);
        assert.ok(indexed >= 1, 'the RPM being written when the signal came is finished');
        assert.equal(rpmCount(db), 10 + indexed, 'the note counts what is in the database');
        assert.equal(indexed + already + notDone, 60);
        assert.ok(notDone > 0);
        assertSound(db);
        assertWholeRpms(db, cleanRows);
      } finally {
        if (!released) lock.release();
      }
      const again = run('darkserver', ['index', '--db', db, set.dir]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(dump(db), dump(cleanIndex));
    });
  }
});

describe('kill -9', () => {
  test('index killed at once and while writing an RPM: the next run resumes and equals a clean run', async () => {
    for (const point of ['at once', 'while writing'] as const) {
      const db = join(tempDir(), 'i.sqlite');
      if (point !== 'at once') indexFirst(db, 10);
      const lock = point === 'at once' ? undefined : holdWriteLock(db);
      try {
        const { child, exit } = start(['index', '--db', db, '--jobs', '4', set.dir]);
        if (lock) await until('the index run to wait for the write lock', () => waitingForLock(child.pid!));
        child.kill('SIGKILL');
        assert.equal((await exit).signal, 'SIGKILL', point);
      } finally {
        lock?.release();
      }
      if (existsSync(db)) {
        assertSound(db);
        assertWholeRpms(db, cleanRows);
      }
      const again = run('darkserver', ['index', '--db', db, set.dir]);
      assert.equal(again.code, 0, `${point}: ${again.stderr}`);
      assertSound(db);
      assert.deepEqual(dump(db), dump(cleanIndex), point);
    }
  });
});

/** One Koji build of 20 RPMs (the fake hub serves about 10 RPMs a second, header-first). */
const IMPORT_RPMS = 20;

describe('import and several writers', () => {
  let k: FakeKoji;
  let cleanImport: string;
  let buildId: string;
  before(async () => {
    const builds = buildsFromRpmDir(rpmSet(IMPORT_RPMS, 2, { seed: 'import' }).files, { firstId: 1000 });
    assert.equal(builds.length, 1);
    buildId = String(builds[0].id);
    k = await startFakeKoji({ builds });
    cleanImport = join(tempDir(), 'clean-import.sqlite');
    const r = importCmd(cleanImport, [buildId]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(dumpByRpm(cleanImport).size, IMPORT_RPMS);
  });
  after(async () => { await k?.stop(); });

  function importArgs(db: string, args: string[]): string[] {
    return ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...args];
  }
  function importCmd(db: string, args: string[]) {
    return run('darkserver', importArgs(db, args), FAST);
  }
  const rpmStates = (db: string): Record<string, number> => withDb(db, (d) => Object.fromEntries(
    d.prepare('SELECT state, count(*) FROM import_rpms GROUP BY state').raw().all() as [string, number][]));

  /** Start an import, let 5 RPMs finish, then stall every download: returns with 2 RPMs in flight. */
  async function startStalled(db: string) {
    // A hub far away (200 ms a request): the other 15 RPMs are still to come when the downloads stall.
    await k.control({ faults: { latency_ms: 200 } });
    const s = start(importArgs(db, ['--jobs', '2', buildId]), FAST);
    await until('5 RPMs imported', () => { try { return (rpmStates(db).done ?? 0) >= 5; } catch { return false; } });
    await k.control({ faults: { stall_file: 1000, stall_ms: 120_000, latency_ms: 0 } });
    // Each of the 2 workers has one request at a time: 2 stalled requests hold both.
    const stalled = async (): Promise<boolean> => (await k.status()).faults.stall_file <= 998;
    for (let end = Date.now() + 30_000; !(await stalled());) {
      assert.ok(Date.now() < end, 'both downloads stalled within 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('2 RPMs in flight', () => (rpmStates(db).running ?? 0) === 2);
    return s;
  }

  test('SIGINT during import, downloads in flight: they go back on the queue, exit 130 with a note; the next run finishes', async () => {
    const db = join(tempDir(), 'i.sqlite');
    let r;
    try {
      const { child, exit } = await startStalled(db);
      child.kill('SIGINT');
      r = await exit;
    } finally {
      await k.control({ faults: { stall_file: 0, latency_ms: 0 } });
    }
    assert.equal(r.code, 130, r.stderr);
    assert.match(oneLine(r.stderr), /^darkserver import: interrupted by SIGINT: \d+ of 20 RPMs done, 2 in progress put back on the queue; run "darkserver import" again to finish$/);
    const states = rpmStates(db);
    assert.equal(states.running, undefined, 'nothing left "running"');
    assert.ok((states.queued ?? 0) >= 2);
    assertSound(db);
    assertWholeRpms(db, dumpByRpm(cleanImport));
    const again = importCmd(db, []);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(rpmStates(db), { done: IMPORT_RPMS });
    assert.deepEqual(dump(db), dump(cleanImport));
  });

  test('import killed (-9) with downloads in flight: the next run takes the dead claims back and ends with a clean run\'s rows', async () => {
    const db = join(tempDir(), 'i.sqlite');
    try {
      const { child, exit } = await startStalled(db);
      child.kill('SIGKILL');
      assert.equal((await exit).signal, 'SIGKILL');
    } finally {
      await k.control({ faults: { stall_file: 0, latency_ms: 0 } });
    }
    assert.equal(rpmStates(db).running, 2, 'the dead process\'s claims');
    assertSound(db);
    assertWholeRpms(db, dumpByRpm(cleanImport));
    const again = importCmd(db, [buildId]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^imported 1 of 1 requested builds/);
    assert.deepEqual(rpmStates(db), { done: IMPORT_RPMS });
    assert.deepEqual(dump(db), dump(cleanImport));
  });

  test('a claim whose pid now belongs to a process that started later (pid reuse) is taken back', () => {
    const db = join(tempDir(), 'i.sqlite');
    copyFileSync(cleanImport, db);
    // 3 RPMs look claimed two minutes ago (a heartbeat too recent to be stale) by a live process
    // that started just now, so it cannot be the one that claimed them; their rows are removed.
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const claimedAt = Math.floor(Date.now() / 1000) - 120;
      const w = new BetterSqlite3(db);
      w.pragma('foreign_keys = ON');
      const ids = w.prepare('SELECT id, nvra FROM import_rpms ORDER BY nvra LIMIT 3').all() as { id: number; nvra: string }[];
      for (const { id, nvra } of ids) {
        w.prepare(`UPDATE import_rpms SET state = 'running', worker_pid = ?, heartbeat = ? WHERE id = ?`).run(sleeper.pid, claimedAt, id);
        w.prepare('DELETE FROM rpms WHERE nvra = ?').run(nvra);
      }
      w.prepare(`UPDATE import_builds SET state = 'fetching'`).run();
      w.close();
      const r = importCmd(db, [buildId]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^imported 1 of 1 requested builds from fake: 3 RPMs indexed/);
      assert.deepEqual(rpmStates(db), { done: IMPORT_RPMS });
      assert.deepEqual(dump(db), dump(cleanImport));
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  test('the disk fills during import: one sentence naming the database, exit 1, no RPM marked failed or left half-written; the next run finishes', { skip: needsRoot }, () => {
    const fs = mountTmpfs(8 << 20);
    try {
      const db = join(fs.dir, 'i.sqlite');
      copyFileSync(cleanImport, db);
      // Start from the clean import minus 15 RPMs (rows and queue entries), so the run has work to do.
      const w = new BetterSqlite3(db);
      w.pragma('foreign_keys = ON');
      w.exec(`DELETE FROM rpms WHERE id IN (SELECT id FROM rpms ORDER BY nvra DESC LIMIT 15);
        UPDATE import_rpms SET state = 'queued' WHERE nvra IN (SELECT nvra FROM import_rpms ORDER BY nvra DESC LIMIT 15);
        UPDATE import_builds SET state = 'fetching'`);
      w.close();
      const filler = fs.fillUpTo(96 << 10);
      const r = importCmd(db, [buildId]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(oneLine(r.stderr), /^darkserver import: \S+i\.sqlite: no space left on device \(disk full\), the index database cannot grow; free some space and run the same command again$/);
      unlinkSync(filler);
      assertSound(db);
      const kept = assertWholeRpms(db, dumpByRpm(cleanImport));
      assert.ok(kept < IMPORT_RPMS, 'stopped part-way');
      assert.equal(rpmStates(db).failed, undefined, 'a full disk is not the RPMs\' fault');
      const again = importCmd(db, [buildId]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(rpmStates(db), { done: IMPORT_RPMS });
      assert.deepEqual(dump(db), dump(cleanImport));
    } finally {
      fs.unmount();
    }
  });

  test('2 index and 2 import processes on one new database, overlapping: all exit 0, no lock errors, each RPM once, rows of clean runs', async () => {
    const cleanFixtures = join(tempDir(), 'clean-fixtures.sqlite');
    assert.equal(run('darkserver', ['index', '--db', cleanFixtures, FIXTURES]).code, 0);
    const expected = [...dump(cleanIndex), ...dump(cleanFixtures), ...dump(cleanImport)].sort();

    const db = join(tempDir(), 'shared.sqlite');
    const procs = [
      start(['index', '--db', db, '--jobs', '2', set.dir], FAST),
      start(['index', '--db', db, '--jobs', '2', ...set.files.slice(20), FIXTURES], FAST),
      start(importArgs(db, ['--jobs', '3', buildId]), FAST),
      start(importArgs(db, ['--jobs', '3', buildId]), FAST),
    ];
    const results = await Promise.all(procs.map((p) => p.exit));
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 0, `process ${i}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /locked|busy/i);
    }
    for (const r of results.slice(2)) assert.match(r.stdout, /^imported 1 of 1 requested builds/, 'each import answers for the whole build');
    const indexed = results.slice(0, 2).map((r) => Number(/^indexed (\d+) RPMs/.exec(r.stdout)?.[1]));
    assert.equal(indexed[0] + indexed[1], 60 + FIXTURE_RPMS, 'every local RPM indexed by exactly one of the two');
    const imported = results.slice(2).map((r) => Number(/: (\d+) RPMs indexed/.exec(r.stdout)?.[1]));
    assert.equal(imported[0] + imported[1], IMPORT_RPMS, 'every Koji RPM imported by exactly one of the two');
    assertSound(db);
    assert.deepEqual(dump(db), expected);
    assert.deepEqual(rpmStates(db), { done: IMPORT_RPMS });
  });
});

describe('database failures are named as such', () => {
  const sqlite = (code: string): Error => Object.assign(new Error(`SQLite says ${code}`), { code });
  test('each SQLite failure of the database itself maps to one sentence and exit code; other errors are left alone', () => {
    const file = join(tempDir(), 'x.sqlite');
    const cases: [string, RegExp, number][] = [
      ['SQLITE_FULL', /x\.sqlite: no space left on device \(disk full\)/, 1],
      ['SQLITE_IOERR_WRITE', /x\.sqlite: input\/output error on the index database \(SQLITE_IOERR_WRITE\)$/, 1],
      ['SQLITE_READONLY', /x\.sqlite: the index database is read-only \(SQLITE_READONLY\)$/, 2],
      ['SQLITE_CORRUPT', /x\.sqlite: the index database is damaged \(SQLite says SQLITE_CORRUPT\); restore a copy/, 1],
      ['SQLITE_NOTADB', /x\.sqlite: not a usable darkforge database/, 2],
      ['SQLITE_BUSY', /x\.sqlite: the index database stayed locked by another process \(SQLITE_BUSY\); run the same command again/, 1],
    ];
    for (const [code, re, exit] of cases) {
      const e = databaseError(file, sqlite(code));
      assert.ok(e instanceof DatabaseError, code);
      assert.match(e.message, re, code);
      assert.equal(e.exitCode, exit, code);
    }
    assert.equal(databaseError(file, sqlite('SQLITE_CONSTRAINT_UNIQUE')), undefined);
    assert.equal(databaseError(file, new TypeError('x')), undefined);
    assert.equal(databaseError(file, Object.assign(new Error('no'), { code: 'ENOSPC' })), undefined, 'a file error of an input is the input\'s');
    rmSync(file, { force: true });
  });
});
