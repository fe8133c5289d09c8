// Compressed kernel modules (.ko.xz, .ko.zst, .ko.gz) inside a payload: decompressed member by
// member while the cpio stream goes by, indexed under the compressed path. Inputs are made by
// the xz, zstd and gzip commands, not by the code under test.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemberCompressor, openMemberDecoder } from '../src/lib/compress/member.ts';
import { CompressedElfScanner } from '../src/lib/elf/compressed.ts';
import { FormatError } from '../src/lib/errors.ts';
import { PayloadIdScanner, PayloadScan } from '../src/lib/index/payload-ids.ts';
import { RpmInfo } from '../src/lib/rpm/package.ts';
import { newc, NewcMember } from './helpers/cpio.ts';
import { makeElf } from './helpers/elf.ts';
import { run, tempDir } from './helpers/cli.ts';
import { FIXTURES, readTruth, ROOT } from './helpers/paths.ts';

const KINDS: { ext: string; kind: MemberCompressor; cmd: [string, ...string[]] }[] = [
  { ext: 'xz', kind: 'xz', cmd: ['xz', '-c', '-T1', '--check=crc32', '--lzma2=dict=1MiB'] },
  { ext: 'zst', kind: 'zstd', cmd: ['zstd', '-c', '-q'] },
  { ext: 'gz', kind: 'gzip', cmd: ['gzip', '-c', '-n', '-9'] },
];
const compress = (cmd: string[], data: Buffer): Buffer => execFileSync(cmd[0], cmd.slice(1), { input: data, maxBuffer: 1 << 30 });

/** A kernel-module-like ET_REL: no program headers, the section table at the end. */
function module(padAfter = 0, withId = true): { elf: Buffer; id?: string } {
  const id = withId ? randomBytes(20) : undefined;
  return { elf: makeElf({ is64: true, le: true, type: 1, phdr: false, shdr: true, id, padAfter }), id: id?.toString('hex') };
}

const INFO = { largeFiles: false, files: [] } as unknown as RpmInfo;

function scan(members: NewcMember[], step = 0): PayloadScan {
  const archive = newc(members.map((m, i) => ({ ino: i + 10, ...m })));
  const s = new PayloadIdScanner(INFO);
  const n = step || archive.length;
  for (let o = 0; o < archive.length; o += n) s.push(archive.subarray(o, o + n));
  return s.finish();
}

for (const { ext, cmd } of KINDS) {
  test(`.ko.${ext}: indexed under the compressed path with the id of the module inside, whatever the chunking`, () => {
    const m = module();
    const path = `/lib/modules/6.1.0/extra/m.ko.${ext}`;
    const packed = compress(cmd, m.elf);
    for (const step of [1, 5, 4096, 0]) {
      const r = scan([{ name: `.${path}`, data: packed }], step);
      assert.deepEqual(r.rows, [{ path, buildId: m.id, type: 'kernel-module' }], `chunks of ${step || 'all'}`);
      assert.equal(r.elfFiles, 1);
    }
  });

  test(`.ko.${ext}: a module whose section table lies 3 MiB in (past the kept head)`, () => {
    const m = module(3 << 20);
    const r = scan([{ name: `./lib/modules/6.1.0/extra/big.ko.${ext}`, data: compress(cmd, m.elf) }], 64 * 1024);
    assert.equal(r.rows[0]?.buildId, m.id);
  });

  test(`.ko.${ext}: damaged or cut short, the member gives no row and the rest of the payload is still read`, () => {
    const m = module();
    const packed = compress(cmd, Buffer.concat([m.elf, randomBytes(64 * 1024)]));
    const cut = packed.subarray(0, 40);
    const mangled = Buffer.from(packed);
    for (let i = 20; i < mangled.length - 20; i += 7) mangled[i] ^= 0x5a;
    const after = module();
    for (const bad of [cut, mangled]) {
      const r = scan([
        { name: `./lib/modules/6.1.0/extra/bad.ko.${ext}`, data: bad },
        { name: './lib/modules/6.1.0/extra/ok.ko', data: after.elf },
      ]);
      assert.deepEqual(r.rows.map((x) => x.buildId), [after.id]);
    }
  });
}

test('compressed data anywhere but a module path is not opened', () => {
  const m = module();
  const r = scan([
    { name: './usr/share/doc/m.gz', data: compress(KINDS[2].cmd, m.elf) },
    { name: './usr/lib/firmware/m.elf.xz', data: compress(KINDS[0].cmd, m.elf) },
  ]);
  assert.deepEqual(r.rows, []);
  assert.equal(r.elfFiles, 0);
});

test('a module path that holds an uncompressed ELF file (or a tiny one) is read as it is', () => {
  const m = module();
  const r = scan([
    { name: './lib/modules/6.1.0/extra/plain.ko.xz', data: m.elf },
    { name: './lib/modules/6.1.0/extra/tiny.ko.gz', data: Buffer.from([0x1f]) },
  ], 3);
  assert.deepEqual(r.rows, [{ path: '/lib/modules/6.1.0/extra/plain.ko.xz', buildId: m.id, type: 'kernel-module' }]);
});

test('a module without a build-id counts as an ELF file without one', () => {
  const r = scan([{ name: './lib/modules/6.1.0/extra/noid.ko.xz', data: compress(KINDS[0].cmd, module(0, false).elf) }]);
  assert.deepEqual(r.rows, []);
  assert.equal(r.elfFiles, 1);
  assert.equal(r.elfWithoutBuildId, 1);
});

test('a decompression bomb is read up to the limit only', () => {
  // 64 MiB of zeros after the header: the section table (and the note it points to) lies past the limit.
  const m = module(64 << 20);
  const packed = compress(KINDS[1].cmd, m.elf);
  const s = new CompressedElfScanner(packed.length, { maxDecompressed: 4 << 20 });
  let stoppedAt = -1;
  for (let o = 0; o < packed.length; o += 1024) {
    if (s.push(packed.subarray(o, o + 1024))) { stoppedAt = o; break; }
  }
  const r = s.finish();
  assert.ok(stoppedAt >= 0, 'the scanner asked for no more input');
  assert.equal(r.elf, true);
  assert.equal(r.buildId, undefined);
  const full = new CompressedElfScanner(packed.length);
  full.push(packed);
  assert.equal(full.finish().buildId, m.id, 'under the default limit the same member is read to its note');
});

test('each decoder says what is wrong with damaged data, as a FormatError', () => {
  for (const { kind, cmd } of KINDS) {
    const packed = compress(cmd, randomBytes(4096));
    const d = openMemberDecoder(kind);
    assert.throws(() => {
      d.push(packed.subarray(0, packed.length - 9), () => true);
      d.end(() => true);
    }, (e: unknown) => e instanceof FormatError && new RegExp(`^(${kind === 'gzip' ? 'gzip' : kind}) data is (cut short|damaged)`).test((e as Error).message), kind);
    d.close();
  }
});

test('decoding 256 MiB of output per member keeps memory flat (child process, peak RSS)', () => {
  const dir = execFileSync('mktemp', ['-d']).toString().trim();
  try {
    const files: Record<string, string> = {};
    for (const { ext, kind } of KINDS) {
      const f = join(dir, `z.${ext}`);
      const tool = { xz: 'xz -0 -T1', zstd: 'zstd -q -1', gzip: 'gzip -1' }[kind];
      execFileSync('sh', ['-c', `head -c 268435456 /dev/zero | ${tool} > "$1"`, 'sh', f]);
      files[kind] = f;
    }
    const script = `
      const { readFileSync } = await import('node:fs');
      const { openMemberDecoder } = await import(${JSON.stringify(join(ROOT, 'dist/lib/compress/member.js'))});
      const out = {};
      for (const [kind, f] of Object.entries(${JSON.stringify(files)})) {
        const input = readFileSync(f);
        const d = openMemberDecoder(kind);
        let total = 0;
        for (let o = 0; o < input.length; o += 65536) d.push(input.subarray(o, o + 65536), (b) => { total += b.length; return true; });
        d.end((b) => { total += b.length; return true; });
        d.close();
        out[kind] = total;
      }
      console.log(JSON.stringify({ out, maxRss: process.resourceUsage().maxRSS * 1024 }));`;
    const p = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
    const r = JSON.parse(p.stdout);
    assert.deepEqual(r.out, { xz: 256 << 20, zstd: 256 << 20, gzip: 256 << 20 });
    assert.ok(r.maxRss < 160 * 1024 * 1024, `peak RSS ${(r.maxRss / 1048576).toFixed(0)} MiB`);
  } finally {
    execFileSync('rm', ['-rf', dir]);
  }
});

test('query --elf and find take a compressed module from disk, as eu-readelf reads it', () => {
  const dir = tempDir();
  const db = join(dir, 'i.sqlite');
  const rpm = join(FIXTURES, 'df-kmodz-1.0-1.x86_64.rpm');
  assert.equal(run('darkserver', ['index', '--db', db, rpm]).code, 0);
  execFileSync('sh', ['-c', 'rpm2cpio "$1" | cpio -idm --quiet', 'sh', rpm], { cwd: dir });
  for (const ext of ['xz', 'zst', 'gz']) {
    const path = `/lib/modules/6.1.0-darkforge/extra/dfmodz-${ext}.ko.${ext}`;
    const id = readTruth(FIXTURES).find((t) => t.path === path)!.buildId!;
    const q = run('darkserver', ['query', '--db', db, '--elf', join(dir, path)]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, `${id}\tdf-kmodz-1.0-1.x86_64\t${path}\n`);
  }
});
