// From a crash to the package: query --elf on a binary and query --core on a real core dump of
// a program taken from a fixture RPM (extracted with darkserver find, run, dumped by gcore).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { FIXTURES, readTruth } from './helpers/paths.ts';
import { run, tempDir } from './helpers/cli.ts';
import { BACKENDS, freshDb } from './helpers/backends.ts';

const truth = readTruth(FIXTURES);
const alpha = truth.find((t) => t.rpm === 'df-debug-1.0-1.x86_64.rpm' && t.path === '/usr/bin/df-alpha')!;

for (const backend of BACKENDS) {
  describe(`query --elf and --core, ${backend}`, () => {
    let db = '';
    const cache = tempDir();
    const work = tempDir();
    const ds = (...a: string[]) => run('darkserver', [...a, '--db', db], { XDG_CACHE_HOME: cache });
    let exe = '';

    before(async () => {
      db = await freshDb(backend);
      assert.equal(ds('index', FIXTURES).code, 0);
      exe = join(work, 'df-alpha');
      copyFileSync(ds('find', 'executable', alpha.buildId!).stdout.trim(), exe);
      chmodSync(exe, 0o755);
    });

    test('--elf answers for the build-id read from the file', () => {
      const byElf = ds('query', '--elf', exe);
      assert.equal(byElf.code, 0, byElf.stderr);
      assert.equal(byElf.stdout, ds('query', alpha.buildId!).stdout);
      assert.ok(byElf.stdout.includes(`${alpha.buildId}\tdf-debug-1.0-1.x86_64\t/usr/bin/df-alpha\n`));
    });

    test('--elf: a non-ELF file or an ELF without build-id is an input error', () => {
      const text = join(work, 'notes.txt');
      writeFileSync(text, 'not elf\n'.repeat(10));
      const r = ds('query', '--elf', text);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `darkserver query: ${text}: not an ELF file\n`);
      const src = join(work, 'noid.c');
      writeFileSync(src, 'int main(void) { return 0; }\n');
      const bin = join(work, 'noid');
      assert.equal(spawnSync('gcc', ['-Wl,--build-id=none', '-o', bin, src]).status, 0);
      const noid = ds('query', '--elf', bin);
      assert.equal(noid.code, 2);
      assert.match(noid.stderr, /ELF file without a GNU build-id note/);
    });

    test('--core lists every module, answering the packaged ones from the index', () => {
      const core = join(work, 'core');
      // Stop the program as it exits and dump it, as abrt or systemd-coredump would have.
      const g = spawnSync('gdb', ['-nx', '-batch', '-ex', 'catch syscall exit_group', '-ex', 'run', '-ex', `gcore ${core}`, '-ex', 'kill', '--args', exe],
        { encoding: 'utf8', timeout: 120_000 });
      assert.equal(g.error, undefined, 'gdb is needed to make the core dump');
      const r = ds('query', '--core', core);
      const lines = r.stdout.trim().split('\n').map((l) => l.split('\t'));
      const mine = lines.filter((l) => l[3] === exe);
      assert.deepEqual(mine.map((l) => l.slice(0, 3)), truth.filter((t) => t.buildId === alpha.buildId)
        .map((t) => [alpha.buildId, t.rpm.replace(/\.rpm$/, ''), t.path]).sort((a, b) => (a[1] + a[2] < b[1] + b[2] ? -1 : 1)));
      const libc = lines.find((l) => /\/libc\.so\.6$/.test(l[3]))!;
      assert.ok(libc, r.stdout);
      assert.match(libc[0], /^[0-9a-f]{40}$/);
      assert.deepEqual(libc.slice(1, 3), ['-', '-']);
      assert.equal(r.code, 1, 'system libraries are not in this index');
      assert.match(r.stderr, /^darkserver query: .*core: \d+ of \d+ modules not found in the index \(.*libc\.so\.6.*\)\n$/);

      const json = JSON.parse(ds('query', '--core', core, '--json').stdout);
      const m = json.find((x: { module: string }) => x.module === exe);
      assert.equal(m.found, true);
      assert.equal(m.buildid, alpha.buildId);
      assert.match(m.start, /^0x[0-9a-f]+$/);
      assert.ok(json.some((x: { found: boolean }) => !x.found));
    });

    test('--core on something that is not a core dump exits 2', () => {
      const r = ds('query', '--core', exe);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /not a core dump/);
    });
  });
}
