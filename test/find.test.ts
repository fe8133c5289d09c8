// darkserver find: from a build-id (or an ELF file) to the file itself, from disk or from
// download candidates, into the cache.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ChunkReader, CpioArchive } from '../src/lib/cpio/reader.ts';
import { scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { extractFromArchive } from '../src/lib/find/extract.ts';
import { findFile } from '../src/lib/find/finder.ts';
import { openStore } from '../src/lib/store/open.ts';
import { newc } from './helpers/cpio.ts';
import { buildsFromRpmDir, startFakeKoji } from './helpers/fake-koji.ts';
import { CORPUS, FIXTURES, HAVE_CORPUS, readTruth } from './helpers/paths.ts';
import { run, tempDir } from './helpers/cli.ts';

const truth = readTruth(FIXTURES).filter((t) => t.buildId && !t.rpm.startsWith('large'));

describe('find from a local index', () => {
  const rpms = join(tempDir(), 'rpms');
  const db = join(tempDir(), 'i.sqlite');
  const cache = tempDir();
  const env = { XDG_CACHE_HOME: cache };
  const find = (...a: string[]) => run('darkserver', ['find', ...a, '--db', db], env);
  before(() => {
    cpSync(FIXTURES, rpms, { recursive: true, filter: (s) => !s.includes('/large') });
    assert.equal(run('darkserver', ['index', '--db', db, rpms]).code, 0);
  });

  test('executable and debuginfo of every fixture build-id: the right bytes, in the cache', async () => {
    const store = await openStore(db);
    const root = join(tempDir(), 'darkforge');
    try {
      // df-seekable's ten 5 MiB executables share one xz stream: one of them stands for all.
      const sample = truth.filter((t) => !/df-big-[1-9]/.test(t.path));
      for (const id of [...new Set(sample.map((t) => t.buildId!))]) {
        const exe = truth.find((t) => t.buildId === id && !t.path.startsWith('/usr/lib/debug/'));
        const dbg = truth.find((t) => t.buildId === id && t.path.startsWith('/usr/lib/debug/'));
        for (const [kind, row] of [['executable', exe], ['debuginfo', dbg]] as const) {
          if (!row) {
            await assert.rejects(findFile(store, { kind, buildId: id }, { cacheDir: root }), new RegExp(`the index has no ${kind} file`));
            continue;
          }
          const r = await findFile(store, { kind, buildId: id }, { cacheDir: root });
          assert.equal(r.path, join(root, id, kind));
          const bytes = readFileSync(r.path);
          assert.equal(bytes.length, Number(readTruthSize(row.rpm, row.path)), `${kind} ${id}`);
          assert.equal(scanElfBuffer(bytes).buildId, id);
        }
      }
    } finally {
      await store.close();
    }
  });

  test('the command prints the cache path', () => {
    const t = truth.find((x) => x.rpm === 'df-cross-1.0-1.ppc64.rpm')!;
    const r = find('executable', t.buildId!);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${join(cache, 'darkforge', t.buildId!, 'executable')}\n`);
  });

  test('a cached file returns at once, even when its RPM is gone', () => {
    const t = truth.find((x) => x.rpm === 'df-kmod-1.0-1.x86_64.rpm')!;
    const first = JSON.parse(find('executable', t.buildId!, '--json').stdout);
    assert.equal(first.path, join(cache, 'darkforge', t.buildId!, 'executable'));
    assert.equal(first.cached, false);
    assert.equal(first.rpm, 'df-kmod-1.0-1.x86_64');
    rmSync(join(rpms, t.rpm));
    const again = JSON.parse(find('executable', t.buildId!, '--json').stdout);
    assert.equal(again.cached, true);
    assert.equal(again.path, first.path);
  });

  test('an ELF file is accepted instead of a build-id', () => {
    const t = truth.find((x) => x.rpm === 'df-debug-1.0-1.x86_64.rpm')!;
    const exe = find('executable', t.buildId!).stdout.trim();
    const r = find('debuginfo', exe);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), join(cache, 'darkforge', t.buildId!, 'debuginfo'));
  });

  test('a hard-linked path is extracted from the member that carries the data', () => {
    const t = truth.find((x) => x.path === '/usr/bin/df-multi')!;
    const r = find('executable', t.buildId!);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(r.stdout.trim()).size, 15816);
  });

  test('a compressed kernel module comes out decompressed, byte for byte what xz, zstd and gzip make of it', () => {
    const dir = tempDir();
    execFileSync('sh', ['-c', 'rpm2cpio "$1" | cpio -idm --quiet', 'sh', join(FIXTURES, 'df-kmodz-1.0-1.x86_64.rpm')], { cwd: dir });
    for (const [ext, tool] of [['xz', ['xz', '-dc']], ['zst', ['zstd', '-dcq']], ['gz', ['gzip', '-dc']]] as const) {
      const t = truth.find((x) => x.path.endsWith(`/dfmodz-${ext}.ko.${ext}`))!;
      const r = find('executable', t.buildId!, '--json');
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.rpm, 'df-kmodz-1.0-1.x86_64');
      const inside = execFileSync(tool[0], [tool[1], join(dir, t.path)]);
      assert.ok(readFileSync(out.path).equals(inside), `${t.path}: the cached file is the decompressed module`);
    }
    // The large one: its section table lies past the first MiB.
    const big = truth.find((x) => x.path.endsWith('/dfmodz-big.ko.xz'))!;
    const r = find('executable', big.buildId!);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(r.stdout.trim()).equals(execFileSync('xz', ['-dc', join(dir, big.path)], { maxBuffer: 64 << 20 })));
  });

  test('find source takes the file from the build\'s -debugsource or -debuginfo RPM', () => {
    const t = truth.find((x) => x.rpm === 'df-debug-1.0-1.x86_64.rpm')!;
    const r = find('source', t.buildId!, '/usr/src/debug/df-debug-1.0-1.x86_64/df-alpha.c');
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(r.stdout.trim(), 'utf8');
    assert.equal(text, readFileSync(new URL('./fixtures/src/df-alpha.c', import.meta.url), 'utf8'));
    assert.ok(r.stdout.trim().startsWith(join(cache, 'darkforge', t.buildId!) + '/'));
    const missing = find('source', t.buildId!, '/usr/src/debug/nope.c');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no regular file \/usr\/src\/debug\/nope\.c/);
  });

  test('unknown ids exit 1, bad input exits 2', () => {
    assert.equal(find('executable', 'deadbeefdeadbeef').code, 1);
    assert.equal(find('executable', '/no/such/file').code, 2);
    assert.equal(find('executable', new URL(import.meta.url).pathname).code, 2, 'not ELF');
    assert.equal(find('symbols', 'deadbeefdeadbeef').code, 2);
    assert.equal(find('source', 'deadbeefdeadbeef').code, 2, 'source needs a path');
    const t = truth.find((x) => x.rpm === 'df-cross-1.0-1.i686.rpm')!;
    const blocked = run('darkserver', ['find', 'executable', t.buildId!, '--db', db], { XDG_CACHE_HOME: join(rpms, 'df-debug-1.0-1.x86_64.rpm') });
    assert.equal(blocked.code, 1, 'a cache folder that cannot be made is a plain error');
    assert.match(blocked.stderr, /^darkserver find: \S+: a component of the path is not a directory\n$/);
  });
});

function readTruthSize(rpm: string, path: string): string {
  const line = readFileSync(join(FIXTURES, 'GROUND_TRUTH.tsv'), 'utf8').split('\n').find((l) => l.startsWith(`${rpm}\t${path}\t`))!;
  return line.split('\t')[6];
}

test('download candidates: a failing mirror and a failing Koji fall back to the next source', async () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm')).map((f) => join(FIXTURES, f));
  const builds = buildsFromRpmDir(files);
  const nvra = 'df-kmod-1.0-1.x86_64';
  const a = await startFakeKoji({ builds, faults: { fail_forever: [nvra] } });
  const b = await startFakeKoji({ builds });
  try {
    const home = tempDir();
    mkdirSync(join(home, 'darkforge'));
    writeFileSync(join(home, 'darkforge', 'x.conf'), [
      '[alpha]', `server = ${a.hub}`, `topurl = ${a.topurl}`, `mirrors = ${a.base}/no/mirror/{nvra}.rpm`,
      `retrace = ${b.topurl}/packages/{name}/{version}/{release}/{arch}/{nvra}.rpm`, '',
    ].join('\n'));
    const env = { XDG_CONFIG_HOME: home, XDG_CACHE_HOME: tempDir(), DARKFORGE_BACKOFF_MS: '1', DARKFORGE_RETRY_TIME: '1' };
    const db = join(tempDir(), 'i.sqlite');
    const build = builds.find((x) => x.nvr === 'df-kmod-1.0-1')!;
    await a.control({ faults: { fail_forever: [] } });
    assert.equal(run('darkserver', ['import', '--instance', 'alpha', '--db', db, String(build.id)], env).code, 0);
    await a.control({ faults: { fail_forever: [nvra] } });
    const id = truth.find((t) => t.rpm === `${nvra}.rpm` && t.path.endsWith('.ko'))!.buildId!;
    const r = run('darkserver', ['find', 'executable', id, '--db', db, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.ok(out.url.startsWith(b.topurl), out.url);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0], /\/no\/mirror\/df-kmod-1\.0-1\.x86_64\.rpm: .*HTTP 404 \(Not Found\); trying the next source$/);
    assert.match(lines[1], /\/kojifiles\/packages\/df-kmod\/.*: .*HTTP 503 \(Service Unavailable\) after \d+ attempts in [\d.]+ s; trying the next source$/);
    assert.equal(scanElfBuffer(readFileSync(out.path)).buildId, id);
    await b.control({ faults: { fail_forever: [nvra] } });
    const none = run('darkserver', ['find', 'debuginfo', id, '--db', db], env);
    assert.equal(none.code, 1, 'no debuginfo RPM in this build');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('member names with .. or a leading / cannot write outside the destination', async () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  mkdirSync(out);
  const evil = newc([
    { name: '../../escape', data: Buffer.from('evil1') },
    { name: '/tmp/abs-escape', data: Buffer.from('evil2') },
    { name: './usr/bin/wanted', data: Buffer.from('good') },
  ]);
  const archive = new CpioArchive(new ChunkReader(Readable.from([evil])[Symbol.asyncIterator]()));
  const dest = join(out, 'executable');
  const size = await extractFromArchive(archive, (e) => e.path === '/usr/bin/wanted', dest, { what: 'test' });
  assert.equal(size, 4);
  assert.equal(readFileSync(dest, 'utf8'), 'good');
  assert.deepEqual(readdirSync(out), ['executable']);
  assert.deepEqual(readdirSync(dir), ['out']);
  assert.equal(existsSync('/tmp/abs-escape'), false);
  // A match on a traversal name still lands only at the destination.
  const archive2 = new CpioArchive(new ChunkReader(Readable.from([evil])[Symbol.asyncIterator]()));
  await extractFromArchive(archive2, (e) => e.path.includes('..'), join(out, 'debuginfo'), { what: 'test' });
  assert.deepEqual(readdirSync(out).sort(), ['debuginfo', 'executable']);
  assert.equal(readFileSync(join(out, 'debuginfo'), 'utf8'), 'evil1');
});

test('a copy whose digest does not match is not left in the cache', async () => {
  const dir = tempDir();
  const archive = new CpioArchive(new ChunkReader(Readable.from([newc([{ name: './a', data: Buffer.from('abc') }])])[Symbol.asyncIterator]()));
  await assert.rejects(extractFromArchive(archive, () => true, join(dir, 'x'), { algo: 'sha256', digest: '00'.repeat(32), what: 'a' }), /does not match/);
  assert.deepEqual(readdirSync(dir), []);
});

test('every build-id of the real corpus: its executable or debuginfo file, byte-exact in size', { skip: !HAVE_CORPUS && 'no corpus beside the checkout' }, async () => {
  const db = join(tempDir(), 'c.sqlite');
  assert.equal(run('darkserver', ['index', '--db', db, CORPUS]).code, 0);
  const rows = readTruth(CORPUS).filter((t) => t.buildId);
  const sizes = new Map(readFileSync(join(CORPUS, 'GROUND_TRUTH.tsv'), 'utf8').split('\n').slice(1).map((l) => l.split('\t'))
    .map((f) => [`${f[0]}\t${f[1]}`, Number(f[6])]));
  const store = await openStore(db);
  const root = join(tempDir(), 'darkforge');
  try {
    for (const t of rows) {
      const kind = t.path.startsWith('/usr/lib/debug/') ? 'debuginfo' : 'executable';
      const r = await findFile(store, { kind, buildId: t.buildId! }, { cacheDir: root });
      const bytes = readFileSync(r.path);
      assert.equal(scanElfBuffer(bytes).buildId, t.buildId, `${t.rpm} ${t.path}`);
      // Several RPMs may hold the id (same binary in main and copies): the size must be one of theirs.
      const candidates = rows.filter((x) => x.buildId === t.buildId && x.path.startsWith('/usr/lib/debug/') === (kind === 'debuginfo'));
      assert.ok(candidates.some((x) => sizes.get(`${x.rpm}\t${x.path}`) === bytes.length), `${t.path}: ${bytes.length} bytes`);
    }
  } finally {
    await store.close();
  }
});
