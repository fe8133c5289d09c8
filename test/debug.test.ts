// darkserver debug CORE [EXE]: a crash to a gdb backtrace with sources, from the index alone. The
// core is made at test time by running the packaged crash fixture; the program's own files are
// then removed, so what gdb shows can only come from the files debug fetched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { run, tempDir } from './helpers/cli.ts';
import { CRASH_RPMS, CRASH_SRC, crashCore, extractRpm, frames, lineOf, SOURCES, type CrashFiles } from './helpers/crash.ts';
import { buildsFromRpmDir, rpmPath, startFakeKoji } from './helpers/fake-koji.ts';
import { startServe } from './helpers/serve.ts';

const crashRpms = readdirSync(CRASH_RPMS).filter((f) => f.endsWith('.rpm')).map((f) => join(CRASH_RPMS, f));
const GDB_COMMANDS = ['--ex', 'bt', '--ex', 'frame 1', '--ex', 'list'];

function expectCrashFrames(out: string): string[] {
  const bt = frames(out);
  assert.ok(bt.length >= 3, `no symbolic backtrace:\n${out}`);
  assert.match(bt[0], /^dfcrash_value dfcrash-lib\.c:\d+$/);
  assert.equal(bt[1], `dfcrash_walk dfcrash-walk.c:${lineOf('dfcrash-walk.c', 'total += dfcrash_value(n);')}`);
  assert.equal(bt[2], `main dfcrash-main.c:${lineOf('dfcrash-main.c', 'long total = dfcrash_walk(list);')}`);
  return bt;
}

describe('darkserver debug', () => {
  let db: string;
  let crash: CrashFiles;
  let serverFrames: string[];
  before(async () => {
    db = join(tempDir('df-debug-db-'), 'index.sqlite');
    assert.equal(run('darkserver', ['index', '--db', db, CRASH_RPMS]).code, 0);
    crash = crashCore(tempDir('df-debug-core-'));
    // The reference: gdb on the program's own (stripped) files, symbols through darkserver serve.
    const srv = await startServe(['--db', db, '--cache-dir', tempDir()]);
    try {
      const g = spawnSync('gdb', ['-nx', '-batch', '-iex', 'set debuginfod enabled on', '-ex', 'bt', crash.exe, crash.core], {
        encoding: 'utf8', timeout: 120_000, env: { ...process.env, DEBUGINFOD_URLS: srv.url, DEBUGINFOD_CACHE_PATH: tempDir(), DEBUGINFOD_PROGRESS: '' },
      });
      serverFrames = expectCrashFrames(g.stdout);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
    // From here on the program's files are gone: only what debug fetches can explain the frames.
    renameSync(crash.root, `${crash.root}.gone`);
  });

  test('the same backtrace as gdb through the server, with sources, and no server', () => {
    const cache = tempDir('df-debug-cache-');
    const r = run('darkserver', ['debug', '--db', db, '--cache-dir', cache, crash.core, '--batch', ...GDB_COMMANDS], { DEBUGINFOD_URLS: '' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(expectCrashFrames(r.stdout).slice(0, 3), serverFrames.slice(0, 3));
    assert.match(r.stdout, /\d+\s+for \(struct dfcrash_node \*n = list; ; n = n->next\) \{/, 'the source, from the -debugsource RPM');
    // libc and the dynamic linker are not in the index: named, and taken from this machine.
    assert.match(r.stderr, /^darkserver debug: \S*libc\.so\.6 \([0-9a-f]+\): not in the index; this machine's copy has the same build-id and is used$/m);
    assert.doesNotMatch(r.stderr, /dfcrash.*not in the index/);
  });

  test('a core as coredumpctl hands it over: zstd-compressed, on standard input', () => {
    const zst = spawnSync('zstd', ['-q', '-c', crash.core], { maxBuffer: 256 << 20 });
    assert.equal(zst.status, 0, String(zst.stderr));
    const r = run('darkserver', ['debug', '--db', db, '--cache-dir', tempDir('df-debug-cache-'), '-', '--batch', ...GDB_COMMANDS],
      { DEBUGINFOD_URLS: '', TMPDIR: tempDir('df-debug-tmp-') }, { input: zst.stdout });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(expectCrashFrames(r.stdout).slice(0, 3), serverFrames.slice(0, 3));
  });

  test('--print: the gdb command line, and the .build-id tree it points at', () => {
    const cache = tempDir('df-debug-cache-');
    const r = run('darkserver', ['debug', '--db', db, '--cache-dir', cache, crash.core, '--print']);
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.trim();
    assert.equal(line.split('\n').length, 1);
    const m = /set debug-file-directory (\S+?):\/usr\/lib\/debug/.exec(line);
    assert.ok(m, line);
    const tree = m[1];
    assert.ok(line.startsWith('gdb -q '));
    assert.ok(line.endsWith(` ${crash.core}`));
    assert.match(line, new RegExp(`'set sysroot ${tree}/root'`));
    assert.match(line, new RegExp(` ${tree}/root${crash.exe} `), 'the executable, from the index, at its path in the core');
    const ref = tempDir();
    for (const f of crashRpms) extractRpm(f, ref);
    for (const id of [crash.exeId, crash.libId]) {
      const dbg = join(tree, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
      assert.equal(readlinkSync(dbg), join(cache, id, 'debuginfo'));
      assert.ok(readFileSync(dbg).equals(readFileSync(join(ref, 'usr/lib/debug/.build-id', id.slice(0, 2), `${id.slice(2)}.debug`))));
    }
    assert.ok(readFileSync(join(tree, 'root', crash.lib)).equals(readFileSync(join(ref, 'usr/lib64/libdfcrash.so.1'))));
    for (const s of SOURCES) assert.equal(readFileSync(join(tree, 'root', s), 'utf8'), readFileSync(join(CRASH_SRC, s.split('/').pop()!), 'utf8'));
    assert.ok(realpathSync(join(tree, 'root', crash.exe)).startsWith(realpathSync(cache)));
    // --json: the same argument list, and where each module came from.
    const j = run('darkserver', ['debug', '--db', db, '--cache-dir', cache, crash.core, '--print', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const out = JSON.parse(j.stdout) as { gdb: string; args: string[]; tree: string; modules: { path: string; from: string; buildid: string | null }[] };
    assert.equal(out.tree, tree);
    assert.equal(out.args[out.args.length - 1], crash.core);
    const from = new Map(out.modules.map((m) => [m.path, m.from]));
    assert.equal(from.get(crash.exe), 'index');
    assert.equal(from.get(crash.lib), 'index');
    assert.equal(from.get('[vdso]'), 'vdso');
    assert.ok([...from.entries()].some(([p, f]) => /libc\.so\.6$/.test(p) && f === 'host'));
  });

  test('modules the index does not know are named on stderr; gdb still runs', () => {
    const empty = join(tempDir(), 'empty.sqlite');
    assert.equal(run('darkserver', ['index', '--db', empty, tempDir()]).code, 0);
    const r = run('darkserver', ['debug', '--db', empty, '--cache-dir', tempDir(), crash.core, '--batch']);
    assert.equal(r.code, 0, r.stderr);
    for (const [path, id] of [[crash.exe, crash.exeId], [crash.lib, crash.libId]]) {
      assert.ok(r.stderr.includes(`darkserver debug: ${path} (${id}): not in the index, and this machine has no file of that build-id: gdb will have no symbols for it\n`), r.stderr);
    }
    assert.match(r.stderr, /none of its modules is in the index/);
    assert.equal(frames(r.stdout).filter((f) => f.startsWith('dfcrash_')).length, 0, 'no symbols without the index');
  });

  test('from a Koji import: each RPM downloaded once', async () => {
    const builds = buildsFromRpmDir(crashRpms, { firstId: 9100 });
    const k = await startFakeKoji({ builds });
    try {
      const kdb = join(tempDir(), 'koji.sqlite');
      const imp = run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', kdb, String(builds[0].id)], { DARKFORGE_BACKOFF_MS: '5' });
      assert.equal(imp.code, 0, imp.stderr);
      const mark = k.requests().length;
      const r = run('darkserver', ['debug', '--db', kdb, '--cache-dir', tempDir(), crash.core, '--batch', '--ex', 'bt']);
      assert.equal(r.code, 0, r.stderr);
      expectCrashFrames(r.stdout);
      const gets = k.requests().slice(mark).filter((l) => l.method === 'GET');
      for (const rpm of builds[0].rpms) {
        assert.equal(gets.filter((l) => l.path === `/kojifiles/${rpmPath(builds[0], rpm)}`).length, 1, `${rpm.name}: one download`);
      }
      assert.equal(gets.length, builds[0].rpms.length);
    } finally {
      await k.stop();
    }
  });

  test('bad input: one sentence, exit 2; a missing gdb: exit 1', () => {
    const notCore = join(tempDir(), 'notcore');
    writeFileSync(notCore, 'hello');
    const cases: [string[], number, RegExp][] = [
      [['debug', '--db', db, notCore], 2, /notcore: not an ELF file/],
      [['debug', '--db', db, join(tempDir(), 'nope')], 2, /nope: no such file or directory/],
      [['debug', '--db', db, crash.exe + '.gone', '--print'], 2, /no such file/],
      [['debug', '--db', db, crash.core, join(tempDir(), 'no-exe')], 2, /no-exe: no such file or directory/],
      [['debug', '--db', db, crash.core, '--gdb', '/nonexistent/gdb', '--batch'], 1, /\/nonexistent\/gdb: not found; install gdb/],
    ];
    for (const [args, code, re] of cases) {
      const r = run('darkserver', args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    rmSync(notCore);
  });
});
