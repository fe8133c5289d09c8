// Tools for the database fault tests (test/faults-db.test.ts, soak/db-*.test.ts): the CLI as a
// child process, a canonical dump of an index, small tmpfs mounts (full disk, read-only media),
// and a way to hold a child in the middle of writing an RPM.
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cli.ts';
import { ROOT } from './paths.ts';

export const IS_ROOT = process.getuid?.() === 0;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  exit: Promise<Exit>;
}

/** Start `darkserver ARGS…` (the built entry point) without waiting for it. */
export function start(args: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exit = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, exit };
}

/** Poll `ready` every few milliseconds until it holds; fail after `timeoutMs`. */
export async function until(what: string, ready: () => boolean, timeoutMs = 30_000, everyMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Read a database with a connection of its own (closed again at once). */
export function withDb<T>(file: string, f: (db: BetterSqlite3.Database) => T): T {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: 30_000 });
  try {
    return f(db);
  } finally {
    db.close();
  }
}

/** How many RPMs the index holds (0 while the file does not exist or has no schema yet). */
export function rpmCount(file: string): number {
  try {
    return withDb(file, (db) => db.prepare('SELECT count(*) FROM rpms').pluck().get() as number);
  } catch {
    return 0;
  }
}

/**
 * The index's content with row ids and times left out, one line per RPM and per file row, keyed
 * by RPM ("instance pkgid"): two databases with equal dumps answer every query alike.
 */
export function dumpByRpm(file: string): Map<string, string[]> {
  return withDb(file, (db) => {
    const out = new Map<string, string[]>();
    const rpms = db.prepare(`SELECT r.id, r.instance, r.pkgid, r.nvra, b.nvr, b.koji_build_id, b.distro, r.method, r.url, r.size,
        r.elf_files, r.elf_without_buildid FROM rpms r JOIN builds b ON b.id = r.build_id`).all() as Record<string, unknown>[];
    const files = db.prepare(`SELECT f.seq, d.name || s.name || t.name AS path, ft.name AS type, lower(hex(f.buildid)) AS id
        FROM files f JOIN names d ON d.id = f.dir JOIN names s ON s.id = f.stem JOIN names t ON t.id = f.tail
        JOIN file_types ft ON ft.id = f.type WHERE f.rpm_id = ? ORDER BY f.seq`);
    for (const r of rpms) {
      const key = `${r.instance} ${r.pkgid}`;
      const { id, ...rest } = r;
      out.set(key, [JSON.stringify(rest), ...(files.all(id) as Record<string, unknown>[]).map((f) => `${f.seq} ${f.path} ${f.type} ${f.id}`)]);
    }
    return out;
  });
}

export function dump(file: string): string[] {
  return [...dumpByRpm(file).entries()].map(([k, v]) => `${k}\n${v.join('\n')}`).sort();
}

/** PRAGMA integrity_check says ok, no foreign key points nowhere, and no build is left without an RPM. */
export function assertSound(file: string): void {
  withDb(file, (db) => {
    assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }], `${file}: integrity_check`);
    assert.deepEqual(db.pragma('foreign_key_check'), [], `${file}: foreign_key_check`);
    assert.equal(db.prepare('SELECT count(*) FROM builds WHERE id NOT IN (SELECT build_id FROM rpms)').pluck().get(), 0, `${file}: builds without RPMs`);
  });
}

/** Every RPM in `partial` has exactly the rows it has in `clean` (no RPM half-written). */
export function assertWholeRpms(partial: string, clean: Map<string, string[]>): number {
  const got = dumpByRpm(partial);
  for (const [key, lines] of got) assert.deepEqual(lines, clean.get(key), `RPM ${key} is as in a clean run`);
  return got.size;
}

/** A tmpfs of `bytes` at a new folder; unmount() when done (also on failure). */
export interface Tmpfs {
  dir: string;
  readOnly(): void;
  unmount(): void;
  /** Leave only about `bytes` free, with a filler file; returns its path. */
  fillUpTo(bytes: number): string;
}

export function mountTmpfs(bytes: number): Tmpfs {
  const dir = tempDir('darkforge-tmpfs-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`mount tmpfs on ${dir}: ${m.stderr.trim()}`);
  let mounted = true;
  return {
    dir,
    readOnly() {
      const r = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`remount ${dir} read-only: ${r.stderr.trim()}`);
    },
    unmount() {
      if (!mounted) return;
      const r = spawnSync('umount', [dir], { encoding: 'utf8' });
      if (r.status !== 0) spawnSync('umount', ['-l', dir]);
      mounted = false;
    },
    fillUpTo(free) {
      const s = statfsSync(dir);
      const have = s.bavail * s.bsize;
      const filler = join(dir, 'filler');
      writeFileSync(filler, Buffer.alloc(Math.max(0, have - free)));
      return filler;
    },
  };
}

/**
 * The process's main thread sleeps in SQLite's busy handler (clock_nanosleep or nanosleep), that
 * is, it waits for a write lock: it is inside writing an RPM (BEGIN IMMEDIATE). Node waits for
 * everything else in epoll, so no other sleep looks like this.
 */
export function waitingForLock(pid: number): boolean {
  try {
    const nr = Number(readFileSync(`/proc/${pid}/syscall`, 'latin1').split(' ')[0]);
    return nr === 230 || nr === 35;
  } catch {
    return false;
  }
}

/** Take the database's write lock from this process, so a writer blocks in its next transaction. */
export function holdWriteLock(file: string): { release(): void } {
  const db = new BetterSqlite3(file, { timeout: 30_000 });
  db.exec('BEGIN IMMEDIATE');
  return {
    release() {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    },
  };
}
