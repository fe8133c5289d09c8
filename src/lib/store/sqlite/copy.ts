// Copying an index out of and into SQLite files (darkserver db copy).
//
// Out: one read transaction (in WAL mode a consistent snapshot while writers go on), each table
// read in its primary-key order, which is the table's own order on disk (no sort).
//
// In: the rows go to a new file beside the target (".NAME.copy-PID"), written with no journal
// and no syncs, its secondary indexes dropped while loading and built once at the end (a sort
// instead of ten million random inserts). commit() checks every reference, syncs the file and
// puts it in place in one rename: a reader sees the old file or the whole new one, and an
// interrupted copy leaves at most that temporary file, which the next copy to the same place
// removes once its process is gone. An existing target is replaced only while no other process
// has it open, and its image job records move into the new file.
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { closeSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, rmSync, statSync, chmodSync, existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ioMessage, UserError } from '../../errors.js';
import { readOnly } from '../../index/db-errors.js';
import { holdsIndex, TargetNotEmpty } from '../not-empty.js';
import {
  COPY_COLUMNS, COPY_ORDER, COPY_TABLES, type CopyCounts, type CopyRow, type CopyTable, type IndexLoad, type IndexSnapshot, type LoadOptions,
} from '../port.js';
import { databaseError, writeBlocker } from './errors.js';
import { openForWriting } from './open.js';
import { migrate, SCHEMA_VERSION } from './schema.js';

const BUSY_TIMEOUT_MS = 30_000;

function countRows(db: Database): CopyCounts {
  const n = (t: string): number => db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number;
  const out = { image_jobs: n('image_jobs') } as CopyCounts;
  for (const t of COPY_TABLES) out[t] = n(t);
  return out;
}

const selectSql = (t: CopyTable): string => `SELECT ${COPY_COLUMNS[t].join(', ')} FROM ${t} ORDER BY ${COPY_ORDER[t].join(', ')}`;

export class SqliteSnapshot implements IndexSnapshot {
  readonly schemaVersion: number;
  readonly counts: CopyCounts;
  private open = true;

  constructor(private readonly db: Database, private readonly guard: <T>(fn: () => T) => T) {
    // Deferred: the first read below fixes the snapshot every later read sees.
    db.exec('BEGIN');
    try {
      this.schemaVersion = db.pragma('user_version', { simple: true }) as number;
      this.counts = countRows(db);
    } catch (e) {
      db.exec('ROLLBACK');
      throw e;
    }
  }

  async *rows(table: CopyTable, batch = 10_000): AsyncIterable<CopyRow[]> {
    const it = this.guard(() => this.db.prepare(selectSql(table)).raw().iterate() as IterableIterator<CopyRow>);
    try {
      for (;;) {
        const chunk = this.guard(() => {
          const out: CopyRow[] = [];
          for (let r = it.next(); !r.done; r = it.next()) {
            out.push(r.value);
            if (out.length >= batch) break;
          }
          return out;
        });
        if (chunk.length) yield chunk;
        if (chunk.length < batch) return;
      }
    } finally {
      it.return?.();
    }
  }

  async close(): Promise<void> {
    if (this.open && this.db.open && this.db.inTransaction) this.db.exec('COMMIT');
    this.open = false;
  }
}

/** ".NAME.copy-PID" beside the target, and the pid of such a name. */
const TEMP = (file: string): RegExp => new RegExp(`^\\.${basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.copy-(\\d+)(-wal|-shm|-journal)?$`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temporary files of copies to `file` whose process is gone (killed mid-copy). */
function removeStaleTemps(file: string): void {
  const re = TEMP(file);
  let names: string[];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return;
  }
  for (const n of names) {
    const m = re.exec(n);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) rmSync(join(dirname(file), n), { force: true });
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class SqliteIndexLoad implements IndexLoad {
  readonly schemaVersion = SCHEMA_VERSION;
  private readonly temp: string;
  private db?: Database;
  private readonly inserts = new Map<CopyTable, Statement>();
  private indexes: string[] = [];
  private done = false;

  private constructor(readonly file: string, readonly previous: CopyCounts, private readonly existed: boolean, private readonly o: LoadOptions) {
    this.temp = join(dirname(file), `.${basename(file)}.copy-${process.pid}`);
  }

  /** `file` must be absent, empty, or a darkforge index (holding no index unless `o.replace`). */
  static async open(file: string, o: LoadOptions): Promise<SqliteIndexLoad> {
    const blocked = writeBlocker(file);
    if (blocked) throw readOnly(file, blocked, true);
    const existed = existsSync(file) && statSync(file).size > 0;
    let previous = { image_jobs: 0 } as CopyCounts;
    for (const t of COPY_TABLES) previous[t] = 0;
    if (existed) {
      // Brought to the current schema as any command would, so its image jobs move over as they are.
      const db = openForWriting(file);
      try {
        previous = guard(file, () => countRows(db));
      } finally {
        db.close();
      }
      if (holdsIndex(previous) && !o.replace) throw new TargetNotEmpty(file, previous);
    } else {
      try {
        mkdirSync(dirname(file), { recursive: true });
      } catch (e) {
        throw new UserError(`${file}: cannot create its folder (${ioMessage(e)})`, 2);
      }
    }
    removeStaleTemps(file);
    const load = new SqliteIndexLoad(file, previous, existed, o);
    try {
      load.start();
    } catch (e) {
      await load.abort();
      throw e;
    }
    return load;
  }

  private start(): void {
    for (const f of this.tempFiles()) rmSync(f, { force: true });
    const db = this.db = guard(this.file, () => new BetterSqlite3(this.temp));
    guard(this.file, () => {
      // Nobody else reads this file before the rename, and a failed copy is thrown away whole.
      db.pragma('journal_mode = OFF');
      db.pragma('synchronous = OFF');
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('cache_size = -65536');
      migrate(db, this.file);
      this.indexes = (db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
        AND tbl_name IN (${COPY_TABLES.map((t) => `'${t}'`).join(', ')})`).all() as { name: string; sql: string }[]).map((i) => {
        db.exec(`DROP INDEX ${i.name}`);
        return i.sql;
      });
      // The source brings its own interned names and types, seeds included.
      db.exec('DELETE FROM names; DELETE FROM file_types');
      // References are checked once, at commit (foreign_key_check), with a sentence that says
      // nothing was changed; row by row, the first orphan would stop the load with SQLite's words.
      db.pragma('foreign_keys = OFF');
      for (const t of COPY_TABLES) {
        const cols = COPY_COLUMNS[t];
        this.inserts.set(t, db.prepare(`INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`));
      }
      db.exec('BEGIN');
    });
  }

  private tempFiles(): string[] {
    return ['', '-wal', '-shm', '-journal'].map((s) => `${this.temp}${s}`);
  }

  async write(table: CopyTable, rows: CopyRow[]): Promise<void> {
    const st = this.inserts.get(table);
    if (!st || !this.db?.open) throw new Error('the load is closed');
    guard(this.file, () => { for (const r of rows) st.run(r); });
  }

  async commit(): Promise<void> {
    const db = this.db;
    if (!db?.open || this.done) throw new Error('the load is closed');
    let old: Database | undefined;
    try {
      guard(this.file, () => {
        for (const sql of this.indexes) db.exec(sql);
        const orphans = db.pragma('foreign_key_check') as { table: string; parent: string }[];
        if (orphans.length) {
          throw new UserError(`${this.file}: the copied rows refer to rows that are not there (${orphans.length} in ${orphans[0].table}, `
            + `to ${orphans[0].parent}); nothing was changed`, 1);
        }
        db.exec('COMMIT');
      });
      if (this.existed) old = this.takeOver(db);
      guard(this.file, () => {
        db.pragma('locking_mode = NORMAL');
        db.pragma('journal_mode = WAL');
        db.close();
      });
      fsyncPath(this.temp);
      if (old) {
        renameSync(this.temp, this.file);
      } else {
        // Never over a file that appeared meanwhile: a link fails when the name is taken.
        try {
          linkSync(this.temp, this.file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`${this.file}: appeared while the copy was written; nothing was changed`, 1);
          throw e;
        }
        rmSync(this.temp, { force: true });
      }
      this.done = true;
      fsyncPath(dirname(this.file));
    } catch (e) {
      await this.abort();
      throw databaseError(this.file, e) ?? e;
    } finally {
      old?.close();
    }
  }

  /**
   * The existing target, locked for the rename: only when no other process has it open (leaving
   * WAL mode needs the only connection), checked again for an index written meanwhile, its image
   * job records moved into the new file. The returned connection holds the lock until closed.
   */
  private takeOver(db: Database): Database {
    const old = guard(this.file, () => new BetterSqlite3(this.file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS }));
    try {
      const mode = guard(this.file, () => old.pragma('journal_mode = DELETE', { simple: true }));
      if (mode !== 'delete') {
        throw new UserError(`${this.file}: another process has it open (darkserver serve, an import, an image job?); `
          + 'stop it and run the copy again, nothing was changed', 1);
      }
      guard(this.file, () => {
        old.exec('BEGIN EXCLUSIVE');
        const now = countRows(old);
        if (holdsIndex(now) && !this.o.replace) throw new TargetNotEmpty(this.file, now);
        const jobs = old.prepare('SELECT * FROM image_jobs ORDER BY id').all() as Record<string, unknown>[];
        if (jobs.length) {
          const cols = Object.keys(jobs[0]);
          const ins = db.prepare(`INSERT INTO image_jobs (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`);
          db.transaction(() => { for (const j of jobs) ins.run(j); })();
        }
      });
      chmodSync(this.temp, statSync(this.file).mode & 0o7777);
      return old;
    } catch (e) {
      old.close();
      throw e;
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      if (this.db?.open) this.db.close();
    } catch { /* closing a broken file: it is removed below */ }
    for (const f of this.tempFiles()) rmSync(f, { force: true });
  }
}

function guard<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw databaseError(file, e) ?? e;
  }
}
