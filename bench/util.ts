// Small helpers every bench module shares: progress on stderr, tool checks, timing, cache paths.
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DARKSERVER = join(ROOT, 'bin', 'darkserver.js');

// The namespace child (netns-child.ts) inherits the parent's start so the clock runs on.
const t0 = Number(process.env.DARKFORGE_BENCH_T0) || Date.now();
process.env.DARKFORGE_BENCH_T0 = String(t0);
/** Progress goes to stderr so stdout carries only the table. */
export function log(msg: string): void {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

/** A user-facing failure: run.ts prints the message alone (no stack) and exits 2. */
export class BenchError extends Error {}

/** External tools and the Debian package that ships each, for the one-sentence error. */
export const TOOLS: Record<string, string> = {
  rpmbuild: 'rpm',
  rpm: 'rpm',
  rpm2cpio: 'rpm2cpio',
  cpio: 'cpio',
  'eu-unstrip': 'elfutils',
  debuginfod: 'debuginfod',
  'debuginfod-find': 'debuginfod',
  unshare: 'util-linux',
  ip: 'iproute2',
  python3: 'python3',
  '/usr/bin/time': 'time',
  wrk: 'wrk',
  ab: 'apache2-utils',
  gcc: 'gcc',
};

export function findTool(name: string): string | undefined {
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  for (const d of dirs) {
    const p = d ? join(d, name) : name;
    try { accessSync(p, constants.X_OK); if (statSync(p).isFile()) return p; } catch { /* next */ }
  }
  return undefined;
}

/** Every missing tool as one sentence naming its Debian package; empty when all are there. */
export function missingTools(names: string[]): string[] {
  return names.filter((n) => !findTool(n)).map((n) => `${n} is missing: install the Debian package "${TOOLS[n] ?? n}" (apt-get install -y ${TOOLS[n] ?? n}).`);
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const s = nowMs();
  const value = await f();
  return { ms: nowMs() - s, value };
}

export function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
}

/** $XDG_CACHE_HOME/darkforge-bench (else ~/.cache/darkforge-bench): corpus, 1 GB RPM, 10 M db. */
export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const d = join(base, 'darkforge-bench');
  mkdirSync(d, { recursive: true });
  return d;
}

/** Size of an SQLite database including any -wal/-shm left beside it. */
export function dbBytes(file: string): number {
  let n = 0;
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) n += statSync(f).size;
  return n;
}

/** Deterministic PRNG (mulberry32) so random picks are the same run to run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const MB = 1024 * 1024;
