// Modules and build-ids of ELF core dumps: a real core of a small program (gdb's gcore, or the
// kernel's when ptrace is not allowed), synthetic cores built byte by byte, and the errors.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { readCoreModules, type CoreModule } from '../src/lib/elf/core.ts';
import { UserError } from '../src/lib/errors.ts';
import {
  AT_PAGESZ, AT_SYSINFO_EHDR, buildCore, coreBuffer, modulePage, PF_R, PF_W, PF_X, writeCore, type CoreSpec,
} from './helpers/core-builder.ts';
import { makeElf } from './helpers/elf.ts';
import { buildProgram, compareWithEu, diskBuildId, euUnstrip, gcore, have, kernelCore } from './helpers/real-core.ts';

function scratch(t: TestContext): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'df-core-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// A real core

test('a real core: the program, its library, libc and the vDSO with the build-ids of the files on disk', { timeout: 240_000 }, async (t) => {
  const p = buildProgram(scratch(t));
  let dump: { core?: string; why?: string } = process.env.DF_CORE_TEST_KERNEL ? {} : await gcore(p);
  if (!dump.core) {
    const viaGdb = dump.why;
    dump = kernelCore(p);
    if (!dump.core) assert.fail(`cannot make a core dump to test with: ${viaGdb ?? 'gdb skipped'}; and ${dump.why}`);
    t.diagnostic(`core written by the kernel (${viaGdb ?? 'DF_CORE_TEST_KERNEL set'})`);
  }
  const core = dump.core!;
  const mods = await readCoreModules(core);
  const listing = mods.map((m) => `${m.start}-${m.end} ${m.buildId ?? '-'} ${m.path}`).join('\n');

  const byPath = new Map(mods.map((m) => [m.path, m]));
  for (const f of [p.exe, p.lib]) {
    const m = byPath.get(f);
    assert.ok(m, `${f} is not among the modules:\n${listing}`);
    assert.equal(m.buildId, diskBuildId(f), `build-id of ${f}`);
  }
  const libc = mods.find((m) => /^libc(\.so\.\d+|-[\d.]+\.so)$/.test(basename(m.path)));
  assert.ok(libc, `no libc among the modules:\n${listing}`);
  assert.equal(libc.buildId, diskBuildId(libc.path), `build-id of ${libc.path}`);
  assert.ok(byPath.has('[vdso]'), `no [vdso] module:\n${listing}`);
  assert.ok(!byPath.has(p.data), 'a mapped data file is not a module');
  for (const [i, m] of mods.entries()) {
    assert.match(m.start, /^0x[0-9a-f]+$/);
    assert.ok(BigInt(m.start) < BigInt(m.end), `${m.path}: start below end`);
    if (i) assert.ok(BigInt(mods[i - 1].start) <= BigInt(m.start), 'ordered by start');
  }

  if (!have('eu-unstrip')) {
    t.diagnostic('eu-unstrip (elfutils) is not installed: whole-list comparison skipped');
    return;
  }
  const eu = euUnstrip(core);
  const euListing = eu.map((m) => `${m.start} ${m.buildId ?? '-'} ${m.file} ${m.name}`).join('\n');
  assert.deepEqual(compareWithEu(mods, eu), [], `ours:\n${listing}\neu-unstrip -n --core:\n${euListing}`);
});

// ---------------------------------------------------------------------------------------------
// Synthetic cores

const page = (fill: number, size = 4096): Buffer => Buffer.alloc(size, fill);
const hex = (v: bigint): string => `0x${v.toString(16)}`;

function core64(ids: { exe: Buffer; lib: Buffer; vdso: Buffer; high: Buffer }): CoreSpec {
  const m = (id: Buffer, noteAlign: 4 | 8 = 4): Buffer => modulePage({ is64: true, le: true, id, noteAlign });
  return {
    is64: true, le: true,
    files: [
      { path: '/usr/bin/demo', start: 0x555555554000n, end: 0x555555555000n, pgoff: 0n },
      { path: '/usr/bin/demo', start: 0x555555555000n, end: 0x555555557000n, pgoff: 1n },
      // A mapping of a later part of the file below its first page: the start is still the first page.
      { path: '/usr/lib64/libfoo.so.1', start: 0x7f0000000000n, end: 0x7f0000001000n, pgoff: 5n },
      { path: '/usr/lib64/libfoo.so.1', start: 0x7f0000100000n, end: 0x7f0000101000n, pgoff: 0n },
      { path: '/usr/lib64/libfoo.so.1', start: 0x7f0000101000n, end: 0x7f0000103000n, pgoff: 1n },
      { path: '/usr/lib64/libnodump.so', start: 0x7f0000200000n, end: 0x7f0000201000n, pgoff: 0n },
      { path: '/usr/lib64/libnodump.so', start: 0x7f0000201000n, end: 0x7f0000203000n, pgoff: 1n },
      { path: '/usr/lib/locale/locale-archive', start: 0x7f0000300000n, end: 0x7f0000400000n, pgoff: 0n },
      { path: '/var/cache/data.bin', start: 0x7f0000500000n, end: 0x7f0000501000n, pgoff: 0n },
      { path: '/opt/high/libhigh.so', start: 0xfffffff000000000n, end: 0xfffffff000002000n, pgoff: 0n },
    ],
    auxv: [[AT_PAGESZ, 4096n], [AT_SYSINFO_EHDR, 0x7ffff7fc1000n]],
    loads: [
      { vaddr: 0x555555554000n, memsz: 0x1000n, data: m(ids.exe) },
      { vaddr: 0x555555555000n, memsz: 0x2000n, flags: PF_R | PF_X },
      { vaddr: 0x555555560000n, memsz: 0x1000n, flags: PF_R | PF_W, data: page(0x41) }, // heap
      { vaddr: 0x7f0000000000n, memsz: 0x1000n },
      { vaddr: 0x7f0000100000n, memsz: 0x1000n, data: m(ids.lib, 8) },
      { vaddr: 0x7f0000101000n, memsz: 0x2000n, flags: PF_R | PF_X },
      { vaddr: 0x7f0000200000n, memsz: 0x1000n },
      { vaddr: 0x7f0000201000n, memsz: 0x2000n, flags: PF_R | PF_X },
      { vaddr: 0x7f0000300000n, memsz: 0x100000n },
      { vaddr: 0x7f0000500000n, memsz: 0x1000n, data: page(0x7f) }, // starts 7f 7f 7f 7f: not ELF
      { vaddr: 0x7ffff7fc1000n, memsz: 0x2000n, flags: PF_R | PF_X, data: Buffer.concat([m(ids.vdso), page(0x90)]) },
      { vaddr: 0x7ffffffde000n, memsz: 0x21000n, flags: PF_R | PF_W, data: page(0, 0x21000) }, // stack
      { vaddr: 0xfffffff000000000n, memsz: 0x2000n, flags: PF_R | PF_X, data: Buffer.concat([m(ids.high, 8), page(0x90)]) },
    ],
  };
}

test('synthetic ELF64 little-endian core: modules, starts, ends and planted build-ids', async (t) => {
  const ids = { exe: randomBytes(20), lib: randomBytes(20), vdso: randomBytes(16), high: randomBytes(20) };
  const file = join(scratch(t), 'core64');
  writeFileSync(file, coreBuffer(core64(ids)));
  assert.deepEqual(await readCoreModules(file), [
    { path: '/usr/bin/demo', start: '0x555555554000', end: '0x555555557000', buildId: ids.exe.toString('hex') },
    { path: '/usr/lib64/libfoo.so.1', start: '0x7f0000100000', end: '0x7f0000103000', buildId: ids.lib.toString('hex') },
    { path: '/usr/lib64/libnodump.so', start: '0x7f0000200000', end: '0x7f0000203000' },
    { path: '[vdso]', start: '0x7ffff7fc1000', end: '0x7ffff7fc3000', buildId: ids.vdso.toString('hex') },
    { path: '/opt/high/libhigh.so', start: '0xfffffff000000000', end: '0xfffffff000002000', buildId: ids.high.toString('hex') },
  ] satisfies CoreModule[]);
});

test('synthetic ELF32 big-endian core: modules, starts, ends and planted build-ids', async (t) => {
  const ids = { exe: randomBytes(20), libc: randomBytes(20), vdso: randomBytes(20) };
  const m = (id: Buffer): Buffer => modulePage({ is64: false, le: false, id });
  const file = join(scratch(t), 'core32');
  writeFileSync(file, coreBuffer({
    is64: false, le: false,
    files: [
      { path: '/bin/demo32', start: 0x10000000n, end: 0x10001000n, pgoff: 0n },
      { path: '/bin/demo32', start: 0x10001000n, end: 0x10003000n, pgoff: 1n },
      { path: '/lib/libc.so.6', start: 0x0f000000n, end: 0x0f001000n, pgoff: 0n },
      { path: '/lib/libc.so.6', start: 0x0f001000n, end: 0x0f100000n, pgoff: 1n },
      { path: '/lib/libgone.so', start: 0x0e000000n, end: 0x0e004000n, pgoff: 0n },
    ],
    auxv: [[AT_PAGESZ, 4096n], [AT_SYSINFO_EHDR, 0x00100000n]],
    loads: [
      { vaddr: 0x00100000n, memsz: 0x1000n, flags: PF_R | PF_X, data: m(ids.vdso) },
      { vaddr: 0x0e000000n, memsz: 0x4000n, flags: PF_R | PF_X }, // first page not dumped
      { vaddr: 0x0f000000n, memsz: 0x1000n, data: m(ids.libc) },
      { vaddr: 0x0f001000n, memsz: 0xff000n, flags: PF_R | PF_X },
      { vaddr: 0x10000000n, memsz: 0x1000n, data: m(ids.exe) },
      { vaddr: 0x10001000n, memsz: 0x2000n, flags: PF_R | PF_X },
      { vaddr: 0x7ffe0000n, memsz: 0x2000n, flags: PF_R | PF_W, data: page(0, 0x2000) },
    ],
  }));
  assert.deepEqual(await readCoreModules(file), [
    { path: '[vdso]', start: '0x100000', end: '0x101000', buildId: ids.vdso.toString('hex') },
    { path: '/lib/libgone.so', start: '0xe000000', end: '0xe004000' },
    { path: '/lib/libc.so.6', start: '0xf000000', end: '0xf100000', buildId: ids.libc.toString('hex') },
    { path: '/bin/demo32', start: '0x10000000', end: '0x10003000', buildId: ids.exe.toString('hex') },
  ] satisfies CoreModule[]);
});

test('a vDSO already listed in NT_FILE is not listed twice; no NT_AUXV means no vDSO', async (t) => {
  const id = randomBytes(20);
  const dir = scratch(t);
  const spec: CoreSpec = {
    is64: true, le: false,
    files: [{ path: '/lib/vdso.so', start: 0x7000n, end: 0x8000n }],
    auxv: [[AT_SYSINFO_EHDR, 0x7000n]],
    loads: [{ vaddr: 0x7000n, memsz: 0x1000n, flags: PF_R | PF_X, data: modulePage({ is64: true, le: false, id }) }],
  };
  writeFileSync(join(dir, 'a'), coreBuffer(spec));
  writeFileSync(join(dir, 'b'), coreBuffer({ ...spec, files: [], auxv: undefined }));
  assert.deepEqual(await readCoreModules(join(dir, 'a')), [{ path: '/lib/vdso.so', start: '0x7000', end: '0x8000', buildId: id.toString('hex') }]);
  assert.deepEqual(await readCoreModules(join(dir, 'b')), []);
});

test('more than 65534 program headers: the count is read from section 0 (PN_XNUM)', async (t) => {
  const ids = { exe: randomBytes(20), lib: randomBytes(20), vdso: randomBytes(16), high: randomBytes(20) };
  const spec = core64(ids);
  const whole = coreBuffer(spec);
  const shdr = Buffer.alloc(64);
  shdr.writeUInt32LE(1 + spec.loads.length, 44); // sh_info: the real e_phnum
  const xnum = Buffer.concat([whole, shdr]);
  xnum.writeBigUInt64LE(BigInt(whole.length), 40); // e_shoff
  xnum.writeUInt16LE(0xffff, 56); // e_phnum = PN_XNUM
  xnum.writeUInt16LE(1, 60); // e_shnum
  const file = join(scratch(t), 'xnum.core');
  writeFileSync(file, xnum);
  const mods = await readCoreModules(file);
  assert.deepEqual(mods.map((m) => m.buildId), [ids.exe, ids.lib, undefined, ids.vdso, ids.high].map((b) => b?.toString('hex')));
  xnum.writeBigUInt64LE(0n, 40);
  writeFileSync(file, xnum);
  await rejects(file, /e_phnum is PN_XNUM but section header 0 is missing/);
});

test('a sparse 8 GiB core: only the needed bytes are read', async (t) => {
  const id = randomBytes(20);
  const file = join(scratch(t), 'big.core');
  const big = 8 * 2 ** 30;
  const built = buildCore({
    is64: true, le: true,
    files: [{ path: '/usr/bin/big', start: 0x400000n, end: 0x401000n }],
    loads: [
      { vaddr: 0x1000000000n, memsz: BigInt(big), flags: PF_R | PF_W, filesz: big }, // a huge heap, all holes
      { vaddr: 0x400000n, memsz: 0x1000n, data: modulePage({ is64: true, le: true, id }) },
    ],
  });
  assert.ok(built.size > big);
  await writeCore(file, built);
  const rss = process.memoryUsage().rss;
  assert.deepEqual(await readCoreModules(file), [{ path: '/usr/bin/big', start: '0x400000', end: '0x401000', buildId: id.toString('hex') }]);
  assert.ok(process.memoryUsage().rss - rss < 64 * 2 ** 20, 'memory stays small');
});

test('a core cut short inside its memory segments still lists its modules, without the ids it lost', async (t) => {
  const ids = { exe: randomBytes(20), lib: randomBytes(20), vdso: randomBytes(16), high: randomBytes(20) };
  const built = buildCore(core64(ids));
  const whole = coreBuffer(built);
  const libPage = built.pieces.find((p) => p.data.includes(ids.lib))!;
  const file = join(scratch(t), 'cut.core');
  writeFileSync(file, whole.subarray(0, libPage.offset + 100)); // the lib's note lies past the cut
  const mods = await readCoreModules(file);
  assert.deepEqual(mods.map((m) => [m.path, m.buildId]), [
    ['/usr/bin/demo', ids.exe.toString('hex')],
    ['/usr/lib64/libfoo.so.1', undefined],
    ['/usr/lib64/libnodump.so', undefined],
    ['[vdso]', undefined],
    ['/opt/high/libhigh.so', undefined],
  ]);
});

// ---------------------------------------------------------------------------------------------
// Errors

async function rejects(file: string, message: RegExp): Promise<void> {
  await assert.rejects(readCoreModules(file), (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.ok(e.message.startsWith(`${file}: `), `message names the file: ${e.message}`);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('not a core: text, empty, executable, shared object, relocatable, a folder, a missing file', async (t) => {
  const dir = scratch(t);
  const put = (name: string, data: Buffer): string => { writeFileSync(join(dir, name), data); return join(dir, name); };
  await rejects(put('notes.txt', Buffer.from('this is a text file\n'.repeat(10))), /: not an ELF file$/);
  await rejects(put('empty', Buffer.alloc(0)), /: empty file, not an ELF core dump$/);
  await rejects(put('exe', makeElf({ is64: true, le: true, type: 2 })), /: an ELF executable file, not a core dump$/);
  await rejects(put('lib.so', makeElf({ is64: false, le: false, type: 3 })), /: an ELF shared object file, not a core dump$/);
  await rejects(put('obj.o', makeElf({ is64: true, le: false, type: 1 })), /: an ELF relocatable file, not a core dump$/);
  if (existsSync('/bin/true')) await rejects('/bin/true', /: an ELF (executable|shared object) file, not a core dump$/);
  mkdirSync(join(dir, 'folder'));
  await rejects(join(dir, 'folder'), /not a regular file/);
  await rejects(join(dir, 'missing'), /no such file or directory/);
});

test('truncated and damaged cores', async (t) => {
  const dir = scratch(t);
  const ids = { exe: randomBytes(20), lib: randomBytes(20), vdso: randomBytes(16), high: randomBytes(20) };
  const built = buildCore(core64(ids));
  const whole = coreBuffer(built);
  const put = (name: string, data: Buffer): string => { writeFileSync(join(dir, name), data); return join(dir, name); };

  await rejects(put('head', whole.subarray(0, 30)), /truncated ELF header/);
  const badClass = Buffer.from(whole); badClass[4] = 9;
  await rejects(put('class', badClass), /damaged ELF header/);
  await rejects(put('phdrs', whole.subarray(0, built.phoff + 100)), /truncated core dump: the program header table ends at byte \d+, the file has \d+/);
  await rejects(put('notes', whole.subarray(0, built.noteOffset + Math.floor(built.noteSize / 2))), /truncated core dump: the note segment ends/);
  const noPhdrs = Buffer.from(whole); noPhdrs.writeUInt16LE(0, 56);
  await rejects(put('nophdrs', noPhdrs), /no program headers/);
  const smallEnt = Buffer.from(whole); smallEnt.writeUInt16LE(20, 54);
  await rejects(put('phentsize', smallEnt), /program header entries of 20 bytes/);
  const badCount = coreBuffer({ ...core64(ids), fileCount: 1n << 40n });
  await rejects(put('ntfile', badCount), /damaged NT_FILE note \(1099511627776 mappings do not fit/);
  const hugeNote = Buffer.from(whole); hugeNote.writeBigUInt64LE(1n << 40n, built.phoff + 32); // PT_NOTE p_filesz
  await rejects(put('hugenote', hugeNote), /note segment|larger than/);
});
