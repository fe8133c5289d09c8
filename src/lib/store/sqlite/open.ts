// Opening an SQLite index: for writing (WAL, migrations), or for reading only when this process
// cannot write it (a read-only mount, no permission).
import BetterSqlite3, { Database } from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ioMessage, UserError } from '../../errors.js';
import { databaseError } from './errors.js';
import { migrate, READABLE_SCHEMA_VERSION, SCHEMA_VERSION } from './schema.js';

/** How long a statement waits for another process's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 30_000;

export function openForWriting(file: string): Database {
  let db: Database;
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new BetterSqlite3(file, { timeout: BUSY_TIMEOUT_MS });
  } catch (e) {
    throw databaseError(file, e) ?? new UserError(`${file}: cannot open the index database (${ioMessage(e)})`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    migrate(db, file);
    return db;
  } catch (e) {
    db.close();
    throw unusable(file, e);
  }
}

/**
 * An existing database this process may write but must not change (the source of a copy): opened
 * read-write, since in WAL mode a reader needs the FILE-shm index that only a writer may create
 * (a read-only opening would otherwise read the whole file into memory), but never migrated.
 */
export function openUnchanged(file: string): Database {
  let db: Database;
  try {
    db = new BetterSqlite3(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  } catch (e) {
    throw databaseError(file, e) ?? new UserError(`${file}: cannot open the index database (${ioMessage(e)})`);
  }
  try {
    checkReadableSchema(db, file, false);
    return db;
  } catch (e) {
    db.close();
    throw unusable(file, e);
  }
}

/** An error from opening or checking `file`, as the one sentence the user gets. */
function unusable(file: string, e: unknown): UserError {
  if (e instanceof UserError) return e;
  return databaseError(file, e) ?? new UserError(`${file}: not a usable darkforge database (${(e as Error).message})`);
}

/**
 * A database this process cannot write (read-only mount, no permission), for reading. In WAL
 * mode SQLite needs the FILE-shm index beside the file: present (the last writer was killed, or
 * is still running) it is read as it is; absent on a read-only mount (the last writer closed
 * cleanly and removed it) SQLite cannot open the file at all, so the file is read into memory,
 * which is safe because nobody can write it there and without a FILE-wal it holds everything.
 */
export function openForReading(file: string): Database {
  let db: Database | undefined;
  try {
    db = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    checkReadableSchema(db, file);
    return db;
  } catch (e) {
    db?.close();
    if (!String((e as { code?: string }).code).startsWith('SQLITE_CANTOPEN')) throw unusable(file, e);
  }
  if (existsSync(`${file}-wal`)) {
    throw new UserError(`${file}: the index database is read-only and its log ${basename(file)}-wal cannot be read without ${basename(file)}-shm; `
      + 'open it once with write access (any darkserver command) to fold the log in', 2);
  }
  let image: Buffer;
  try {
    image = readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read the index database (${ioMessage(e)})`, 1);
  }
  // Bytes 18 and 19 of the header say "WAL" (2); an in-memory copy is read as a rollback-journal file (1).
  if (image.length >= 100 && image[18] === 2 && image[19] === 2) image[18] = image[19] = 1;
  try {
    db = new BetterSqlite3(image, { readonly: true });
    checkReadableSchema(db, file);
    return db;
  } catch (e) {
    db?.close();
    throw unusable(file, e);
  }
}

/** A database opened read-only cannot be migrated: it must already have a schema this darkforge reads. */
function checkReadableSchema(db: Database, file: string, readOnly = true): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new UserError(`${file}: database schema version ${version} is newer than this darkforge understands (${SCHEMA_VERSION}); upgrade darkforge`);
  }
  if (version === 0 && !readOnly) throw new UserError(`${file}: not a darkforge index database (no schema in it)`);
  if (version < READABLE_SCHEMA_VERSION) {
    throw new UserError(`${file}: the index database ${readOnly ? 'is read-only and ' : ''}was written by an older darkforge (schema ${version}, `
      + `this one needs ${SCHEMA_VERSION}); open it once with write access to upgrade it`);
  }
}

/** Whether the file exists (the SQLite adapter's notion of "the index is there"). */
export const fileExists = (file: string): boolean => file === ':memory:' || existsSync(file);
