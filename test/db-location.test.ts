// --db values that cannot be an index (issue 17): a folder, a URL, a device, a file this process
// cannot read. Each is one sentence naming it, exit 2, and nothing is created; a missing index is
// still named and not created by the commands that only read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { dbUrlScheme, resolveDbPath } from '../src/lib/index/location.ts';
import { run, tempDir } from './helpers/cli.ts';
import { FIXTURES, ROOT } from './helpers/paths.ts';

const rpm = join(FIXTURES, 'df-debug-1.0-1.x86_64.rpm');

/** Run an entry point in `cwd` (where a URL taken for a path would leave a folder). */
function runIn(cwd: string, bin: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', `${bin}.js`), ...args], {
    cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', DARKFORGE_DB: '', ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every kind of command that opens the index: one that creates it, readers, and imagebuild's job store. */
const COMMANDS: [string, string[]][] = [
  ['darkserver', ['query', 'abcdef12']],
  ['darkserver', ['index', rpm]],
  ['darkserver', ['stats']],
  ['darkserver', ['jobs']],
  ['imagebuild', ['list']],
];

describe('--db names a URL', () => {
  const urls: [string, string][] = [
    ['postgres:buildids', 'postgres'],
    ['mysql://darkforge:s3cret@db.example.org:3306/buildids', 'mysql'],
    ['sqlite:///var/lib/darkforge/buildids.sqlite', 'sqlite'],
    ['sqlite:buildids.sqlite', 'sqlite'],
    ['file:///var/lib/darkforge/buildids.sqlite', 'file'],
    ['https://example.org/buildids.sqlite', 'https'],
    ['mysql://h/db', 'mysql'],
    ['redis://h:6379', 'redis'],
  ];

  test('each command refuses it with one sentence naming it and its scheme, exit 2, and creates nothing', () => {
    for (const [url, scheme] of urls) {
      for (const [bin, args] of COMMANDS) {
        const cwd = tempDir('darkforge-dburl-');
        const r = runIn(cwd, bin, [...args, '--db', url]);
        const shown = url.replace(':s3cret@', ':***@');
        assert.equal(r.code, 2, `${bin} ${args[0]} --db ${url}: ${r.stderr}`);
        assert.equal(r.stderr, `${bin} ${args[0]}: --db ${shown}: a ${scheme} URL, which darkforge cannot open (give the path of a SQLite file, or a postgresql:// URL)\n`);
        assert.equal(r.stdout, '');
        assert.deepEqual(readdirSync(cwd), [], `${bin} ${args[0]} --db ${url} created nothing`);
      }
    }
  });

  test('from $DARKFORGE_DB it says so; the password never shows', () => {
    const cwd = tempDir('darkforge-dburl-');
    const r = runIn(cwd, 'darkserver', ['query', 'abcdef12'], { DARKFORGE_DB: 'mysql://u:pw-secret@h/db' });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'darkserver query: $DARKFORGE_DB mysql://u:***@h/db: a mysql URL, which darkforge cannot open (give the path of a SQLite file, or a postgresql:// URL)\n');
    assert.deepEqual(readdirSync(cwd), []);
  });

  test('a PostgreSQL URL goes to PostgreSQL: a host that does not exist is one sentence without the password, and no folder', () => {
    for (const url of ['postgresql://darkforge:s3cret@db.invalid:5432/buildids', 'postgres://db.invalid/buildids']) {
      const cwd = tempDir('darkforge-dburl-');
      const r = runIn(cwd, 'darkserver', ['query', 'abcdef12', '--db', url]);
      assert.equal(r.code, 2, r.stderr); // a host name that does not resolve is a mistake in the input
      assert.match(r.stderr, /^darkserver query: postgres(ql)?:\/\/(darkforge@|root@)?db\.invalid(:5432)?\/buildids: cannot connect to the PostgreSQL server \(host name not found\)\n$/);
      assert.doesNotMatch(r.stderr, /s3cret/);
      assert.deepEqual(readdirSync(cwd), [], 'nothing created');
    }
  });

  test('a file name with a colon in it is a file, not a URL', () => {
    assert.equal(dbUrlScheme('index:old.sqlite'), undefined);
    assert.equal(dbUrlScheme('./postgresql:x'), undefined);
    assert.equal(dbUrlScheme('/srv/a:b/c.sqlite'), undefined);
    assert.equal(dbUrlScheme('POSTGRESQL://h/db'), 'postgresql');
    const cwd = tempDir('darkforge-dburl-');
    const r = runIn(cwd, 'darkserver', ['index', '--db', 'index:old.sqlite', rpm]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(cwd, 'index:old.sqlite')));
  });
});

describe('--db names something that is not an index file', () => {
  test('a folder: one sentence, exit 2, nothing written in it', () => {
    const folder = tempDir('darkforge-dbdir-');
    for (const [bin, args] of COMMANDS) {
      const r = run(bin as 'darkserver', [...args, '--db', folder]);
      assert.equal(r.code, 2, `${bin} ${args[0]}`);
      assert.equal(r.stderr, `${bin} ${args[0]}: ${folder}: a folder, not an index database file (give the path of a file, such as ${join(folder, 'buildids.sqlite')})\n`);
      assert.deepEqual(readdirSync(folder), []);
    }
    // DARKFORGE_DB the same way.
    const r = run('darkserver', ['stats'], { DARKFORGE_DB: folder });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /: a folder, not an index database file/);
  });

  test('a device or a FIFO: not a regular file', () => {
    const r = run('darkserver', ['stats', '--db', '/dev/null']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'darkserver stats: /dev/null: not a regular file, so not an index database\n');
  });

  test('a path through a file: named, exit 2', () => {
    const file = join(tempDir(), 'plain');
    writeFileSync(file, 'x');
    const r = run('darkserver', ['index', '--db', join(file, 'buildids.sqlite'), rpm]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `darkserver index: ${join(file, 'buildids.sqlite')}: cannot be the index database (a component of the path is not a directory)\n`);
  });

  test('a missing index: named, not created, by every command that only reads', () => {
    const folder = tempDir();
    const missing = join(folder, 'none.sqlite');
    for (const args of [['query', 'abcdef12'], ['stats'], ['jobs'], ['find', 'debuginfo', 'abcdef12']]) {
      const r = run('darkserver', [...args, '--db', missing]);
      assert.equal(r.code, 2, args[0]);
      assert.equal(r.stderr, `darkserver ${args[0]}: ${missing}: no index database there yet (run "darkserver index" first, or pass --db)\n`);
      assert.deepEqual(readdirSync(folder), []);
    }
  });
});

// A file or folder this process may not read: root reads everything, so the commands run as
// "nobody" there (setpriv, util-linux).
describe('--db names a file this process cannot read', () => {
  const root = process.getuid?.() === 0;
  const folder = tempDir('darkforge-dbperm-');
  chmodSync(folder, 0o755);
  const home = join(folder, 'home');
  mkdirSync(home, { mode: 0o777 });
  chmodSync(home, 0o777);
  const asUser = (args: string[]) => {
    const cmd = root ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [process.execPath];
    const r = spawnSync(cmd[0], [...cmd.slice(1), join(ROOT, 'bin', 'darkserver.js'), ...args], {
      encoding: 'utf8', env: { ...process.env, HOME: home, XDG_DATA_HOME: home, XDG_CACHE_HOME: home, XDG_CONFIG_HOME: home, NO_COLOR: '1', DARKFORGE_DB: '' },
    });
    return { code: r.status ?? -1, stderr: r.stderr };
  };

  test('an unreadable file: "cannot read the index database (permission denied)", exit 2', () => {
    const db = join(folder, 'locked.sqlite');
    assert.equal(run('darkserver', ['index', '--db', db, rpm]).code, 0);
    chmodSync(db, 0o000);
    for (const args of [['query', 'abcdef12'], ['stats'], ['index', rpm]]) {
      const r = asUser([...args, '--db', db]);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stderr, `darkserver ${args[0]}: ${db}: cannot read the index database (permission denied)\n`);
    }
  });

  test('a file in a folder this process cannot search: permission denied, not "no index there yet"', () => {
    const closed = join(folder, 'closed');
    mkdirSync(closed);
    const db = join(closed, 'index.sqlite');
    assert.equal(run('darkserver', ['index', '--db', db, rpm]).code, 0);
    chmodSync(closed, 0o700);
    if (!root) chmodSync(closed, 0o000);
    const r = asUser(['query', 'abcdef12', '--db', db]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `darkserver query: ${db}: cannot be the index database (permission denied)\n`);
    if (!root) chmodSync(closed, 0o700);
  });
});

test('resolveDbPath: --db, else $DARKFORGE_DB, else $XDG_DATA_HOME/darkforge/buildids.sqlite', () => {
  const home = tempDir();
  assert.equal(resolveDbPath(undefined, { XDG_DATA_HOME: home }), join(home, 'darkforge', 'buildids.sqlite'));
  assert.equal(resolveDbPath(undefined, { XDG_DATA_HOME: home, DARKFORGE_DB: join(home, 'x.sqlite') }), join(home, 'x.sqlite'));
  assert.equal(resolveDbPath(join(home, 'y.sqlite'), { DARKFORGE_DB: 'postgresql://h/db' }), join(home, 'y.sqlite'));
  assert.equal(resolveDbPath(undefined, { DARKFORGE_DB: 'postgresql://h/db' }), 'postgresql://h/db');
  assert.throws(() => resolveDbPath(undefined, { DARKFORGE_DB: 'mysql://h/db' }), /\$DARKFORGE_DB mysql:\/\/h\/db: a mysql URL/);
});
