// Cores as systemd keeps them (src/lib/elf/core-input.ts): /var/lib/systemd/coredump files
// compressed with zstd, xz or lz4 (also gzip, bzip2), recognised by magic and decompressed as a
// stream into a private, sparse temporary file; standard input and pipes spooled the same way;
// damaged or cut input is one sentence; the copy is gone after cleanup, after an error, and when
// the command is killed; memory stays flat.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { coreTempDir, openCoreInput, type CoreInput } from '../src/lib/elf/core-input.ts';
import { readCoreModules } from '../src/lib/elf/core.ts';
import { UserError } from '../src/lib/errors.ts';
import { run, tempDir } from './helpers/cli.ts';
import { buildCore, PF_R, PF_W, writeCore } from './helpers/core-builder.ts';
import { IS_ROOT, mountTmpfs } from './helpers/db-faults.ts';
import { ROOT } from './helpers/paths.ts';
import { CORE_FIXTURES } from './helpers/real-core.ts';

const dir = tempDir('darkforge-coreinput-');
const raw = join(dir, 'core.raw');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** systemd-coredump's naming: core.COMM.UID.BOOTID.PID.USEC[.EXT] */
const systemdName = (ext: string): string => join(dir, `core.dfprog.1000.4f3a9c2e1d7b4e0f8a6b5c4d3e2f1a0b.4242.1733400000000000${ext}`);

function tool(cmd: string, args: string[], out?: string): void {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 30, ...(out ? { stdio: ['ignore', openSync(out, 'w'), 'pipe'] } : {}) });
  assert.equal(r.error, undefined, `${cmd} is needed for this test`);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

const VARIANTS: { ext: string; kind: string; make: (to: string) => void }[] = [
  { ext: '.zst', kind: 'zstd', make: (to) => tool('zstd', ['-q', '-3', raw, '-o', to]) },
  { ext: '.xz', kind: 'xz', make: (to) => tool('xz', ['-T2', '--block-size=65536', '-c', raw], to) },
  { ext: '.lz4', kind: 'lz4', make: (to) => tool('lz4', ['-q', '-B5', '-BD', raw, to]) },
  { ext: '.gz', kind: 'gzip', make: (to) => tool('gzip', ['-c', raw], to) },
  { ext: '.bz2', kind: 'bzip2', make: (to) => tool('bzip2', ['-c', raw], to) },
];

before(() => {
  // The committed real core, decompressed by the zstd tool itself, and compressed by each tool.
  tool('zstd', ['-dq', join(CORE_FIXTURES, 'x86_64.core.zst'), '-o', raw]);
  for (const v of VARIANTS) v.make(systemdName(v.ext));
});

/** A private TMPDIR per test, to see what is left in it. */
function tmp(): string {
  const d = join(dir, `tmp-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  return d;
}

async function rejects(arg: string, opts: { tmpDir?: string }, message: RegExp, code = 2): Promise<void> {
  await assert.rejects(openCoreInput(arg, opts), (e: unknown) => {
    assert.ok(e instanceof UserError, `a UserError, not ${String(e)}`);
    assert.equal(e.exitCode, code);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

describe('compressed cores as systemd-coredump stores them, recognised by their magic', () => {
  for (const v of VARIANTS) {
    test(`${v.kind}: the same bytes in a private temporary file, removed by cleanup()`, async () => {
      const file = systemdName(v.ext);
      const where = tmp();
      const input = await openCoreInput(file, { tmpDir: where });
      try {
        assert.equal(input.compression, v.kind);
        assert.equal(input.name, file);
        assert.ok(input.temporary);
        assert.ok(input.path.startsWith(`${where}/darkforge-core-`), input.path);
        assert.equal(statSync(input.path).mode & 0o777, 0o600);
        assert.equal(statSync(join(input.path, '..')).mode & 0o777, 0o700);
        assert.equal(sha(readFileSync(input.path)), sha(readFileSync(raw)));
        assert.equal((await readCoreModules(input.path)).length, 6);
      } finally {
        await input.cleanup();
        await input.cleanup(); // twice is fine
      }
      assert.deepEqual(readdirSync(where), []);
    });
  }

  test('by magic, not by name: a zstd core without extension, a plain core named .zst', async () => {
    const bare = join(dir, 'core.4242');
    tool('zstd', ['-q', raw, '-o', bare]);
    const a = await openCoreInput(bare, { tmpDir: tmp() });
    assert.equal(a.compression, 'zstd');
    await a.cleanup();
    const plainNamedZst = join(dir, 'plain.zst');
    writeFileSync(plainNamedZst, readFileSync(raw));
    const b = await openCoreInput(plainNamedZst);
    assert.deepEqual([b.path, b.temporary, b.compression], [plainNamedZst, false, undefined]);
    await b.cleanup();
    assert.ok(existsSync(plainNamedZst), 'cleanup leaves a plain file alone');
  });

  test('the copy is sparse: runs of zero pages take no disk space', async () => {
    const big = join(dir, 'sparse.core');
    await writeCore(big, buildCore({
      is64: true, le: true, fileNote: false,
      loads: [
        { vaddr: 0x10000000n, memsz: 64n << 20n, flags: PF_R | PF_W, filesz: 64 << 20 }, // 64 MiB of zeros
        { vaddr: 0x20000000n, memsz: 0x1000n, flags: PF_R, data: Buffer.alloc(4096, 0x5a) },
      ],
    }));
    tool('zstd', ['-q', big, '-o', `${big}.zst`]);
    const input = await openCoreInput(`${big}.zst`, { tmpDir: tmp() });
    try {
      const st = statSync(input.path);
      assert.equal(st.size, statSync(big).size);
      assert.ok(st.blocks * 512 < 4 << 20, `${st.blocks * 512} bytes on disk for ${st.size}`);
      assert.equal(sha(readFileSync(input.path)), sha(readFileSync(big)));
    } finally {
      await input.cleanup();
    }
  });

  test('damaged, truncated or empty compressed cores: one sentence, exit 2, nothing left behind', async () => {
    const where = tmp();
    const whole = readFileSync(systemdName('.zst'));
    const cases: [string, Buffer, RegExp][] = [
      ['.zst', whole.subarray(0, whole.length >> 1), /: compressed core ends inside a zstd frame$|does not decompress as zstd/],
      ['.xz', readFileSync(systemdName('.xz')).subarray(0, 3000), /: compressed core does not decompress as xz \(.+\)$/],
      ['.lz4', readFileSync(systemdName('.lz4')).subarray(0, 3000), /: compressed core does not decompress as lz4 \(ends inside a block\)$/],
      ['.gz', readFileSync(systemdName('.gz')).subarray(0, 3000), /: compressed core does not decompress as gzip \(.+\)$/],
      ['.bz2', readFileSync(systemdName('.bz2')).subarray(0, 3000), /: compressed core does not decompress as bzip2 \(.+\)$/],
    ];
    const flipped = Buffer.from(readFileSync(systemdName('.lz4')));
    flipped[5] ^= 0x40; // the frame descriptor
    cases.push(['.lz4', flipped, /frame header checksum does not match|reserved bits|block size id/]);
    for (const [ext, bytes, message] of cases) {
      const f = join(dir, `bad${ext}`);
      writeFileSync(f, bytes);
      await rejects(f, { tmpDir: where }, new RegExp(`^${f.replace(/[.]/g, '\\.')}${message.source}`));
      assert.deepEqual(readdirSync(where), [], `${ext}: the temporary copy is gone`);
    }
    const text = join(dir, 'notes.txt.zst');
    writeFileSync(text, 'hello\n');
    await rejects(text, {}, /: neither zstd-compressed \(as its name says\) nor an ELF core dump$/);
    const passwd = join(dir, 'passwd.xz');
    tool('xz', ['-c', '/etc/passwd'], passwd);
    await rejects(passwd, { tmpDir: where }, /: its xz-decompressed data is not an ELF core dump$/);
    const nothing = join(dir, 'empty.zst');
    writeFileSync(join(dir, 'empty'), '');
    tool('zstd', ['-q', join(dir, 'empty'), '-o', nothing]);
    await rejects(nothing, { tmpDir: where }, /: decompresses \(zstd\) to nothing$/);
    await rejects(join(dir, 'missing.zst'), {}, /missing\.zst: no such file or directory$/);
    await rejects(dir, {}, /: not a regular file$/);
    assert.deepEqual(readdirSync(where), []);
  });

  test('decompressed data that is not a core is refused at its first bytes, not after a gigabyte', { timeout: 120_000 }, async () => {
    const zeros = join(dir, 'zeros.zst');
    const r = spawnSync('sh', ['-c', `head -c ${1 << 30} /dev/zero | zstd -q -1 -c > "${zeros}"`]);
    assert.equal(r.status, 0, String(r.stderr));
    const started = Date.now();
    await rejects(zeros, { tmpDir: tmp() }, /its zstd-decompressed data is not an ELF core dump/);
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  });

  test('a full temporary folder: one sentence naming it, exit 1, nothing left', { skip: !IS_ROOT && 'needs root (tmpfs mount)' }, async () => {
    // A core of 1 MiB that does not compress (nor has zero pages to skip), in 256 KiB.
    const noisy = join(dir, 'noisy.core');
    await writeCore(noisy, buildCore({ is64: true, le: true, fileNote: false, loads: [{ vaddr: 0x1000000n, memsz: 1n << 20n, flags: PF_R, data: randomBytes(1 << 20) }] }));
    tool('zstd', ['-q', noisy, '-o', `${noisy}.zst`]);
    const fs = mountTmpfs(256 * 1024);
    try {
      await rejects(`${noisy}.zst`, { tmpDir: fs.dir }, new RegExp(`: no space left in ${fs.dir} for the decompressed core \\(\\d+ bytes written\\); set TMPDIR to a folder with room$`), 1);
      assert.deepEqual(readdirSync(fs.dir), []);
    } finally {
      fs.unmount();
    }
  });

  test('memory stays flat decompressing a 1 GiB core (zstd and lz4)', { timeout: 300_000 }, async () => {
    const big = join(dir, 'gig.core');
    await writeCore(big, buildCore({
      is64: true, le: true, fileNote: false,
      loads: [{ vaddr: 0x10000000n, memsz: 1n << 30n, flags: PF_R | PF_W, filesz: 1 << 30 }],
    }));
    tool('zstd', ['-q', '-1', big, '-o', `${big}.zst`]);
    tool('lz4', ['-q', '-1', '-BD', big, `${big}.lz4`]);
    for (const ext of ['.zst', '.lz4']) {
      global.gc?.();
      const rss = process.memoryUsage().rss;
      let peak = 0;
      const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss - rss); }, 20);
      let input: CoreInput | undefined;
      try {
        input = await openCoreInput(`${big}${ext}`, { tmpDir: tmp() });
        assert.equal(statSync(input.path).size, statSync(big).size);
      } finally {
        clearInterval(timer);
        await input?.cleanup();
      }
      assert.ok(peak < 128 << 20, `${ext}: peak growth ${peak >> 20} MiB`);
    }
  });

  test('a pipe given as a path (--core <(coredumpctl dump PID))', async () => {
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const writer = spawn('sh', ['-c', `cat "${systemdName('.zst')}" > "${fifo}"`]);
    const input = await openCoreInput(fifo, { tmpDir: tmp() });
    try {
      assert.equal(input.compression, 'zstd');
      assert.equal(input.name, fifo);
      assert.equal(sha(readFileSync(input.path)), sha(readFileSync(raw)));
    } finally {
      await input.cleanup();
      writer.kill();
    }
  });

  test('standard input redirected from a file: a plain core is used where it is, a deleted one copied', async () => {
    const plain = join(dir, 'redirected.core');
    writeFileSync(plain, readFileSync(raw));
    let fd = openSync(plain, 'r');
    try {
      const input = await openCoreInput('-', { stdinFd: fd });
      assert.deepEqual([input.path, input.name, input.temporary], [plain, 'standard input', false]);
    } finally {
      closeSync(fd);
    }
    fd = openSync(plain, 'r');
    const where = tmp();
    try {
      rmSync(plain); // `< core` of a file removed since: only the open descriptor reaches it
      const input = await openCoreInput('-', { stdinFd: fd, tmpDir: where });
      assert.ok(input.temporary);
      assert.equal(sha(readFileSync(input.path)), sha(readFileSync(raw)));
      await input.cleanup();
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(readdirSync(where), []);
  });

  test('a command that handles SIGINT itself (a debugger on the copy) keeps the copy until cleanup()', async () => {
    const own = (): void => undefined;
    process.on('SIGINT', own);
    const input = await openCoreInput(systemdName('.zst'), { tmpDir: tmp() });
    try {
      process.emit('SIGINT', 'SIGINT');
      assert.ok(existsSync(input.path), 'still there');
    } finally {
      process.off('SIGINT', own);
      await input.cleanup();
    }
    assert.ok(!existsSync(input.path));
  });

  test('TMPDIR, else /var/tmp, as coredumpctl', () => {
    const saved = { TMPDIR: process.env.TMPDIR, TEMP: process.env.TEMP, TMP: process.env.TMP };
    try {
      process.env.TMPDIR = '/some/where'; assert.equal(coreTempDir(), '/some/where');
      delete process.env.TMPDIR; process.env.TEMP = '/else/where'; assert.equal(coreTempDir(), '/else/where');
      delete process.env.TEMP; delete process.env.TMP; assert.equal(coreTempDir(), '/var/tmp');
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Through the command: standard input

describe('darkserver query --core - (coredumpctl dump PID | darkserver query --core -)', () => {
  const db = join(dir, 'index.sqlite');
  const env = (where: string): NodeJS.ProcessEnv => ({ TMPDIR: where, DARKFORGE_DB: db });
  before(() => {
    assert.equal(run('darkserver', ['index', '--db', db, join(ROOT, 'test', 'fixtures', 'rpms')]).code, 0);
  });

  test('a plain, a zstd and an lz4 core on a pipe, and a core file redirected: the modules of the core', () => {
    const want = run('darkserver', ['query', '--core', raw], env(tmp()));
    assert.equal(want.code, 1);
    assert.equal(want.stdout.trim().split('\n').length, 6);
    for (const input of [readFileSync(raw), readFileSync(systemdName('.zst')), readFileSync(systemdName('.lz4'))]) {
      const where = tmp();
      const r = run('darkserver', ['query', '--core', '-'], env(where), { input });
      assert.equal(r.stdout, want.stdout);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^darkserver query: standard input: 6 of 6 modules not found in the index/);
      assert.deepEqual(readdirSync(where), [], 'the spooled copy is gone');
    }
    const fd = openSync(systemdName('.xz'), 'r');
    try {
      const r = run('darkserver', ['query', '--core', '-'], env(tmp()), { stdinFd: fd });
      assert.equal(r.stdout, want.stdout);
    } finally {
      closeSync(fd);
    }
  });

  test('nothing, not a core, or a cut core on standard input: one sentence, exit 2', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(0), /^darkserver query: standard input: empty, not a core dump\n$/],
      [Buffer.from('hello\n'), /^darkserver query: standard input: not an ELF core dump, nor zstd-, xz- or lz4-compressed\n$/],
      [readFileSync(systemdName('.lz4')).subarray(0, 5000), /^darkserver query: standard input: compressed core does not decompress as lz4 \(ends inside a block\)\n$/],
    ];
    for (const [input, message] of cases) {
      const where = tmp();
      const r = run('darkserver', ['query', '--core', '-'], env(where), { input });
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.deepEqual(readdirSync(where), []);
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    test(`killed by ${signal} while the core is spooled: the temporary copy is removed`, { timeout: 60_000 }, async () => {
      const where = tmp();
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), 'query', '--core', '-'], {
        env: { ...process.env, ...env(where) }, stdio: ['pipe', 'pipe', 'pipe'],
      });
      child.stdin.on('error', () => undefined);
      child.stdin.write(readFileSync(raw).subarray(0, 200_000)); // part of a core; the pipe stays open
      const deadline = Date.now() + 30_000;
      while (!readdirSync(where).length) {
        if (Date.now() > deadline) assert.fail('no temporary copy appeared');
        await new Promise((r) => setTimeout(r, 50));
      }
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, sig) => r({ code, signal: sig })));
      child.kill(signal);
      const how = await exited;
      assert.equal(how.signal, signal, `ended by the signal (${JSON.stringify(how)})`);
      assert.deepEqual(readdirSync(where), [], 'nothing left in TMPDIR');
    });
  }
});
