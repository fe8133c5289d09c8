// Cores without an NT_FILE note (Linux before 3.7, other dumpers): the modules come from the
// auxiliary vector, the dynamic linker's list (r_debug through DT_DEBUG, link_map) and ELF headers
// at the start of dumped segments, as eu-unstrip finds them. Real cores made here and committed
// (x86_64 and i386, written by the kernel, their NT_FILE note removed), checked against
// `eu-unstrip -n --core` and against the same core read with its NT_FILE; process images of every
// class and byte order laid out by test/helpers/process-core.ts (real ppc64, aarch64, armhf, i686
// files; generated s390, s390x, ppc, sparc64, m68k, riscv64, x32, MIPS); merging with NT_FILE;
// hostile link maps and truncated cores.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import { openCoreInput } from '../src/lib/elf/core-input.ts';
import { readCoreModules, type CoreModule } from '../src/lib/elf/core.ts';
import { run, tempDir } from './helpers/cli.ts';
import { buildCore, coreBuffer, PF_R, PF_W, type CoreLoad } from './helpers/core-builder.ts';
import { FIXTURES, readTruth } from './helpers/paths.ts';
import { AT, loadable, place, processCore, type LoadedElf, type ProcessSpec } from './helpers/process-core.ts';
import {
  buildProgram, compareWithEu, CORE_FIXTURES, diskBuildId, euUnstrip, gcore, have, kernelCore, parseEuUnstrip, real, type Program,
} from './helpers/real-core.ts';
import { dropFromNtFile, stripNtFile } from './helpers/strip-nt-file.ts';

function scratch(t: TestContext): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'df-corelm-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const listing = (mods: CoreModule[]): string => mods.map((m) => `${m.start}-${m.end} ${m.buildId ?? '-'} ${m.path}`).join('\n');
const pairs = (mods: CoreModule[]): string[] => mods.map((m) => `${m.start} ${m.buildId ?? '-'}`).sort();

/** A copy of `core` without its NT_FILE note. */
function stripped(core: string, dir: string): string {
  const copy = join(dir, 'stripped.core');
  copyFileSync(core, copy);
  assert.equal(stripNtFile(copy), 1, 'the core had one NT_FILE note');
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Real cores, made here

/** A core of the program: the kernel's own when it writes one to a file, else gdb's gcore. */
async function dump(p: Program, t: TestContext): Promise<string> {
  const byKernel = kernelCore(p);
  if (byKernel.core) return byKernel.core;
  const byGdb = await gcore(p);
  if (!byGdb.core) assert.fail(`cannot make a core dump to test with: ${byKernel.why}; and ${byGdb.why}`);
  t.diagnostic(`core written by gdb (${byKernel.why})`);
  return byGdb.core;
}

async function checkWithoutFileNote(t: TestContext, p: Program, core: string): Promise<void> {
  const dir = scratch(t);
  const withNote = await readCoreModules(core);
  const without = await readCoreModules(stripped(core, dir));
  const both = `with NT_FILE:\n${listing(withNote)}\nwithout:\n${listing(without)}`;
  assert.deepEqual(pairs(without), pairs(withNote), `the same modules and build-ids\n${both}`);
  const at = (mods: CoreModule[], path: string): CoreModule | undefined => mods.find((m) => real(m.path) === real(path));
  for (const f of [p.exe, p.lib, p.extra]) {
    const m = at(without, f);
    assert.ok(m, `${f} named as the core says it (AT_EXECFN, l_name)\n${both}`);
    assert.equal(m.buildId, diskBuildId(f), `build-id of ${f}`);
  }
  assert.equal(without.find((m) => m.path === '[vdso]')?.start, withNote.find((m) => m.path === '[vdso]')?.start, 'the vDSO');
  // Every shared object is named by its l_name, the same file as NT_FILE's path.
  for (const m of without) {
    const twin = withNote.find((x) => x.start === m.start)!;
    if (m.path !== '[vdso]') assert.equal(real(m.path), real(twin.path), `${m.start}: ${m.path} is ${twin.path}`);
  }
  if (have('eu-unstrip')) assert.deepEqual(compareWithEu(without, euUnstrip(stripped(core, scratch(t)))), [], both);

  // NT_FILE without the dlopen()ed library: NT_FILE still names the others, the link map adds it.
  const partial = join(dir, 'partial.core');
  copyFileSync(core, partial);
  assert.ok(dropFromNtFile(partial, (f) => real(f) === real(p.extra)) > 0);
  const merged = await readCoreModules(partial);
  assert.deepEqual(pairs(merged), pairs(withNote), `the same modules\n${listing(merged)}`);
  for (const m of merged) {
    const twin = withNote.find((x) => x.start === m.start)!;
    assert.equal(m.path, real(m.path) === real(p.extra) ? p.extra : twin.path, `${m.start}: NT_FILE names what it lists`);
  }
}

test('a real x86_64 core without NT_FILE: the same modules and build-ids as with it, named by AT_EXECFN and l_name', { timeout: 240_000 }, async (t) => {
  const p = buildProgram(scratch(t));
  await checkWithoutFileNote(t, p, await dump(p, t));
});

test('a real gcore of a running x86_64 process without NT_FILE', { timeout: 240_000 }, async (t) => {
  const p = buildProgram(scratch(t));
  const g = await gcore(p);
  if (!g.core) assert.fail(`gdb could not make a core: ${g.why}`);
  await checkWithoutFileNote(t, p, g.core);
});

test('a real i386 core (ELF32) written by the kernel, without NT_FILE', { timeout: 240_000 }, async (t) => {
  if (!have('i686-linux-gnu-gcc')) assert.fail('i686-linux-gnu-gcc is needed (apt-get install gcc-i686-linux-gnu)');
  const p = buildProgram(scratch(t), 'i686-linux-gnu-gcc');
  const probe = spawnSync(p.exe, [], { env: p.env });
  if (probe.error) {
    // Environmental, not a pass: the committed i386 fixture below still covers a 32-bit kernel core.
    t.skip(`this kernel cannot run i386 programs (${probe.error.message})`);
    return;
  }
  const byKernel = kernelCore(p);
  const core = byKernel.core ?? (await gcore(p)).core;
  if (!core) assert.fail(`cannot make an i386 core dump: ${byKernel.why}`);
  const mods = await readCoreModules(core);
  assert.ok(mods.length >= 5, listing(mods));
  await checkWithoutFileNote(t, p, core);
});

// ---------------------------------------------------------------------------------------------
// Committed real cores (test/fixtures/cores, made by its build.sh), as systemd-coredump stores them

describe('committed kernel cores (x86_64 zstd and lz4, i386 xz) against eu-unstrip read when they were made', () => {
  for (const [file, truth] of [['x86_64.core.zst', 'x86_64'], ['x86_64.core.lz4', 'x86_64'], ['i386.core.xz', 'i386']]) {
    test(file, async (t) => {
      const input = await openCoreInput(join(CORE_FIXTURES, file));
      t.after(() => input.cleanup());
      const euWith = parseEuUnstrip(readFileSync(join(CORE_FIXTURES, `${truth}.eu-unstrip`), 'utf8'));
      const euWithout = parseEuUnstrip(readFileSync(join(CORE_FIXTURES, `${truth}.nofile.eu-unstrip`), 'utf8'));
      const withNote = await readCoreModules(input.path);
      assert.deepEqual(compareWithEu(withNote, euWith), [], listing(withNote));
      const without = await readCoreModules(stripped(input.path, scratch(t)));
      assert.deepEqual(compareWithEu(without, euWithout), [], listing(without));
      assert.equal(without.length, 6);
      // Named where the core says it: AT_EXECFN for the program, l_name for the libraries.
      const exe = euWith.find((e) => e.name.endsWith('/dfprog'))!;
      assert.equal(without.find((m) => m.start === exe.start)?.path, exe.name);
      for (const lib of ['libdfcore.so', 'libdfextra.so']) {
        const m = without.find((x) => x.path.endsWith(`/${lib}`));
        assert.equal(m?.path, euWith.find((e) => e.name.endsWith(`/${lib}`) || e.file.endsWith(`/${lib}`))?.file);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Process images of every class and byte order

/** Real cross-compiled files from the committed df-cross RPMs, taken out with darkserver find. */
const crossFiles = new Map<string, { exe: Buffer; lib: Buffer; exeId: string; libId: string }>();
before(() => {
  const db = join(tempDir('darkforge-corelm-'), 'i.sqlite');
  const cache = tempDir('darkforge-corelm-cache-');
  assert.equal(run('darkserver', ['index', '--db', db, FIXTURES]).code, 0);
  const truth = readTruth(FIXTURES);
  for (const arch of ['ppc64', 'aarch64', 'armv7hl', 'i686']) {
    const rpm = `df-cross-1.0-1.${arch}.rpm`;
    const get = (path: string): { data: Buffer; id: string } => {
      const id = truth.find((r) => r.rpm === rpm && r.path === path)!.buildId!;
      const r = run('darkserver', ['find', 'executable', id, '--db', db], { XDG_CACHE_HOME: cache });
      assert.equal(r.code, 0, r.stderr);
      return { data: readFileSync(r.stdout.trim()), id };
    };
    const exe = get('/usr/bin/df-cross');
    const lib = get('/usr/lib/libdfcross.so.1');
    crossFiles.set(arch, { exe: exe.data, lib: lib.data, exeId: exe.id, libId: lib.id });
  }
});

interface Arch {
  name: string;
  is64: boolean;
  le: boolean;
  machine: number;
  page?: number;
  /** Real files from df-cross-1.0-1.ARCH.rpm; else generated ones. */
  cross?: string;
  /** Generated executable: ET_EXEC linked at this address (else a PIE). */
  exec?: bigint;
  debug?: 'mips-rld-map' | 'mips-rld-map-rel';
  dynamicInText?: boolean;
}

const ARCHES: Arch[] = [
  { name: 'ppc64 (ELF64 big-endian, 64 KiB pages, real files)', is64: true, le: false, machine: 21, page: 65536, cross: 'ppc64' },
  { name: 'aarch64 (real files)', is64: true, le: true, machine: 183, cross: 'aarch64' },
  { name: 'armhf (ELF32 little-endian, real files)', is64: false, le: true, machine: 40, cross: 'armv7hl' },
  { name: 'i686 (a non-PIE ET_EXEC, real files)', is64: false, le: true, machine: 3, cross: 'i686' },
  { name: 's390x (ELF64 big-endian)', is64: true, le: false, machine: 22 },
  { name: 's390 (ELF32 big-endian)', is64: false, le: false, machine: 22, exec: 0x400000n },
  { name: 'ppc (ELF32 big-endian)', is64: false, le: false, machine: 20, page: 65536 },
  { name: 'sparc64 (ELF64 big-endian, 8 KiB pages)', is64: true, le: false, machine: 43, page: 8192, exec: 0x100000n },
  { name: 'm68k (ELF32 big-endian)', is64: false, le: false, machine: 4, exec: 0x80000000n },
  { name: 'riscv64', is64: true, le: true, machine: 243 },
  { name: 'x32 (ELFCLASS32 with the x86-64 machine)', is64: false, le: true, machine: 62 },
  { name: 'MIPS big-endian (DT_MIPS_RLD_MAP_REL, read-only .dynamic)', is64: false, le: false, machine: 8, debug: 'mips-rld-map-rel', dynamicInText: true },
  { name: 'MIPS64 little-endian non-PIE (DT_MIPS_RLD_MAP)', is64: true, le: true, machine: 8, debug: 'mips-rld-map', dynamicInText: true, exec: 0x120000000n },
];

interface Planted { spec: ProcessSpec; want: CoreModule[] }

/** A process of this arch: its executable, one library, the vDSO; and the modules a reader must find. */
function planted(a: Arch, tweak: Partial<ProcessSpec> = {}, libTweak: Partial<LoadedElf> = {}): Planted {
  const page = a.page ?? 4096;
  const ids = { exe: randomBytes(20), lib: randomBytes(20), vdso: randomBytes(20) };
  const common = { is64: a.is64, le: a.le, machine: a.machine, pageSize: page };
  const cross = a.cross ? crossFiles.get(a.cross)! : undefined;
  const exeElf = cross?.exe ?? loadable({ ...common, type: a.exec ? 2 : 3, vaddr: a.exec, id: ids.exe, debug: a.debug, dynamicInText: a.dynamicInText, phdrSelf: true });
  const libElf = cross?.lib ?? loadable({ ...common, type: 3, id: ids.lib, soname: 'libdemo.so.1', debug: 'none', dynamicInText: a.dynamicInText });
  const vdso = loadable({ ...common, type: 3, id: ids.vdso, soname: 'linux-vdso.so.1', debug: 'none' });
  const exeType = exeElf.readUInt16LE(16) === 2 || exeElf.readUInt16BE(16) === 2 ? 2 : 3;
  const hi = (n: bigint): bigint => (a.is64 ? 0x7f0000000000n : 0xb0000000n) + n * BigInt(page) * 64n;
  const exe: LoadedElf = { elf: exeElf, bias: exeType === 2 ? 0n : a.is64 ? 0x555555000000n : 0x00400000n, lName: '', filePath: '/usr/bin/demo' };
  const lib: LoadedElf = { elf: libElf, bias: hi(1n), lName: '/usr/lib/libdemo.so.1', filePath: '/usr/lib/libdemo.so.1', ...libTweak };
  const spec: ProcessSpec = {
    ...common, exe, libs: [lib], vdso: { elf: vdso, addr: hi(10n), lName: 'linux-vdso.so.1' }, execfn: '/usr/bin/demo', ...tweak,
  };
  const pe = place(exe, page);
  const pl = place(lib, page);
  const id = (b: Buffer): string => b.toString('hex');
  const want: CoreModule[] = [
    { path: '/usr/bin/demo', start: hex(pe.start), end: hex(pe.end), buildId: cross?.exeId ?? id(ids.exe) },
    { path: '/usr/lib/libdemo.so.1', start: hex(pl.start), end: hex(pl.end), buildId: cross?.libId ?? id(ids.lib) },
    { path: '[vdso]', start: hex(hi(10n)), end: hex(place({ elf: vdso, bias: hi(10n) }, page).end), buildId: id(ids.vdso) },
  ];
  return { spec, want: want.sort((x, y) => (BigInt(x.start) < BigInt(y.start) ? -1 : 1)) };
}

async function readSpec(t: TestContext, spec: ProcessSpec, edit?: (b: Buffer) => Buffer): Promise<{ mods: CoreModule[]; file: string }> {
  const file = join(scratch(t), 'core');
  const built = coreBuffer(processCore(spec).spec);
  writeFileSync(file, edit ? edit(built) : built);
  return { mods: await readCoreModules(file), file };
}

describe('process images without NT_FILE, every class and byte order', () => {
  for (const a of ARCHES) {
    test(a.name, async (t) => {
      const { spec, want } = planted(a);
      const { mods, file } = await readSpec(t, spec);
      assert.deepEqual(mods, want, listing(mods));
      // eu-unstrip reads the same core: the same starts and build-ids (its names are basenames or sonames).
      if (have('eu-unstrip')) assert.deepEqual(compareWithEu(mods, euUnstrip(file)), [], listing(mods));
      // With NT_FILE the paths come from it, and nothing else changes.
      const withNote = await readSpec(t, { ...spec, fileNote: true });
      assert.deepEqual(withNote.mods, want);
    });
  }
});

describe('merging the sources', () => {
  const x86 = ARCHES.find((a) => a.name.startsWith('riscv64'))!;

  test('NT_FILE lacks a library the dynamic linker lists: it is added, with its l_name and build-id', async (t) => {
    const { spec, want } = planted(x86, { fileNote: true }, { filePath: undefined });
    const { mods } = await readSpec(t, spec);
    assert.deepEqual(mods, want, listing(mods));
  });

  test('NT_FILE names a file differently from l_name: NT_FILE wins', async (t) => {
    const { spec, want } = planted(x86, { fileNote: true }, { filePath: '/usr/lib64/libdemo.so.1.2.3', lName: '/lib64/libdemo.so.1' });
    const { mods } = await readSpec(t, spec);
    assert.deepEqual(mods, want.map((m) => (m.path === '/usr/lib/libdemo.so.1' ? { ...m, path: '/usr/lib64/libdemo.so.1.2.3' } : m)));
  });

  test('headers not dumped (coredump_filter without bit 4): the library by its l_name, without build-id', async (t) => {
    for (const fileNote of [false, true]) {
      const { spec, want } = planted(x86, { fileNote }, { dumpHeader: false, filePath: undefined });
      const { mods } = await readSpec(t, spec);
      const libWant = want.find((m) => m.path === '/usr/lib/libdemo.so.1')!;
      const lib = mods.find((m) => m.path === '/usr/lib/libdemo.so.1');
      assert.ok(lib, listing(mods));
      assert.equal(lib.start, libWant.start, 'from l_addr');
      assert.equal(lib.buildId, undefined);
      assert.ok(BigInt(lib.end) > BigInt(lib.start));
      assert.deepEqual(mods.filter((m) => m !== lib), want.filter((m) => m !== libWant));
    }
  });

  test('the executable\'s header not dumped: it is still listed by AT_EXECFN; the library by its DT_SONAME', async (t) => {
    const a = ARCHES.find((x) => x.name.startsWith('s390x'))!;
    const { spec, want } = planted(a);
    spec.exe.dumpHeader = false;
    const { mods } = await readSpec(t, spec);
    const exe = mods.find((m) => m.start === want[0].start);
    assert.equal(exe?.path, '/usr/bin/demo');
    assert.equal(exe?.buildId, undefined);
    // No link map is reachable without the executable's program headers: the library keeps its soname.
    assert.equal(mods.find((m) => m.start === want[1].start)?.path, 'libdemo.so.1');
    assert.equal(mods.find((m) => m.start === want[1].start)?.buildId, want[1].buildId);
  });

  test('a small library whose writable page is a copy of its ELF header is placed where l_ld says', async (t) => {
    const id = randomBytes(20);
    const lib = loadable({ is64: true, le: true, type: 3, id, soname: 'libtiny.so', debug: 'none', compact: true });
    const { spec, want } = planted(x86);
    const bias = 0x7f1234560000n;
    spec.libs = [{ elf: lib, bias, lName: '/usr/lib/libtiny.so', dumpHeader: false }];
    const { mods } = await readSpec(t, spec);
    const tiny = mods.find((m) => m.path === '/usr/lib/libtiny.so');
    assert.deepEqual(tiny, { path: '/usr/lib/libtiny.so', start: hex(bias), end: hex(bias + 0x2000n), buildId: id.toString('hex') }, listing(mods));
    assert.equal(mods.length, want.length);
  });

  test('dlmopen namespaces: r_debug version 2 and its r_next list are followed', async (t) => {
    const { spec, want } = planted(x86, { rDebugVersion: 2 }, { dumpHeader: false });
    // A second r_debug on the heap, reached through r_next, listing one more library.
    const id = randomBytes(20);
    const other = loadable({ is64: true, le: true, type: 3, id, debug: 'none' });
    const otherBias = 0x7e0000000000n;
    spec.libs!.push({ elf: other, bias: otherBias, dumpHeader: false });
    const built = processCore(spec);
    const heap = built.rDebug;
    const core = coreBuffer(built.spec);
    const load = built.spec.loads.find((l) => l.vaddr === heap)!;
    const second = 0x4000;
    const node = 0x4100;
    const name = 0x4200;
    const w = (o: number, v: bigint): void => { load.data!.writeBigUInt64LE(v, o); };
    w(40, heap + BigInt(second)); // r_next of the first r_debug
    load.data!.writeUInt32LE(2, second);
    w(second + 8, heap + BigInt(node)); // its r_map
    w(node, otherBias); w(node + 8, heap + BigInt(name)); w(node + 16, place({ elf: other, bias: otherBias }, 4096).dynamic!); w(node + 24, 0n);
    load.data!.write('/usr/lib/libother.so\0', name);
    const file = join(scratch(t), 'core');
    writeFileSync(file, coreBuffer(built.spec));
    assert.ok(core.length > 0);
    const mods = await readCoreModules(file);
    assert.ok(mods.some((m) => m.path === '/usr/lib/libother.so' && m.start === hex(otherBias)), listing(mods));
    assert.ok(mods.some((m) => m.path === '/usr/lib/libdemo.so.1' && m.start === want[1].start), listing(mods));
  });

  test('a static executable: found through the auxiliary vector, no link map needed', async (t) => {
    const id = randomBytes(20);
    const exe = loadable({ is64: true, le: true, type: 2, vaddr: 0x400000n, id, noDynamic: true });
    const { mods } = await readSpec(t, { is64: true, le: true, exe: { elf: exe, bias: 0n }, execfn: '/sbin/static' });
    assert.deepEqual(mods, [{ path: '/sbin/static', start: '0x400000', end: '0x403000', buildId: id.toString('hex') }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile and damaged cores: a value or a one-sentence error, quickly, never a hang

describe('hostile link maps, auxiliary vectors and truncated cores', () => {
  const a = ARCHES.find((x) => x.name.startsWith('riscv64'))!;
  const fast = { timeout: 20_000 };

  async function survives(t: TestContext, p: Planted, edit?: (b: Buffer) => Buffer): Promise<CoreModule[]> {
    const started = Date.now();
    const { mods } = await readSpec(t, p.spec, edit);
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    for (const m of mods) assert.ok(BigInt(m.start) < BigInt(m.end), `${m.path}: start below end`);
    return mods;
  }

  test('a link map that loops back to its first node, or to itself', fast, async (t) => {
    for (const edit of [(n: { lNext: bigint; addr: bigint }[]) => { n[n.length - 1].lNext = n[0].addr; }, (n: { lNext: bigint; addr: bigint }[]) => { n[0].lNext = n[0].addr; }]) {
      const p = planted(a, { editLinkMap: edit }, { dumpHeader: false });
      const mods = await survives(t, p);
      assert.ok(mods.some((m) => m.path === '[vdso]'), listing(mods));
    }
    const p = planted(a, { editLinkMap: (n) => { n[n.length - 1].lNext = n[0].addr; } });
    assert.deepEqual(await survives(t, p), p.want);
  });

  test('a link map longer than the core has segments stops', fast, async (t) => {
    const p = planted(a, {
      editLinkMap: (nodes) => {
        // 200 nodes, each naming an object nowhere in the core.
        const base = nodes[0].addr;
        nodes.length = 0;
        for (let i = 0; i < 200; i++) {
          nodes.push({ addr: base + BigInt(i) * 0x80n, lAddr: 0x100000n * BigInt(i + 1), lName: 0n, lLd: 0x100000n * BigInt(i + 1) + 8n, lNext: base + BigInt(i + 1) * 0x80n, lPrev: 0n });
        }
        nodes[199].lNext = 0n;
      },
    });
    const mods = await survives(t, p);
    // Nameless entries of objects the core does not hold add nothing; the library keeps its soname.
    assert.deepEqual(mods, p.want.map((m) => (m.path === '/usr/lib/libdemo.so.1' ? { ...m, path: 'libdemo.so.1' } : m)));
  });

  test('l_name outside the dump, l_name without its NUL, r_map nowhere, DT_DEBUG pointing at itself', fast, async (t) => {
    let p = planted(a, { editLinkMap: (n) => { n[1].lName = 0xdead0000n; } });
    let mods = await survives(t, p);
    assert.equal(mods.find((m) => m.start === p.want[1].start)?.path, 'libdemo.so.1', 'named by DT_SONAME instead');
    // A name running to the end of the heap segment without a NUL.
    const heap = 0x5a0000000000n;
    p = planted(a, { heap, editLinkMap: (n) => { n[1].lName = heap + 0xfff0n; } });
    const built = processCore(p.spec);
    built.spec.loads.find((l) => l.vaddr === heap)!.data!.fill(0x41, 0xfff0);
    const file = join(scratch(t), 'noname.core');
    writeFileSync(file, coreBuffer(built.spec));
    mods = await readCoreModules(file);
    assert.equal(mods.find((m) => m.start === p.want[1].start)?.path, 'libdemo.so.1');
    // r_map pointing at memory the core does not hold: the modules still come from their headers.
    p = planted(a, { editLinkMap: (n) => { n.splice(0, n.length); } });
    mods = await survives(t, p);
    assert.deepEqual(mods.map((m) => m.start), p.want.map((m) => m.start));
    // DT_DEBUG pointing at the dynamic section itself: its entries read as r_debug and link_map.
    p = planted(a);
    const self = processCore(p.spec);
    const dyn = self.exe.dynamic!;
    const rw = self.spec.loads.find((l) => l.data && l.vaddr <= dyn && dyn < l.vaddr + BigInt(l.data.length))!;
    for (let o = Number(dyn - rw.vaddr); ; o += 16) {
      const tag = rw.data!.readBigUInt64LE(o);
      if (tag === 0n) assert.fail('no DT_DEBUG');
      if (tag === 21n) { rw.data!.writeBigUInt64LE(dyn, o + 8); break; }
    }
    const selfFile = join(scratch(t), 'self.core');
    writeFileSync(selfFile, coreBuffer(self.spec));
    mods = await readCoreModules(selfFile);
    assert.deepEqual(mods.map((m) => [m.start, m.buildId]), p.want.map((m) => [m.start, m.buildId]));
  });

  test('absurd auxiliary vectors: AT_PHNUM 2^31, a wrong AT_PHENT, AT_PHDR at zeros or nowhere', fast, async (t) => {
    const edits: ((x: [bigint, bigint][]) => [bigint, bigint][])[] = [
      (x) => x.map(([k, v]) => [k, k === AT.PHNUM ? 1n << 31n : v]),
      (x) => x.map(([k, v]) => [k, k === AT.PHENT ? 7n : v]),
      (x) => x.map(([k, v]) => [k, k === AT.PHDR ? 0x5a0000000000n + 0x9000n : v]), // inside the heap: zeros
      (x) => x.map(([k, v]) => [k, k === AT.PHDR ? 0xfffffffffffff000n : v]),
      (x) => x.map(([k, v]) => [k, k === AT.EXECFN ? 0x10n : v]),
    ];
    for (const editAuxv of edits) {
      const p = planted(a, { editAuxv });
      const mods = await survives(t, p);
      assert.deepEqual(mods.map((m) => [m.start, m.buildId]), p.want.map((m) => [m.start, m.buildId]), listing(mods));
    }
  });

  test('r_debug version 2 whose r_next points at itself', fast, async (t) => {
    const p = planted(a, { rDebugVersion: 2 });
    const built = processCore(p.spec);
    const heapLoad = built.spec.loads.find((l) => l.vaddr === built.rDebug)!;
    heapLoad.data!.writeBigUInt64LE(built.rDebug, 40);
    const file = join(scratch(t), 'rnext.core');
    writeFileSync(file, coreBuffer(built.spec));
    assert.deepEqual(await readCoreModules(file), p.want);
  });

  test('cores cut short anywhere after the notes: modules or fewer of them, never an error or a hang', { timeout: 120_000 }, async (t) => {
    const p = planted(a, {}, {});
    const built = buildCore(processCore(p.spec).spec);
    const whole = coreBuffer(built);
    const dir = scratch(t);
    let lastCount = -1;
    const start = built.noteOffset + built.noteSize;
    for (let cut = start; cut <= whole.length; cut += Math.max(4096, Math.floor((whole.length - start) / 40))) {
      const file = join(dir, `cut-${cut}`);
      writeFileSync(file, whole.subarray(0, cut));
      const mods = await readCoreModules(file);
      for (const m of mods) {
        const w = p.want.find((x) => x.start === m.start);
        if (w && m.buildId) assert.equal(m.buildId, w.buildId, `cut at ${cut}: no wrong build-id`);
      }
      lastCount = mods.length;
      rmSync(file);
    }
    assert.equal(lastCount, p.want.length);
  });

  test('a library whose bias wraps its bounds past the top of memory is not a module', fast, async (t) => {
    const id = randomBytes(20);
    const lib = loadable({ is64: false, le: false, type: 3, id, debug: 'none' });
    const b = ARCHES.find((x) => x.name.startsWith('m68k'))!;
    const p = planted(b);
    // The header page at the last page of the 32-bit space, claiming segments past it.
    const core = processCore(p.spec).spec;
    core.loads.push({ vaddr: 0xfffff000n, memsz: 0x1000n, flags: PF_R | PF_W, data: lib.subarray(0, 4096) });
    const file = join(scratch(t), 'wrap.core');
    writeFileSync(file, coreBuffer(core));
    const mods = await readCoreModules(file);
    assert.deepEqual(mods, p.want);
  });

  test('thousands of dumped segments that begin with ELF headers without PT_LOAD: bounded time', { timeout: 60_000 }, async (t) => {
    const junk = loadable({ is64: true, le: true, type: 3, debug: 'none' });
    // Keep the header and program headers, drop the PT_LOADs (type 1 -> 0).
    const head = Buffer.from(junk.subarray(0, 4096));
    for (let i = 0; i < 5; i++) if (head.readUInt32LE(64 + i * 56) === 1) head.writeUInt32LE(0, 64 + i * 56);
    const loads: CoreLoad[] = Array.from({ length: 3000 }, (_, i) => ({ vaddr: 0x10000000n + BigInt(i) * 0x2000n, memsz: 0x1000n, flags: PF_R, data: head.subarray(0, 512) }));
    const file = join(scratch(t), 'many.core');
    writeFileSync(file, coreBuffer({ is64: true, le: true, fileNote: false, loads }));
    const started = Date.now();
    assert.deepEqual(await readCoreModules(file), []);
    assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
  });
});
