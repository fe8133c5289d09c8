// SQLite's failures of the database itself, as DatabaseErrors (index/db-errors.ts): a full disk,
// a read-only file or mount, an I/O error, a damaged file, a lock held too long.
import { accessSync, constants, existsSync, statfsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { DatabaseError, diskFull, readOnly } from '../../index/db-errors.js';

/** better-sqlite3's SqliteError carries SQLite's extended result code name ("SQLITE_IOERR_WRITE"). */
function sqliteCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

// SQLite reports some failed writes on a full disk as I/O errors (growing the -shm file, syncing):
// with less than this left on the device, "disk full" is the likely story.
const NEARLY_FULL = 1 << 20;

function nearlyFull(file: string): boolean {
  try {
    const s = statfsSync(dirname(file));
    return s.bavail * s.bsize < NEARLY_FULL;
  } catch {
    return false;
  }
}

const DATABASE_LEVEL = new Set(['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_CORRUPT',
  'SQLITE_NOTADB', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_NOMEM']);

/** SQLite's primary result code of `e` ("SQLITE_IOERR" for SQLITE_IOERR_WRITE) when it is a database-level failure. */
function databaseLevel(e: unknown): string | undefined {
  const code = sqliteCode(e);
  const base = code?.replace(/^(SQLITE_[A-Z]+?)(_[A-Z_]+)?$/, '$1');
  return base && DATABASE_LEVEL.has(base) ? base : undefined;
}

/**
 * The database-level failure `e` stands for, or undefined when `e` is not one (a constraint, a bug,
 * anything not from SQLite): then the caller treats it as it would any other error.
 */
export function databaseError(file: string, e: unknown): DatabaseError | undefined {
  if (e instanceof DatabaseError) return e;
  const base = databaseLevel(e);
  if (!base) return undefined;
  const code = sqliteCode(e)!;
  switch (base) {
    case 'SQLITE_FULL':
      return diskFull(file);
    case 'SQLITE_IOERR':
      if (nearlyFull(file)) return diskFull(file);
      return new DatabaseError(file, `input/output error on the index database (${code})`, 1);
    case 'SQLITE_READONLY':
      return readOnly(file, writeBlocker(file) ?? code);
    case 'SQLITE_CANTOPEN': {
      const blocked = writeBlocker(file);
      if (blocked) return readOnly(file, blocked);
      // A folder, a path through a file, a missing parent: the --db given is wrong (a usage error).
      return new DatabaseError(file, `cannot open the index database (${(e as Error).message})`, 2);
    }
    case 'SQLITE_CORRUPT':
      return new DatabaseError(file, `the index database is damaged (${(e as Error).message})`, 1,
        'restore a copy, or move it away and index again');
    case 'SQLITE_NOTADB':
      return new DatabaseError(file, `not a usable darkforge database (${(e as Error).message})`, 2);
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new DatabaseError(file, `the index database stayed locked by another process (${code})`, 1,
        'run the same command again when the other one is done');
    case 'SQLITE_NOMEM':
      return new DatabaseError(file, 'out of memory while using the index database', 1);
    default:
      return undefined;
  }
}

/** Why `path` cannot be written by this process, in a few words, or undefined when it can. */
function accessProblem(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return 'read-only file system';
    if (code === 'EACCES' || code === 'EPERM') return 'no write permission';
    return undefined; // ENOENT and the like: the open itself will say
  }
}

/**
 * Why this process could not write the database `file`, or undefined. Checked before anything is
 * opened, so a read-only index is refused before any work (root passes permission checks, but
 * not a read-only mount). SQLite also creates FILE-wal and FILE-shm beside the file.
 */
export function writeBlocker(file: string): string | undefined {
  if (file === ':memory:') return undefined;
  if (!existsSync(file)) {
    let dir = dirname(file);
    while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
    const p = accessProblem(dir);
    return p && `${p}: ${dir}`;
  }
  const onFile = accessProblem(file);
  if (onFile) return onFile;
  if (existsSync(`${file}-wal`) && existsSync(`${file}-shm`)) return undefined;
  const onDir = accessProblem(dirname(file));
  return onDir && `${onDir} on its folder, where ${basename(file)}-wal is made`;
}
