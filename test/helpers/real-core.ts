// Real core dumps for the core reader's tests: a small program with its own shared library (and
// optionally one it dlopen()s), built with the host's gcc or a cross gcc that runs here (i686),
// dumped by gdb's gcore or by the kernel itself; and elfutils' `eu-unstrip -n --core` as the
// independent reading to compare with.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { scanElfBuffer } from '../../src/lib/elf/scanner.ts';
import { ROOT } from './paths.ts';

export function have(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The program's sources, shared with the fixture script (test/fixtures/cores/build.sh). */
export const CORE_FIXTURES = join(ROOT, 'test', 'fixtures', 'cores');
const SOURCES = join(CORE_FIXTURES, 'src');

export interface Program {
  dir: string;
  exe: string;
  lib: string;
  /** A library the program dlopen()s (run with `extra` in DFCORE_DLOPEN). */
  extra: string;
  data: string;
  env: NodeJS.ProcessEnv;
}

/** Build the program with `cc` (gcc, or i686-linux-gnu-gcc for a 32-bit one) into dir. */
export function buildProgram(dir: string, cc = 'gcc'): Program {
  if (!have(cc)) assert.fail(`${cc} is not installed: it is needed to build the program whose core this test reads`);
  for (const f of ['dfcore.c', 'extra.c', 'main.c']) copyFileSync(join(SOURCES, f), join(dir, f));
  writeFileSync(join(dir, 'data.bin'), Buffer.from('plain data, not ELF\n'.repeat(500)));
  // A cross gcc links against its own libc: run with that dynamic linker unless the host has one.
  const cross = cc !== 'gcc' ? `/usr/${cc.replace(/-gcc$/, '')}/lib` : undefined;
  const interp = cross && readdirSync(cross).find((n) => /^ld-linux.*\.so\.\d$/.test(n));
  const loader = cross && interp ? [`-Wl,--dynamic-linker=${cross}/${interp}`, `-Wl,-rpath,${cross}`] : [];
  const run = (args: string[]): void => {
    const r = spawnSync(cc, args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${cc} ${args.join(' ')} failed:\n${r.stderr}`);
  };
  run(['-shared', '-fPIC', '-Wl,--build-id', '-o', 'libdfcore.so', 'dfcore.c']);
  run(['-shared', '-fPIC', '-Wl,--build-id', '-o', 'libdfextra.so', 'extra.c']);
  run(['-Wl,--build-id', '-o', 'dfprog', 'main.c', `-L${dir}`, '-ldfcore', '-ldl', `-Wl,-rpath,${dir}`, ...loader]);
  const extra = join(dir, 'libdfextra.so');
  return { dir, exe: join(dir, 'dfprog'), lib: join(dir, 'libdfcore.so'), extra, data: join(dir, 'data.bin'), env: { ...process.env, DFCORE_DLOPEN: extra } };
}

/** gdb attaches to the paused program and writes a core with gcore; the program is then killed. */
export async function gcore(p: Program): Promise<{ core?: string; why?: string }> {
  if (!have('gdb')) return { why: 'gdb is not installed' };
  const child = spawn(p.exe, [p.data], { stdio: ['ignore', 'pipe', 'pipe'], env: p.env });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the test program did not start: ${out}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => { out += d; if (out.includes('ready')) { clearTimeout(timer); resolve(); } });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the test program exited with ${code}`)); });
    });
    const core = join(p.dir, 'core.gdb');
    const env = { ...process.env, DEBUGINFOD_URLS: '' };
    const r = spawnSync('gdb', ['-nx', '-batch', '-p', String(child.pid), '-ex', `gcore ${core}`], { encoding: 'utf8', env, timeout: 120_000 });
    if (existsSync(core) && statSync(core).size > 0) return { core };
    const lines = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').filter((l) => /ptrace|denied|not permitted|error/i.test(l));
    return { why: `gdb could not dump the process (${lines.join('; ') || r.error?.message || `exit ${r.status}`})` };
  } finally {
    child.kill('SIGKILL');
  }
}

function startsWithElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === '\x7fELF';
  } finally {
    closeSync(fd);
  }
}

/** The kernel's own core of the program calling abort(), when core_pattern writes a plain file. */
export function kernelCore(p: Program): { core?: string; why?: string } {
  let pattern: string;
  try {
    pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
  } catch {
    return { why: 'cannot read /proc/sys/kernel/core_pattern' };
  }
  if (pattern.startsWith('|')) return { why: `kernel.core_pattern pipes cores to a program ("${pattern}"), so no core file is written` };
  const where = pattern.includes('/') ? dirname(isAbsolute(pattern) ? pattern : join(p.dir, pattern)) : p.dir;
  if (where.includes('%')) return { why: `kernel.core_pattern "${pattern}" has a templated folder` };
  const prefix = basename(pattern).split('%')[0];
  const before = Date.now() - 1000;
  const r = spawnSync('sh', ['-c', 'ulimit -c unlimited || exit 99; exec "$0" "$@"', p.exe, p.data, 'abort'], { cwd: p.dir, encoding: 'utf8', env: p.env });
  if (r.status === 99) return { why: 'ulimit -c unlimited is not allowed here' };
  const found = existsSync(where)
    ? readdirSync(where).filter((n) => n.startsWith(prefix)).map((n) => join(where, n))
      .filter((f) => statSync(f).isFile() && statSync(f).mtimeMs >= before && startsWithElf(f))
    : [];
  if (!found.length) return { why: `the program aborted (${r.signal ?? r.status}) but no core appeared in ${where} (core_pattern "${pattern}")` };
  return { core: found[0] };
}

/** Build-id of a file on disk, as readelf -n prints it (our scanner when binutils is absent). */
export function diskBuildId(path: string): string | undefined {
  if (have('readelf')) {
    const r = spawnSync('readelf', ['-n', '--wide', path], { encoding: 'utf8' });
    return /Build ID:\s*([0-9a-f]+)/.exec(r.stdout)?.[1];
  }
  return scanElfBuffer(readFileSync(path)).buildId;
}

export interface EuModule { start: string; buildId?: string; file: string; name: string }

export function euUnstrip(core: string): EuModule[] {
  const r = spawnSync('eu-unstrip', ['-n', '--core', core], { encoding: 'utf8' });
  assert.equal(r.status, 0, `eu-unstrip -n --core failed: ${r.stderr}`);
  return parseEuUnstrip(r.stdout);
}

export function parseEuUnstrip(text: string): EuModule[] {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const m = /^(0x[0-9a-f]+)\+0x[0-9a-f]+ (\S+) (\S+) (\S+) (.+)$/.exec(line);
    assert.ok(m, `unexpected eu-unstrip line: ${line}`);
    const id = m[2] === '-' ? undefined : m[2].split('@')[0];
    return { start: m[1], buildId: id, file: m[3], name: m[5] };
  });
}

export const real = (p: string): string => { try { return realpathSync(p); } catch { return p; } };

/** Whether our path names the module eu-unstrip names (it gives some by soname or basename). */
export function samePath(ours: string, eu: EuModule): boolean {
  if (ours === '[vdso]') return /vdso|gate|^\[/.test(eu.name);
  if (/^\[(exe|pie|dso)\]$/.test(eu.name)) return true; // eu-unstrip found no name; ours may be AT_EXECFN
  const paths = [eu.file, eu.name].filter((p) => p.startsWith('/'));
  if (paths.some((p) => real(p) === real(ours))) return true;
  return basename(real(ours)).startsWith(basename(eu.name)) || basename(ours) === eu.name;
}

interface Module { start: string; path: string; buildId?: string }

/** Differences between our module list and eu-unstrip's: missing, extra, other build-id or name. */
export function compareWithEu(mods: Module[], eu: EuModule[]): string[] {
  const problems: string[] = [];
  for (const e of eu) {
    const m = mods.find((x) => x.start === e.start);
    if (!m) problems.push(`missing ${e.start} ${e.name}`);
    else {
      if (m.buildId !== e.buildId) problems.push(`${m.path}: build-id ${m.buildId} vs ${e.buildId}`);
      if (!samePath(m.path, e)) problems.push(`${m.start}: path ${m.path} vs ${e.file} ${e.name}`);
    }
  }
  for (const m of mods) if (!eu.some((e) => e.start === m.start)) problems.push(`extra ${m.start} ${m.path}`);
  return problems;
}
