// The crash fixture (test/fixtures/crash, built by test/fixtures/build-crash.sh): its RPMs, the
// files rpm2cpio | cpio extracts from them (the reference bytes), and a core dump of the packaged
// program, made here by running it: under gdb, which writes the core with gcore at the SIGSEGV,
// or, where ptrace is not allowed, by the kernel (core_pattern permitting).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.ts';

export const CRASH_RPMS = join(ROOT, 'test', 'fixtures', 'crash', 'rpms');
export const CRASH_SRC = join(ROOT, 'test', 'fixtures', 'crash', 'src');
export const NVR = 'dfcrash-1.0-1.fc40';
export const MAIN_RPM = join(CRASH_RPMS, `${NVR}.x86_64.rpm`);
export const DEBUGINFO_RPM = join(CRASH_RPMS, `dfcrash-debuginfo-1.0-1.fc40.x86_64.rpm`);
export const DEBUGSOURCE_RPM = join(CRASH_RPMS, `dfcrash-debugsource-1.0-1.fc40.x86_64.rpm`);
export const SRC_DIR = `/usr/src/debug/${NVR}.x86_64`;
export const SOURCES = ['dfcrash-main.c', 'dfcrash-walk.c', 'dfcrash-lib.c', 'dfcrash.h'].map((f) => `${SRC_DIR}/${f}`);

/** rpm2cpio RPM | cpio -idm into `dir` (the reference extraction). */
export function extractRpm(rpm: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('sh', ['-c', 'rpm2cpio "$1" | cpio -idm --quiet', 'sh', rpm], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `rpm2cpio | cpio failed for ${rpm}: ${r.stderr}`);
}

export function readelfBuildId(file: string): string {
  const r = spawnSync('readelf', ['-n', '--wide', file], { encoding: 'utf8' });
  const id = /Build ID:\s*([0-9a-f]+)/.exec(r.stdout)?.[1];
  assert.ok(id, `no build-id in ${file}`);
  return id;
}

export interface CrashFiles {
  /** Where the main RPM was extracted; the program ran from here. */
  root: string;
  exe: string;
  lib: string;
  core: string;
  exeId: string;
  libId: string;
}

/** Line number (1-based) of the first line of `file` (in the fixture sources) containing `text`. */
export function lineOf(file: string, text: string): number {
  const i = readFileSync(join(CRASH_SRC, file), 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} not in ${file}`);
  return i + 1;
}

/** Extract the packaged program into `dir` and make a core dump of its crash. */
export function crashCore(dir: string): CrashFiles {
  const root = join(dir, 'root');
  extractRpm(MAIN_RPM, root);
  const exe = join(root, 'usr', 'bin', 'dfcrash');
  const lib = join(root, 'usr', 'lib64', 'libdfcrash.so.1');
  const core = join(dir, 'core.dfcrash');
  const env = { ...process.env, DEBUGINFOD_URLS: '' };
  const g = spawnSync('gdb', ['-nx', '-batch', '-ex', `set environment LD_LIBRARY_PATH=${join(root, 'usr', 'lib64')}`,
    '-ex', 'set startup-with-shell off', '-ex', 'run', '-ex', `gcore ${core}`, exe], { encoding: 'utf8', env, timeout: 120_000 });
  if (!(existsSync(core) && statSync(core).size > 0)) {
    // No ptrace here: let the kernel write it, if core_pattern names a plain file.
    const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
    assert.ok(!pattern.startsWith('|') && !pattern.includes('/'),
      `gdb could not make a core (${(g.stderr || g.stdout).trim().split('\n').slice(-2).join(' / ')}) and kernel.core_pattern "${pattern}" does not write one here`);
    const before = Date.now() - 1000;
    spawnSync('sh', ['-c', 'ulimit -c unlimited && exec "$0"', exe], { cwd: dir, env: { ...env, LD_LIBRARY_PATH: join(root, 'usr', 'lib64') } });
    const prefix = pattern.split('%')[0];
    const made = readdirSync(dir).filter((n) => n.startsWith(prefix) && n !== 'root').map((n) => join(dir, n))
      .find((f) => statSync(f).isFile() && statSync(f).mtimeMs >= before);
    assert.ok(made, `neither gdb nor the kernel made a core dump of ${exe}`);
    return { root, exe, lib, core: made, exeId: readelfBuildId(exe), libId: readelfBuildId(lib) };
  }
  return { root, exe, lib, core, exeId: readelfBuildId(exe), libId: readelfBuildId(lib) };
}

/**
 * The frames of a gdb backtrace, "FUNCTION FILE:LINE" by frame number, for the frames that have a
 * source line (gdb prints frame lines again for `frame N`; the first print of each number counts).
 */
export function frames(gdbOutput: string): string[] {
  const byNumber = new Map<number, string>();
  for (const line of gdbOutput.split('\n')) {
    const m = /^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\w+) \(.*\) at ([^\s:]+):(\d+)$/.exec(line.trim());
    if (m && !byNumber.has(Number(m[1]))) byNumber.set(Number(m[1]), `${m[2]} ${m[3]}:${m[4]}`);
  }
  return [...byNumber.keys()].sort((a, b) => a - b).map((n) => byNumber.get(n)!);
}
