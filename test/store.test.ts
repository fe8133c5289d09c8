import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openStore } from '../src/lib/store/open.ts';
import type { RpmRecord } from '../src/lib/store/port.ts';
import { migrate } from '../src/lib/store/sqlite/schema.ts';
import { SqliteStore } from '../src/lib/store/sqlite/store.ts';
import { BACKENDS, freshDb, pgCluster } from './helpers/backends.ts';
import { run, tempDir } from './helpers/cli.ts';
import { mountTmpfs } from './helpers/db-faults.ts';

const ID = '699d82ed314fa6085dda4886782c4f341d2b5137';

function record(over: Partial<RpmRecord> = {}): RpmRecord {
  return {
    instance: 'local', pkgid: 'aa'.repeat(16),
    build: { name: 'p', version: '1', release: '1.fc38', nvr: 'p-1-1.fc38', distro: 'fc38' },
    name: 'p', version: '1', release: '1.fc38', arch: 'x86_64', nvra: 'p-1-1.fc38.x86_64', url: 'file:///p.rpm',
    method: 'payload', elfFiles: 2, elfWithoutBuildId: 0,
    rows: [{ path: '/usr/bin/a', buildId: ID, type: 'executable' }, { path: '/usr/bin/b', buildId: ID, type: 'executable' }],
    ...over,
  };
}

for (const backend of BACKENDS) {
  describe(backend, () => {
    test('an RPM is written whole or not at all', async () => {
      const s = await openStore(await freshDb(backend));
      const broken = record({ rows: [{ path: '/usr/bin/a', buildId: ID, type: 'executable' }, { path: null as unknown as string, buildId: ID, type: 'executable' }] });
      await assert.rejects(s.addRpm(broken));
      const st = await s.stats();
      assert.deepEqual([st.rpms, st.files, st.builds], [0, 0, 0]);
      assert.equal(await s.addRpm(record()), true);
      assert.equal(await s.addRpm(record()), false, 'same pkgid twice');
      assert.deepEqual([(await s.stats()).rpms, (await s.stats()).files], [1, 2]);
      await s.close();
    });

    test('build-ids are stored as bytes and come back as lowercase hex with the row', async () => {
      const db = await freshDb(backend);
      const s = await openStore(db);
      await s.addRpm(record());
      const rows = await s.byBuildId(ID);
      assert.equal(rows.length, 2);
      assert.equal(rows[0].distro, 'fc38');
      assert.equal(rows[0].buildid, ID);
      await s.close();
      if (backend === 'sqlite') {
        const raw = new BetterSqlite3(db);
        assert.deepEqual(raw.prepare('SELECT typeof(buildid) t, length(buildid) n FROM files LIMIT 1').get(), { t: 'blob', n: 20 });
        assert.ok(raw.prepare("SELECT 1 FROM sqlite_master WHERE type='index' AND name='files_buildid'").get());
        assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
        raw.close();
      } else {
        const c = await pgCluster();
        const name = new URL(db).pathname.slice(1);
        assert.deepEqual(await c.sql('SELECT pg_typeof(buildid)::text AS t, length(buildid) AS n FROM files LIMIT 1', [], name), [{ t: 'bytea', n: 20 }]);
        assert.deepEqual((await c.sql(`SELECT indexname FROM pg_indexes WHERE tablename = 'files' ORDER BY indexname`, [], name)).map((r) => r.indexname),
          ['files_buildid', 'files_path', 'files_pkey']);
        assert.deepEqual((await c.sql('SELECT version FROM darkforge_schema ORDER BY version', [], name)).map((r) => r.version), [5, 6, 7]);
      }
    });

    test('a database from a newer darkforge is refused with a clear message', async () => {
      const db = await freshDb(backend, 'new');
      if (backend === 'sqlite') {
        const raw = new BetterSqlite3(db);
        raw.pragma('user_version = 99');
        raw.close();
      } else {
        await (await openStore(db)).close();
        await (await pgCluster()).sql('INSERT INTO darkforge_schema (version) VALUES (99)', [], new URL(db).pathname.slice(1));
      }
      for (const cmd of ['stats', 'jobs']) {
        const r = run('darkserver', [cmd, '--db', db]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /schema version 99 is newer than this darkforge understands \(7\); upgrade darkforge\n$/);
      }
    });
  });
}

test('a file that is not SQLite is refused with a clear message', () => {
  const r = run('darkserver', ['stats', '--db', new URL(import.meta.url).pathname]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not a usable darkforge database/);
});

test('a version-1 index is migrated in place and keeps its rows', async () => {
  const file = join(tempDir(), 'old.sqlite');
  const raw = new BetterSqlite3(file);
  migrate(raw, file, 1);
  raw.exec(`INSERT INTO builds (id, instance, name, version, release, nvr, distro) VALUES (1, 'local', 'p', '1', '1.fc38', 'p-1-1.fc38', 'fc38');
    INSERT INTO rpms (id, build_id, instance, pkgid, name, version, release, arch, nvra, url, method, elf_files, elf_without_buildid, indexed_at)
      VALUES (1, 1, 'local', 'aa', 'p', '1', '1.fc38', 'x86_64', 'p-1-1.fc38.x86_64', 'file:///p.rpm', 'payload', 2, 0, 0);
    INSERT INTO files (rpm_id, buildid, path, type) VALUES (1, x'${ID}', '/usr/bin/a', 'executable'), (1, x'${ID}', '/usr/bin/b', 'executable');`);
  raw.close();
  const again = new SqliteStore(file);
  assert.equal((await again.stats()).schemaVersion, 7);
  assert.equal((await again.byBuildId(ID)).length, 2);
  assert.equal((await again.instances()).size, 0);
  await again.close();
});

test('a version-4 index on a read-only mount is read as it is: schema 5 only added claim columns', { skip: process.getuid?.() !== 0 && 'needs root (tmpfs mounts)' }, () => {
  const fs = mountTmpfs(4 << 20);
  try {
    const file = join(fs.dir, 'v4.sqlite');
    const raw = new BetterSqlite3(file);
    migrate(raw, file, 4);
    raw.close();
    fs.readOnly();
    const st = run('darkserver', ['stats', '--json', '--db', file]);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(JSON.parse(st.stdout).schemaVersion, 4);
    const jobs = run('darkserver', ['jobs', '--db', file]);
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.equal(jobs.stdout, 'builds: none\nrpms: none\n');
    const idx = run('darkserver', ['index', '--db', file, tempDir()]);
    assert.equal(idx.code, 2);
    assert.match(idx.stderr, /v4\.sqlite: the index database is read-only \(read-only file system\); nothing was changed/);
  } finally {
    fs.unmount();
  }
});
