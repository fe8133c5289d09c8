// The darkserver commands as a user runs them: output format, JSON fields and exit codes.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { FIXTURES, readTruth } from './helpers/paths.ts';
import { run, tempDir } from './helpers/cli.ts';

const truth = readTruth(FIXTURES);
const withId = truth.filter((t) => t.buildId);
const nvra = (rpm: string): string => rpm.replace(/^.*\//, '').replace(/\.rpm$/, '');
const binaryRpms = readdirSync(FIXTURES, { recursive: true }).map(String)
  .filter((f) => f.endsWith('.rpm') && !f.endsWith('.src.rpm'));
const db = join(tempDir(), 'index.sqlite');
const ds = (...args: string[]) => run('darkserver', [...args, '--db', db]);
let indexRun: ReturnType<typeof run>;

before(() => {
  indexRun = ds('index', FIXTURES);
});

test('index: one summary line with RPMs, ELF files, build-ids and failures', () => {
  assert.equal(indexRun.code, 0, indexRun.stderr);
  assert.equal(indexRun.stderr, '');
  const lines = indexRun.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0], new RegExp(`^indexed ${binaryRpms.length} RPMs .*1 source skipped: ${truth.length} ELF files, ${withId.length} build-ids, ${truth.length - withId.length} without build-id; 0 failed$`));
});

test('index again: the same RPMs change nothing', () => {
  const before = ds('stats', '--json');
  const again = ds('index', FIXTURES);
  assert.equal(again.code, 0);
  assert.match(again.stdout, new RegExp(`^indexed 0 RPMs .*${binaryRpms.length} already indexed`));
  assert.deepEqual(JSON.parse(ds('stats', '--json').stdout), JSON.parse(before.stdout));
});

test('stats --json counts rpms, files and distinct build-ids', () => {
  const s = JSON.parse(ds('stats', '--json').stdout);
  assert.equal(s.rpms, binaryRpms.length);
  assert.equal(s.files, withId.length);
  assert.equal(s.buildids, new Set(withId.map((t) => t.buildId)).size);
  assert.equal(s.elfWithoutBuildId, truth.length - withId.length);
  assert.equal(s.schemaVersion, 7);
});

test('query: BUILDID<TAB>NVRA<TAB>PATH for every RPM that holds the id', () => {
  const counts = new Map<string, number>();
  for (const t of withId) counts.set(t.buildId!, (counts.get(t.buildId!) ?? 0) + 1);
  const [id] = [...counts].sort((a, b) => b[1] - a[1])[0];
  assert.ok(counts.get(id)! >= 2, 'fixtures have a build-id in two RPMs');
  const r = ds('query', id);
  assert.equal(r.code, 0);
  const expected = withId.filter((t) => t.buildId === id).map((t) => `${id}\t${nvra(t.rpm)}\t${t.path}`).sort();
  assert.deepEqual(r.stdout.trim().split('\n').sort(), expected);
});

test('query answers every fixture build-id, upper case accepted', () => {
  const ids = [...new Set(withId.map((t) => t.buildId!))];
  const r = ds('query', ...ids.map((i) => i.toUpperCase()));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, withId.length);
});

test('query --json has darkserver\'s fields and darkforge\'s', () => {
  const t = withId[0];
  const r = ds('query', '--json', t.buildId!);
  assert.equal(r.code, 0);
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  const row = rows.find((x) => x.elf === t.path && x.rpm === nvra(t.rpm))!;
  assert.ok(row, r.stdout);
  for (const k of ['buildid', 'elf', 'rpm', 'distro', 'url', 'type', 'arch', 'nvr', 'instance', 'kojibuildid', 'urls']) assert.ok(k in row, k);
  assert.equal(row.buildid, t.buildId);
  assert.equal(row.instance, 'local');
  assert.equal(row.kojibuildid, null);
  assert.equal(row.distro, '');
  assert.match(String(row.url), /^file:\/\/\/.*\.rpm$/);
  assert.ok(String(row.url).endsWith(`/${t.rpm}`));
  assert.deepEqual(row.urls, [row.url]);
  assert.equal(row.arch, nvra(t.rpm).split('.').pop());
});

test('query: unknown id exits 1 with one line naming it; found ids are still printed', () => {
  const unknown = 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef';
  const r = ds('query', withId[0].buildId!, unknown);
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes(withId[0].buildId!));
  assert.equal(r.stderr, `darkserver query: ${unknown}: build-id not found in the index\n`);
});

test('query: anything but 8-64 hex digits is a usage error (exit 2), with no stack trace', () => {
  for (const bad of ['xyz', '1234567', 'a'.repeat(65), 'g'.repeat(40), '../etc']) {
    const r = ds('query', bad);
    assert.equal(r.code, 2, bad);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(bad), r.stderr);
    assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  }
  assert.equal(ds('query', 'a'.repeat(64)).code, 1);
  assert.equal(ds('query', 'abcd1234').code, 1);
});

test('query --rpm lists every build-id of one RPM, with or without .rpm', () => {
  const rpm = withId[0].rpm;
  const expected = withId.filter((t) => t.rpm === rpm).map((t) => `${t.buildId}\t${nvra(rpm)}\t${t.path}`).sort();
  for (const arg of [nvra(rpm), `${nvra(rpm)}.rpm`]) {
    const r = ds('query', '--rpm', arg);
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), expected);
  }
  const missing = ds('query', '--rpm', 'nosuch-1-1.x86_64');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nosuch-1-1\.x86_64/);
});

test('query --file says which RPMs ship a path', () => {
  const t = withId[0];
  const expected = withId.filter((x) => x.path === t.path).map((x) => `${x.buildId}\t${nvra(x.rpm)}\t${x.path}`).sort();
  const r = ds('query', '--file', t.path);
  assert.equal(r.code, 0);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), expected);
  assert.equal(ds('query', '--file', '/no/such/file').code, 1);
});

test('query takes exactly one kind of question', () => {
  assert.equal(ds('query').code, 2);
  assert.equal(ds('query', withId[0].buildId!, '--rpm', 'x-1-1.noarch').code, 2);
  assert.equal(ds('query', '--bogus').code, 2);
});

test('darkforge darkserver X and darkserver X print the same', () => {
  const id = withId[0].buildId!;
  const a = run('run', ['darkserver', 'query', '--json', id, '--db', db]);
  const b = ds('query', '--json', id);
  assert.equal(a.code, 0);
  assert.equal(a.stdout, b.stdout);
});

test('a missing database is named, not created', () => {
  const r = run('darkserver', ['query', 'abcdef12', '--db', join(tempDir(), 'none.sqlite')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /none\.sqlite: no index database there yet/);
});

test('--jobs 1 and --jobs 4 build the same index', () => {
  const a = join(tempDir(), 'a.sqlite');
  const b = join(tempDir(), 'b.sqlite');
  assert.equal(run('darkserver', ['index', '--jobs', '1', '--db', a, FIXTURES]).code, 0);
  assert.equal(run('darkserver', ['index', '--jobs', '4', '--db', b, FIXTURES]).code, 0);
  const dump = (f: string) => run('darkserver', ['query', '--db', f, ...new Set(withId.map((t) => t.buildId!))]).stdout.split('\n').sort();
  assert.deepEqual(dump(a), dump(b));
});

test('DARKFORGE_DB and XDG_DATA_HOME choose the default database', () => {
  const home = tempDir();
  const one = join(FIXTURES, 'df-debug-1.0-1.x86_64.rpm');
  assert.equal(run('darkserver', ['index', one], { XDG_DATA_HOME: home, DARKFORGE_DB: '' }).code, 0);
  const s = run('darkserver', ['stats', '--json'], { XDG_DATA_HOME: home, DARKFORGE_DB: '' });
  assert.equal(JSON.parse(s.stdout).db, join(home, 'darkforge', 'buildids.sqlite'));
  const envDb = join(home, 'env.sqlite');
  assert.equal(run('darkserver', ['index', one], { DARKFORGE_DB: envDb }).code, 0);
  assert.equal(JSON.parse(run('darkserver', ['stats', '--json'], { DARKFORGE_DB: envDb }).stdout).rpms, 1);
});

test('a piped standard input is never taken for a missing argument (commands in a `while read` loop)', () => {
  // oclif reads an absent (or "-") argument from a piped stdin unless told not to: the loop's next
  // line would become the argument and the loop would lose it.
  for (const [bin, args] of [
    ['darkserver', ['index']], ['darkserver', ['find', 'executable']], ['darkserver', ['import', '--hub', 'http://127.0.0.1:9/kojihub']],
    ['imagebuild', ['status']], ['imagebuild', ['cancel']], ['imagebuild', ['logs']], ['imagebuild', ['retry']],
  ] as const) {
    const r = run(bin, [...args, '--db', db], { DARKFORGE_BACKOFF_MS: '1' }, { input: 'loop-line-42\n' });
    // import with no build finishes the (empty) queue: exit 0; the others miss their argument.
    assert.equal(r.code, args[0] === 'import' ? 0 : 2, `${bin} ${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr + r.stdout, /loop-line-42/, `${bin} ${args.join(' ')} read its argument from stdin`);
  }
});
