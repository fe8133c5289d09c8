// The files table of schema version 4 (interned path parts, WITHOUT ROWID): a version-3 index is
// converted in place with every answer unchanged, deletes cascade, and the size stays under budget.
import assert from 'node:assert/strict';
import BetterSqlite3, { Database } from 'better-sqlite3';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildSyntheticIndex, openV3, synthRecords } from '../bench/synthetic-index.ts';
import { queryBuildIds, queryFile, queryRpm } from '../src/lib/index/query.ts';
import { splitPath } from '../src/lib/store/path-parts.ts';
import type { RpmRecord, Store } from '../src/lib/store/port.ts';
import { SqliteStore } from '../src/lib/store/sqlite/store.ts';
import { tempDir } from './helpers/cli.ts';

const ID_A = '699d82ed314fa6085dda4886782c4f341d2b5137';
const ID_B = '0123456789abcdef0123456789abcdef01234567';

/** RPMs with the awkward cases on top of realistic ones. */
function records(): RpmRecord[] {
  const recs = [...synthRecords(6000, 7)];
  const base = recs[0];
  const odd = (pkgid: string, nvra: string, rows: RpmRecord['rows'], instance = 'local'): RpmRecord => ({
    ...base, instance, pkgid, nvra, name: nvra.split('-')[0], url: `file:///${nvra}.rpm`, build: { ...base.build, nvr: `odd-${pkgid}` }, rows,
    elfFiles: rows.length,
  });
  recs.push(
    // the same row twice, one path with two ids, odd paths, a type the schema does not seed
    odd('dup', 'dup-1-1.x86_64', [
      { path: '/usr/bin/a', buildId: ID_A, type: 'executable' }, { path: '/usr/bin/a', buildId: ID_A, type: 'executable' },
      { path: '/usr/bin/b', buildId: ID_A, type: 'executable' }, { path: '/usr/bin/b', buildId: ID_B, type: 'executable' },
      { path: 'no-slash', buildId: ID_B, type: 'other' }, { path: '/usr/lib/debug/usr/bin/x-y-z-1.0-1.fc38.x86_64.debug', buildId: ID_B, type: 'debuginfo' },
      { path: '/usr/lib/debug/-lead-dash.debug', buildId: ID_B, type: 'debuginfo' }, { path: '/usr/lib/debug/usr/bin/', buildId: ID_B, type: 'debuginfo' },
      { path: '/usr/bin/ünïcödé ✓', buildId: ID_B, type: 'executable' }, { path: '/opt/x/', buildId: ID_B, type: 'relocatable' },
      { path: '/usr/lib/modules/x.ko', buildId: ID_A, type: 'future-type' as RpmRecord['rows'][0]['type'] },
    ]),
    // the same NVRA in a second instance (ties in the order), and an RPM without files
    odd('tie', 'dup-1-1.x86_64', [{ path: '/usr/bin/a', buildId: ID_A, type: 'executable' }], 'koji'),
    odd('empty', 'empty-1-1.noarch', []),
  );
  return recs;
}

// Version 3's query SQL, as store.ts had it (ties broken by write order, as SQLite returned them).
const V3_SELECT = `
  SELECT lower(hex(f.buildid)) AS buildid, f.path AS elf, r.nvra AS rpm, b.distro AS distro, r.url AS url,
         f.type AS type, r.arch AS arch, b.nvr AS nvr, r.instance AS instance, b.koji_build_id AS kojibuildid,
         r.name AS rpmName, r.version AS rpmVersion, r.release AS rpmRelease
  FROM files f JOIN rpms r ON r.id = f.rpm_id JOIN builds b ON b.id = r.build_id`;
const V3_ORDER = 'ORDER BY r.nvra, f.path, r.id, f.rowid';
const V3_SIBLINGS = `SELECT r.nvra, r.name, r.version, r.release, r.arch, r.url, r.instance, b.koji_build_id AS kojibuildid, b.distro
  FROM rpms r JOIN builds b ON b.id = r.build_id
  WHERE r.build_id IN (SELECT r2.build_id FROM files f JOIN rpms r2 ON r2.id = f.rpm_id WHERE f.buildid = ?)
  ORDER BY r.instance = 'local' DESC, r.nvra, r.id`;

interface Probe { ids: string[]; nvras: string[]; paths: string[] }

function probes(recs: RpmRecord[]): Probe {
  const ids = new Set<string>([ID_A, ID_B, 'ffffffffffffffffffffffffffffffffffffffff']);
  const paths = new Set<string>(['/usr/bin/a', '/usr/bin/b', 'no-slash', '/usr/bin/ünïcödé ✓', '/usr/lib/debug/usr/bin/', '/nowhere', '/usr/bin/']);
  recs.forEach((r, i) => {
    if (i % 7 === 0) for (const row of r.rows.slice(0, 3)) { ids.add(row.buildId); paths.add(row.path); }
  });
  return { ids: [...ids], nvras: [...new Set(recs.filter((_r, i) => i % 5 === 0).map((r) => r.nvra)), 'no-such-1-1.x86_64'], paths: [...paths] };
}

function v3Answers(db: Database, p: Probe) {
  const byId = db.prepare(`${V3_SELECT} WHERE f.buildid = ? ${V3_ORDER}`);
  const byNvra = db.prepare(`${V3_SELECT} WHERE r.nvra = ? ${V3_ORDER}`);
  const byPath = db.prepare(`${V3_SELECT} WHERE f.path = ? ${V3_ORDER}`);
  const one = (sql: string) => db.prepare(sql).pluck().get();
  return {
    ids: p.ids.map((id) => byId.all(Buffer.from(id, 'hex'))),
    siblings: p.ids.map((id) => db.prepare(V3_SIBLINGS).all(Buffer.from(id, 'hex'))),
    nvras: p.nvras.map((n) => byNvra.all(n)),
    paths: p.paths.map((x) => byPath.all(x)),
    stats: {
      files: one('SELECT count(*) FROM files'), buildids: one('SELECT count(DISTINCT buildid) FROM files'),
      rpms: one('SELECT count(*) FROM rpms'), builds: one('SELECT count(*) FROM builds'),
      byType: Object.fromEntries(db.prepare('SELECT type, count(*) FROM files GROUP BY type ORDER BY type').raw().all() as [string, number][]),
    },
  };
}

async function storeAnswers(s: Store, p: Probe) {
  const st = await s.stats();
  const all = <T, R>(xs: T[], f: (x: T) => Promise<R>): Promise<R[]> => Promise.all(xs.map(f));
  return {
    ids: await all(p.ids, (id) => s.byBuildId(id)),
    siblings: await all(p.ids, (id) => s.buildSiblings(id)),
    nvras: await all(p.nvras, (n) => s.byNvra(n)),
    paths: await all(p.paths, (x) => s.byPath(x)),
    stats: { files: st.files, buildids: st.buildids, rpms: st.rpms, builds: st.builds, byType: st.byType },
  };
}

test('splitPath: the parts concatenate back to the path', () => {
  for (const p of ['/usr/bin/a', 'no-slash', '', '/', '/usr/lib/debug/usr/lib64/libfoo.so.1.2-1.2-3.fc38.x86_64.debug',
    '/usr/lib/debug/.dwz/foo-bar-1.0-1.fc38.x86_64', '/usr/lib/debug/a-b', '/usr/lib/debug/-x-y', '/usr/bin/gnome-shell-1-2']) {
    assert.equal(splitPath(p).join(''), p);
  }
  assert.deepEqual(splitPath('/usr/lib/debug/usr/lib64/libfoo.so.1.2-1.2-3.fc38.x86_64.debug'),
    ['/usr/lib/debug/usr/lib64/', 'libfoo.so.1.2', '-1.2-3.fc38.x86_64.debug']);
  assert.deepEqual(splitPath('/usr/bin/gnome-shell-1-2'), ['/usr/bin/', 'gnome-shell-1-2', '']);
});

test('a version-3 index is converted in place: every row and every answer unchanged', async () => {
  const dir = tempDir();
  const recs = records();
  const p = probes(recs);
  const file = join(dir, 'v3.sqlite');
  const v3 = openV3(file);
  for (const r of recs) v3.addRpm(r);
  const before = v3Answers(v3.db, p);
  v3.db.close();
  assert.ok((before.stats.files as number) > 6000);
  assert.ok(before.ids[0].length >= 4 && before.paths[0].length === 3, 'the awkward rows are there');

  const s = new SqliteStore(file);
  assert.equal((await s.stats()).schemaVersion, 7);
  assert.equal(s.db.pragma('freelist_count', { simple: true }), 0, 'the old pages are given back');
  assert.deepEqual(await storeAnswers(s, p), before);
  const cols = s.db.prepare('SELECT name FROM pragma_table_info(\'files\')').pluck().all();
  assert.deepEqual(cols, ['rpm_id', 'seq', 'dir', 'stem', 'tail', 'type', 'buildid']);
  assert.deepEqual(s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files' ORDER BY name").pluck().all(),
    ['files_buildid', 'files_path']);
  assert.equal(s.db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE '%v4%'").pluck().get(), 0);
  // The query functions darkserver query calls give the same as on a fresh index written by Store.
  const fresh = new SqliteStore(join(dir, 'fresh.sqlite'));
  for (const r of records()) await fresh.addRpm(r);
  assert.deepEqual(await storeAnswers(fresh, p), before);
  for (const id of p.ids.slice(0, 20)) assert.deepEqual(await queryBuildIds(s, [id]), await queryBuildIds(fresh, [id]));
  for (const n of p.nvras.slice(0, 20)) assert.deepEqual(await queryRpm(s, n), await queryRpm(fresh, n));
  for (const x of p.paths.slice(0, 20)) assert.deepEqual(await queryFile(s, x), await queryFile(fresh, x));
  // New rows after the conversion go in as usual.
  const [extra] = [...synthRecords(200, 99)];
  assert.equal(await s.addRpm(extra), true);
  assert.equal((await s.byNvra(extra.nvra)).length, extra.rows.length);
  await fresh.close();
  await s.close();
});

test('deleting an RPM deletes its files rows; the other RPMs answer as before', async () => {
  const s = new SqliteStore(join(tempDir(), 'd.sqlite'));
  const [a, b] = [...synthRecords(400, 3)];
  await s.addRpm(a);
  await s.addRpm(b);
  const keep = await s.byNvra(b.nvra);
  const rpmId = s.db.prepare('SELECT id FROM rpms WHERE nvra = ?').pluck().get(a.nvra);
  s.db.prepare('DELETE FROM rpms WHERE id = ?').run(rpmId);
  assert.equal(s.db.prepare('SELECT count(*) FROM files WHERE rpm_id = ?').pluck().get(rpmId), 0);
  assert.equal((await s.stats()).files, b.rows.length);
  assert.deepEqual((await s.byBuildId(a.rows[0].buildId)).filter((r) => r.rpm === a.nvra), []);
  assert.deepEqual(await s.byNvra(b.nvra), keep);
  for (const row of b.rows.slice(0, 10)) assert.ok((await s.byPath(row.path)).some((r) => r.rpm === b.nvra));
  assert.equal(s.db.prepare("SELECT name FROM names WHERE id = 0").pluck().get(), '');
  await s.close();
});

test('size: at most 120 bytes of database per build-id row on a 200 k-row synthetic index', () => {
  const r = buildSyntheticIndex({ db: join(tempDir(), 'size.sqlite'), rows: 200_000 });
  assert.equal(r.rows, 200_000);
  const raw = new BetterSqlite3(r.db, { readonly: true });
  assert.equal(raw.prepare('SELECT count(*) FROM files').pluck().get(), 200_000);
  assert.equal(raw.pragma('freelist_count', { simple: true }), 0);
  raw.close();
  assert.ok(r.bytesPerRow <= 120, `${r.bytesPerRow.toFixed(1)} bytes per row`);
});
