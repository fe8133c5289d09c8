// `darkserver query` and `darkserver index` without oclif (src/lib/cli/fast-path.ts): for every
// command line the fast path answers, it must print exactly what the oclif command prints
// (DARKFORGE_NO_FAST_PATH=1), with the same exit code; everything else must go to oclif untouched.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { FAST_PATH_MARKER, fastPathMarker, parseIndexArgv, parseQueryArgv } from '../src/lib/cli/fast-path.ts';
import { run, tempDir, type Run } from './helpers/cli.ts';
import { buildCore, modulePage, PF_R, PF_X, writeCore } from './helpers/core-builder.ts';
import { makeElf } from './helpers/elf.ts';
import { FIXTURES, readTruth } from './helpers/paths.ts';
import { freshDb, pgCluster } from './helpers/backends.ts';
import { CORE_FIXTURES } from './helpers/real-core.ts';

const truth = readTruth(FIXTURES);
const nvra = (rpm: string): string => rpm.replace(/^.*\//, '').replace(/\.rpm$/, '');
const alpha = truth.find((t) => t.rpm === 'df-debug-1.0-1.x86_64.rpm' && t.path === '/usr/bin/df-alpha')!;
const cross = truth.find((t) => t.rpm === 'df-cross-1.0-1.aarch64.rpm' && t.path === '/usr/bin/df-cross')!;
const multi = truth.find((t) => t.path === '/usr/bin/df-multi')!;
const unknownId = 'abcdef1234567890abcdef1234567890abcdef12';
/** Real kernel cores as systemd-coredump stores them (test/fixtures/cores). */
const zstCore = join(CORE_FIXTURES, 'x86_64.core.zst');
const lz4Core = join(CORE_FIXTURES, 'x86_64.core.lz4');

const dir = tempDir('darkforge-fast-');
const db = join(dir, 'index.sqlite');
/** The same index in PostgreSQL: every answer must be the same, byte for byte. */
let pgDb = '';
const files = {
  elf: join(dir, 'df-alpha'), // an ELF carrying df-alpha's build-id
  core: join(dir, 'core'), // a core dump mapping df-alpha and one module the index does not know
  text: join(dir, 'notes.txt'),
  missing: join(dir, 'no-such-file'),
  noDb: join(dir, 'none.sqlite'),
  xdg: join(dir, 'xdg'),
};

before(async () => {
  const r = run('darkserver', ['index', '--db', db, FIXTURES]);
  assert.equal(r.code, 0, r.stderr);
  pgDb = await freshDb('postgresql', 'fast');
  const p = run('darkserver', ['index', '--db', pgDb, FIXTURES]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stdout, r.stdout);
  writeFileSync(files.elf, makeElf({ is64: true, le: true, id: Buffer.from(alpha.buildId!, 'hex') }));
  writeFileSync(files.text, 'not elf\n'.repeat(10));
  await writeCore(files.core, buildCore({
    is64: true, le: true,
    files: [
      { path: '/usr/bin/df-alpha', start: 0x400000n, end: 0x401000n },
      { path: '/usr/lib64/libunknown.so', start: 0x7f0000000000n, end: 0x7f0000001000n },
    ],
    loads: [
      { vaddr: 0x400000n, memsz: 0x1000n, flags: PF_R | PF_X, data: modulePage({ is64: true, le: true, id: Buffer.from(alpha.buildId!, 'hex') }) },
      { vaddr: 0x7f0000000000n, memsz: 0x1000n, flags: PF_R | PF_X, data: modulePage({ is64: true, le: true, id: Buffer.from(unknownId, 'hex') }) },
    ],
  }));
});

interface Case {
  name: string;
  bin?: 'darkserver' | 'run';
  /** Arguments after `darkserver` (`--db DB` is appended unless noDb). */
  args: string[];
  noDb?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Whether the fast path answers (false: it must hand over to oclif). */
  fast: boolean;
  code: number;
  /** Standard input. */
  input?: () => Buffer;
}

const q = (name: string, args: string[], code: number, more: Partial<Case> = {}): Case =>
  ({ name, args: ['query', ...args], fast: true, code, ...more });
const oclif = (name: string, args: string[], code: number, more: Partial<Case> = {}): Case =>
  ({ name, args: ['query', ...args], fast: false, code, ...more });

const cases: Case[] = [
  q('a build-id found in several RPMs', [alpha.buildId!], 0),
  q('several ids, upper case, comma and space lists', [`${alpha.buildId!.toUpperCase()},${cross.buildId}`, `${multi.buildId} ${cross.buildId}`], 0),
  q('not found', ['abcdef12'], 1),
  q('found and not found', [cross.buildId!, unknownId, 'abcdef12'], 1),
  q('an odd number of hex digits', ['abcdef123'], 1),
  q('not a build-id', ['xyz'], 2),
  q('a bad id among good ones', [cross.buildId!, 'nothex!'], 2),
  q('--json', ['--json', alpha.buildId!, cross.buildId!], 0),
  q('--json, not found', ['--json', unknownId], 1),
  q('--rpm', ['--rpm', nvra(alpha.rpm)], 0),
  q('--rpm=NVRA.rpm --json', [`--rpm=${alpha.rpm}`, '--json'], 0),
  q('--rpm unknown', ['--rpm', 'nosuch-1-1.x86_64'], 1),
  q('--file', ['--file', multi.path], 0),
  q('--file relative, --json', ['--file', multi.path.slice(1), '--json'], 0),
  q('--file not shipped', ['--file', '/no/such/file'], 1),
  q('--package NAME', ['--package', 'df-debug'], 0),
  q('--package NVRA --json', ['--json', '--package', nvra(cross.rpm)], 0),
  q('--package unknown', ['--package', 'nosuch'], 1),
  q('--elf', ['--elf', files.elf], 0),
  q('--elf --json', ['--elf', files.elf, '--json'], 0),
  q('--elf on a file that is not ELF', ['--elf', files.text], 2),
  q('--elf on a missing file', ['--elf', files.missing], 2),
  q('--core', ['--core', files.core], 1),
  q('--core --json', ['--core', files.core, '--json'], 1),
  q('--core on a file that is not a core', ['--core', files.text], 2),
  q('--core - (a core on standard input)', ['--core', '-'], 1, { input: () => readFileSync(files.core) }),
  q('--core=- --json, a zstd core from systemd-coredump on standard input', ['--core=-', '--json'], 1, { input: () => readFileSync(zstCore) }),
  q('--core - with nothing on standard input', ['--core', '-'], 2, { input: () => Buffer.alloc(0) }),
  q('--core - with a cut lz4 core on standard input', ['--core', '-'], 2, { input: () => readFileSync(lz4Core).subarray(0, 4000) }),
  q('--core FILE.lz4 as systemd-coredump stores it', ['--core', lz4Core], 1),
  oclif('--rpm - is not standard input', ['--rpm', '-'], 1),
  q('no question at all', [], 2),
  q('two questions', [alpha.buildId!, '--rpm', nvra(alpha.rpm)], 2),
  q('--db=FILE', [alpha.buildId!, `--db=${db}`], 0, { noDb: true }),
  q('$DARKFORGE_DB', [alpha.buildId!], 0, { noDb: true, env: { DARKFORGE_DB: db } }),
  q('a missing --db file', [alpha.buildId!, '--db', files.noDb], 2, { noDb: true }),
  q('a missing default database under $XDG_DATA_HOME', [alpha.buildId!], 2, { noDb: true, env: { XDG_DATA_HOME: files.xdg } }),
  q('--db is a directory', [alpha.buildId!, '--db', dir], 2, { noDb: true }),
  q('--db is not a database', [alpha.buildId!, '--db', files.text], 2, { noDb: true }),
  q('--db is a URL', [alpha.buildId!, '--db', 'postgresql://u:pw@h/db'], 2, { noDb: true }),
  q('--no-color', [alpha.buildId!, '--no-color'], 0),
  q('--no-color, not found', ['--no-color', unknownId], 1, { env: { NO_COLOR: '', FORCE_COLOR: '1' } }),
  q('FORCE_COLOR: errors in colour', [unknownId, 'xyz'], 2, { env: { NO_COLOR: '', FORCE_COLOR: '1' } }),
  q('darkforge darkserver query', [alpha.buildId!, '--json'], 0, { bin: 'run', args: ['darkserver', 'query', alpha.buildId!, '--json'] }),
  q('darkforge darkserver:query, not found', [], 1, { bin: 'run', args: ['darkserver:query', unknownId] }),
  // Left to oclif: help, usage errors it words itself, and everything else.
  oclif('--help', ['--help'], 0),
  oclif('-h', ['-h'], 0), // oclif's additionalHelpFlags
  oclif('an unknown flag', ['--bogus', alpha.buildId!], 2),
  oclif('a flag without its value', ['--rpm'], 2),
  oclif('an empty flag value', ['--rpm', ''], 2),
  oclif('--json twice', ['--json', '--json', alpha.buildId!], 0),
  oclif('--json=true', ['--json=true', alpha.buildId!], 2), // oclif keeps "true" as an argument
  oclif('a -- separator', ['--', alpha.buildId!], 2), // the --db after it is an argument too
  oclif('darkforge darkserver query --help', [], 0, { bin: 'run', args: ['darkserver', 'query', '--help'], noDb: true }),
  oclif('another command', [], 0, { args: ['stats', '--json'] }),
  oclif('DARKFORGE_DEBUG', [alpha.buildId!], 0, { env: { DARKFORGE_DEBUG: '1' } }),
];

function invoke(c: Case, env: NodeJS.ProcessEnv, store = db): Run {
  const args = c.noDb ? c.args : [...c.args, '--db', store];
  return run(c.bin ?? 'darkserver', args, {
    DARKFORGE_DB: '', XDG_DATA_HOME: join(dir, 'unused'), DEBUG: '', CLI_FLAGS_DEBUG: '', ...c.env, DARKFORGE_DEBUG_FAST: '1', ...env,
  }, c.input ? { input: c.input() } : {});
}

describe('darkserver query: the fast path prints what the oclif command prints', () => {
  for (const c of cases) {
    test(`${c.fast ? 'fast' : 'oclif'}: ${c.name}`, () => {
      const viaOclif = invoke(c, { DARKFORGE_NO_FAST_PATH: '1' });
      const viaFast = invoke(c, {});
      assert.ok(!viaOclif.stderr.includes(FAST_PATH_MARKER), 'DARKFORGE_NO_FAST_PATH=1 takes the oclif path');
      if (c.fast) {
        assert.ok(viaFast.stderr.startsWith(FAST_PATH_MARKER), `the fast path answered (stderr: ${viaFast.stderr})`);
        viaFast.stderr = viaFast.stderr.slice(FAST_PATH_MARKER.length);
      } else {
        assert.ok(!viaFast.stderr.includes(FAST_PATH_MARKER), 'handed over to oclif');
      }
      assert.deepEqual(viaFast, viaOclif);
      assert.equal(viaOclif.code, c.code, viaOclif.stderr);
      if (c.code === 0) assert.notEqual(viaOclif.stdout, '');
      else assert.match(viaOclif.stderr, /\S/);
      assert.doesNotMatch(viaOclif.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});

// Both paths run the same code (checked above on SQLite): on PostgreSQL the one a user gets is compared.
describe('darkserver query on PostgreSQL: the same output and exit code as on SQLite', () => {
  // (stats names its database: left out.)
  for (const c of cases.filter((x) => !x.noDb && !x.args.includes('stats'))) {
    test(`${c.fast ? 'fast' : 'oclif'}: ${c.name}`, () => {
      assert.deepEqual(invoke(c, {}, pgDb), invoke(c, {}));
    });
  }

  const noDb = (name: string, args: string[], code: number, stderr: RegExp, env: NodeJS.ProcessEnv = {}): void => {
    test(`fast: ${name}`, async () => {
      const c = await pgCluster();
      const a = args.map((x) => x.replace('$URL', pgDb).replace('$PORT', String(c.port)).replace('$PASSWORD', c.password));
      const e = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v!.replace('$URL', pgDb)]));
      const viaFast = invoke({ name, args: ['query', alpha.buildId!, ...a], noDb: true, fast: true, code }, e);
      const viaOclif = invoke({ name, args: ['query', alpha.buildId!, ...a], noDb: true, fast: true, code }, { ...e, DARKFORGE_NO_FAST_PATH: '1' });
      assert.ok(viaFast.stderr.startsWith(FAST_PATH_MARKER));
      viaFast.stderr = viaFast.stderr.slice(FAST_PATH_MARKER.length);
      assert.deepEqual(viaFast, viaOclif);
      assert.equal(viaFast.code, code, viaFast.stderr);
      assert.match(viaFast.stderr, stderr);
      assert.ok(!viaFast.stderr.includes(c.password) && !viaFast.stdout.includes(c.password), 'the password is never shown');
      if (code === 0) assert.equal(viaFast.stdout, invoke(q('', [alpha.buildId!], 0), {}).stdout);
    });
  };
  noDb('--db=postgresql://…', ['--db=$URL'], 0, /^$/);
  noDb('$DARKFORGE_DB=postgresql://…', [], 0, /^$/, { DARKFORGE_DB: '$URL' });
  noDb('postgres:// is the same', ['--db', '$URL'.replace('postgresql:', 'postgres:')], 0, /^$/);
  noDb('a wrong password', ['--db', 'postgresql://darkforge:wrong-pw@127.0.0.1:$PORT/postgres'], 2,
    /^darkserver query: postgresql:\/\/darkforge@127\.0\.0\.1:\d+\/postgres: the PostgreSQL server refused the login \(password authentication failed for user "darkforge"\); check the user, and the password in the URL, PGPASSWORD or ~\/\.pgpass\n$/);
  noDb('a database without an index', ['--db', 'postgresql://darkforge:$PASSWORD@127.0.0.1:$PORT/postgres'], 2,
    /^darkserver query: postgresql:\/\/darkforge@127\.0\.0\.1:\d+\/postgres: no darkforge index in this database yet \(run "darkserver index" first, or pass --db\)\n$/);
  noDb('no such database', ['--db', 'postgresql://darkforge:$PASSWORD@127.0.0.1:$PORT/nosuch'], 2,
    /^darkserver query: postgresql:\/\/darkforge@127\.0\.0\.1:\d+\/nosuch: no such database on the PostgreSQL server \(database "nosuch" does not exist\); create it first \(createdb\), or pass another --db\n$/);
  noDb('no server there', ['--db', 'postgresql://darkforge:$PASSWORD@127.0.0.1:9/x'], 1,
    /^darkserver query: postgresql:\/\/darkforge@127\.0\.0\.1:9\/x: cannot connect to the PostgreSQL server \(connection refused\); is it running, and listening there\?\n$/);
  noDb('a URL that does not parse', ['--db', 'postgresql://darkforge:$PASSWORD@127.0.0.1:99999/x'], 2,
    /^darkserver query: postgresql:\/\/darkforge:\*\*\*@127\.0\.0\.1:99999\/x: not a valid PostgreSQL URL/);
  noDb('an unknown parameter', ['--db', '$URL?sslmode=verify-full&bogus=1'], 2, /: unknown URL parameter "bogus" \(known: host, /);
  noDb('an unknown sslmode', ['--db', '$URL?sslmode=maybe'], 2, /: sslmode "maybe" is not one of disable, allow, prefer, require, verify-ca, verify-full\n$/);
});

test('parseQueryArgv takes only the command lines it fully understands', () => {
  assert.deepEqual(parseQueryArgv(['a1b2c3d4', 'x,y', '--json', '--db', 'f.sqlite']), { ids: ['a1b2c3d4', 'x,y'], json: true, db: 'f.sqlite' });
  assert.deepEqual(parseQueryArgv(['--rpm=a-1-1.x86_64.rpm', '--db=x=y']), { ids: [], rpm: 'a-1-1.x86_64.rpm', db: 'x=y' });
  assert.deepEqual(parseQueryArgv(['--file', '/usr/bin/x', '--package', 'n', '--elf', 'e', '--core', 'c']),
    { ids: [], file: '/usr/bin/x', package: 'n', elf: 'e', core: 'c' });
  assert.deepEqual(parseQueryArgv(['--core', '-']), { ids: [], core: '-' }, 'standard input');
  assert.deepEqual(parseQueryArgv(['--core=-', '--json']), { ids: [], core: '-', json: true });
  for (const argv of [['--help'], ['-h'], ['--bogus'], ['--db'], ['--db', ''], ['--db='], ['--db', '--json'], ['--rpm', '-x'],
    ['--json', '--json'], ['--json=1'], ['--'], ['-'], ['-1'], ['--rpm', 'a', '--rpm', 'b'], ['--no-json'], ['--DB', 'x'],
    ['--rpm', '-'], ['--db', '-'], ['--core', '-x'], ['--core', '--'],
    ['--no-color=1'], ['--no-color', '--no-color'], ['--color']]) {
    assert.equal(parseQueryArgv(argv), undefined, argv.join(' '));
  }
});

describe('darkserver index: the fast path prints what the oclif command prints', () => {
  const INDEX_MARKER = fastPathMarker('index');
  const idx = tempDir('darkforge-fast-index-');
  const idxDb = join(idx, 'index.sqlite');
  const some = join(idx, 'some');
  const empty = join(idx, 'empty');
  const notRpm = join(idx, 'not.rpm');
  mkdirSync(some);
  mkdirSync(empty);
  for (const f of ['df-debug-1.0-1.x86_64.rpm', 'df-cross-1.0-1.ppc64.rpm', 'df-debug-1.0-1.src.rpm']) copyFileSync(join(FIXTURES, f), join(some, f));
  writeFileSync(notRpm, 'this is not an RPM\n'.repeat(20));

  interface IndexCase { name: string; args: string[]; fast: boolean; code: number; before?: string[]; bin?: 'darkserver' | 'run' }
  const cases: IndexCase[] = [
    { name: 'a folder', args: [FIXTURES], fast: true, code: 0 },
    { name: '--json --full --jobs 1', args: ['--json', '--full', '--jobs', '1', some], fast: true, code: 0 },
    { name: '--jobs=2, files and folders', args: ['--jobs=2', join(FIXTURES, 'df-kmod-1.0-1.x86_64.rpm'), some], fast: true, code: 0 },
    { name: 'already indexed', args: [some], before: [some], fast: true, code: 0 },
    { name: 'an empty folder', args: [empty, some], fast: true, code: 0 },
    { name: 'a file that is not an RPM', args: [notRpm, some], fast: true, code: 1 },
    { name: 'a missing path', args: [join(idx, 'nowhere')], fast: true, code: 1 },
    { name: 'darkforge darkserver index', bin: 'run', args: ['darkserver', 'index', some], fast: true, code: 0 },
    { name: 'darkforge darkserver:index --json', bin: 'run', args: ['darkserver:index', '--json', some], fast: true, code: 0 },
    { name: 'no path', args: [], fast: false, code: 2 },
    { name: '-j 2', args: ['-j', '2', some], fast: false, code: 0 },
    { name: '--jobs 0', args: ['--jobs', '0', some], fast: false, code: 2 },
    { name: '--jobs abc', args: ['--jobs', 'abc', some], fast: false, code: 2 },
    { name: '--help', args: ['--help'], fast: false, code: 0 },
  ];

  function invokeIndex(c: IndexCase, env: NodeJS.ProcessEnv, store = idxDb): Run {
    if (store === idxDb) rmSync(idxDb, { force: true });
    const base = { DARKFORGE_DB: '', XDG_DATA_HOME: join(idx, 'unused'), DEBUG: '', CLI_FLAGS_DEBUG: '', DARKFORGE_DEBUG_FAST: '1' };
    if (c.before) assert.equal(run('darkserver', ['index', '--db', store, ...c.before], { ...base, DARKFORGE_NO_FAST_PATH: '1' }).code, 0);
    const args = c.bin === 'run' ? c.args : ['index', ...c.args];
    return run(c.bin ?? 'darkserver', [...args, '--db', store], { ...base, ...env });
  }

  for (const c of cases) {
    test(`${c.fast ? 'fast' : 'oclif'}: ${c.name}`, () => {
      const viaOclif = invokeIndex(c, { DARKFORGE_NO_FAST_PATH: '1' });
      const viaFast = invokeIndex(c, {});
      assert.ok(!viaOclif.stderr.includes(INDEX_MARKER), 'DARKFORGE_NO_FAST_PATH=1 takes the oclif path');
      if (c.fast) {
        assert.ok(viaFast.stderr.startsWith(INDEX_MARKER), `the fast path answered (stderr: ${viaFast.stderr})`);
        viaFast.stderr = viaFast.stderr.slice(INDEX_MARKER.length);
      } else {
        assert.ok(!viaFast.stderr.includes(INDEX_MARKER), 'handed over to oclif');
      }
      assert.deepEqual(viaFast, viaOclif);
      assert.equal(viaOclif.code, c.code, viaOclif.stderr);
      if (c.code === 0) assert.notEqual(viaOclif.stdout, '');
      else assert.match(viaOclif.stderr, /\S/);
      assert.doesNotMatch(viaOclif.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  // On PostgreSQL: the same output and exit code (--json names the database: that field aside).
  const withoutDb = (r: Run): Run => ({ ...r, stdout: r.stdout.replace(/^  "db": ".*",\n/m, '') });
  for (const c of cases.filter((x) => x.code !== 2)) {
    test(`on PostgreSQL, ${c.fast ? 'fast' : 'oclif'}: ${c.name}`, async () => {
      const onSqlite = invokeIndex(c, {});
      const viaFast = invokeIndex(c, {}, await freshDb('postgresql', 'idx'));
      assert.deepEqual(withoutDb(viaFast), withoutDb(onSqlite));
      if (c.args.includes('--json')) assert.match(viaFast.stdout, /"db": "postgresql:\/\/darkforge@127\.0\.0\.1:\d+\/idx_\d+_\d+",/);
    });
  }

  test('parseIndexArgv takes only the command lines it fully understands', () => {
    assert.deepEqual(parseIndexArgv(['a', 'b/', '--json', '--db', 'f.sqlite', '--full', '--jobs=64']),
      { paths: ['a', 'b/'], json: true, db: 'f.sqlite', full: true, jobs: 64 });
    assert.deepEqual(parseIndexArgv(['--jobs', '1', 'x']), { paths: ['x'], db: undefined, jobs: 1 });
    for (const argv of [[], ['--json'], ['-j', '2', 'x'], ['--jobs', '0', 'x'], ['--jobs', '65', 'x'], ['--jobs', '1.5', 'x'],
      ['--jobs', 'abc', 'x'], ['--full=true', 'x'], ['--full', '--full', 'x'], ['--rpm', 'a', 'x'], ['--', 'x'], ['--help']]) {
      assert.equal(parseIndexArgv(argv), undefined, argv.join(' '));
    }
  });
});
