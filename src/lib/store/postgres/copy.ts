// Copying an index out of and into PostgreSQL (darkserver db copy).
//
// Out: one REPEATABLE READ, READ ONLY transaction (one snapshot for every table, writers go on),
// each table read through a cursor in primary-key order, a batch per FETCH.
//
// In: one transaction. The tables are locked against every other session, emptied (only with
// --replace when they held an index), their foreign keys, unique constraints and secondary
// indexes dropped; the rows stream in with COPY FROM STDIN; at commit the constraints and indexes
// are made again from their own definitions (one sort each, and one pass that checks every
// reference), the identity sequences moved past the copied ids and the tables analyzed. Readers
// wait for the commit and then see the whole new index; an interrupted copy (a signal, a lost
// connection, a killed process) is rolled back by the server and leaves the target as it was.
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Writable } from 'node:stream';
import { UserError } from '../../errors.js';
import { holdsIndex, TargetNotEmpty } from '../not-empty.js';
import {
  COPY_COLUMNS, COPY_ORDER, COPY_TABLES, type CopyCounts, type CopyRow, type CopyTable, type IndexLoad, type IndexSnapshot, type LoadOptions,
} from '../port.js';
import type { PgDb } from './db.js';
import type { PostgresStore } from './store.js';
import { PG_SCHEMA_VERSION } from './schema.js';

const TABLE_LIST = COPY_TABLES.join(', ');
/** Tables whose id is an identity column, to move past the copied ids. */
const IDENTITY: CopyTable[] = ['builds', 'rpms', 'names', 'file_types', 'import_builds', 'import_rpms'];

async function countRows(c: PoolClient): Promise<CopyCounts> {
  const all = [...COPY_TABLES, 'image_jobs'];
  const { rows: [r] } = await c.query<Record<string, number>>(`SELECT ${all.map((t) => `(SELECT count(*) FROM ${t})::bigint AS ${t}`).join(', ')}`);
  return r as unknown as CopyCounts;
}

export class PgSnapshot implements IndexSnapshot {
  private closed = false;

  private constructor(private readonly db: PgDb, private readonly c: PoolClient, readonly schemaVersion: number, readonly counts: CopyCounts) {}

  static async open(db: PgDb): Promise<PgSnapshot> {
    const c = await db.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows: [v] } = await c.query<{ v: number }>('SELECT coalesce(max(version), 0) AS v FROM darkforge_schema');
      return new PgSnapshot(db, c, v.v, await countRows(c));
    } catch (e) {
      c.release(true);
      throw db.mapError(e);
    }
  }

  async *rows(table: CopyTable, batch = 10_000): AsyncIterable<CopyRow[]> {
    const sql = `SELECT ${COPY_COLUMNS[table].join(', ')} FROM ${table} ORDER BY ${COPY_ORDER[table].join(', ')}`;
    let declared = false;
    try {
      await this.c.query(`DECLARE df_copy NO SCROLL CURSOR FOR ${sql}`);
      declared = true;
      for (;;) {
        const { rows } = await this.c.query<CopyRow>({ text: `FETCH ${Number(batch)} FROM df_copy`, rowMode: 'array' });
        if (rows.length) yield rows;
        if (rows.length < batch) break;
      }
    } catch (e) {
      throw this.db.mapError(e);
    } finally {
      if (declared) await this.c.query('CLOSE df_copy').catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.c.query('COMMIT');
      this.c.release();
    } catch {
      this.c.release(true);
    }
  }
}

// COPY's text format: tab between columns, a newline after each row, \N for NULL, and a backslash
// before the backslashes, tabs, newlines and carriage returns inside a value. A bytea is its hex
// form, whose own backslash is escaped as any other.
const SPECIAL = /[\\\t\n\r\0]/;
function field(v: CopyRow[number], table: CopyTable): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  if (Buffer.isBuffer(v)) return `\\\\x${v.toString('hex')}`;
  if (typeof v !== 'string') return String(v);
  if (!SPECIAL.test(v)) return v;
  if (v.includes('\0')) throw new UserError(`a value in ${table} holds a NUL character, which PostgreSQL text cannot store: ${JSON.stringify(v.slice(0, 80))}`, 1);
  return v.replace(/[\\\t\n\r]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : '\\r'));
}

interface Rebuild {
  /** ALTER TABLE … ADD CONSTRAINT / CREATE INDEX, in the order they are made again. */
  sql: string;
  kind: 'unique' | 'index' | 'foreign';
}

export class PgIndexLoad implements IndexLoad {
  readonly schemaVersion = PG_SCHEMA_VERSION;
  private copy?: { table: CopyTable; stream: Writable; done: Promise<void> };
  private rebuild: Rebuild[] = [];
  private finished = false;

  private constructor(private readonly db: PgDb, private readonly c: PoolClient, readonly file: string, readonly previous: CopyCounts) {}

  /** Opens the store at `url` for writing (creating its schema in an empty database) and starts the load's transaction. */
  static async open(url: string, o: LoadOptions): Promise<PgIndexLoad> {
    const { openPostgresStore } = await import('./store.js');
    const store = await openPostgresStore(url) as PostgresStore;
    const db = store.db;
    let c: PoolClient;
    try {
      c = await db.connect();
    } catch (e) {
      await db.close();
      throw e;
    }
    try {
      await c.query('BEGIN');
      // Readers and writers of the index wait for the commit; a session that keeps them locked
      // longer than this makes the copy give up, having changed nothing.
      await c.query(`SET LOCAL lock_timeout = '60s'`);
      await c.query(`LOCK TABLE ${TABLE_LIST} IN ACCESS EXCLUSIVE MODE`);
      const previous = await countRows(c);
      if (holdsIndex(previous) && !o.replace) throw new TargetNotEmpty(db.display, previous);
      await c.query(`TRUNCATE ${TABLE_LIST}`);
      const load = new PgIndexLoad(db, c, db.display, previous);
      await load.dropConstraints();
      return load;
    } catch (e) {
      c.release(true);
      await db.close();
      throw db.mapError(e);
    }
  }

  /** Foreign keys, unique constraints and secondary indexes of the copied tables, noted and dropped (the primary keys stay). */
  private async dropConstraints(): Promise<void> {
    const tables = `ARRAY[${COPY_TABLES.map((t) => `'${t}'`).join(', ')}]::regclass[]`;
    const { rows: cons } = await this.c.query<{ tbl: string; name: string; def: string; type: string }>(`SELECT conrelid::regclass::text AS tbl,
        quote_ident(conname) AS name, pg_get_constraintdef(oid) AS def, contype AS type
      FROM pg_constraint WHERE contype IN ('f', 'u') AND conrelid = ANY(${tables}) ORDER BY contype DESC, conrelid, conname`);
    const { rows: idx } = await this.c.query<{ name: string; def: string }>(`SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def
      FROM pg_index i WHERE indrelid = ANY(${tables}) AND NOT indisprimary
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) ORDER BY 1`);
    // Foreign keys first (they may lean on a unique index), then the rest.
    for (const k of cons) await this.c.query(`ALTER TABLE ${k.tbl} DROP CONSTRAINT ${k.name}`);
    for (const i of idx) await this.c.query(`DROP INDEX ${i.name}`);
    this.rebuild = [
      ...cons.filter((k) => k.type === 'u').map((k): Rebuild => ({ sql: `ALTER TABLE ${k.tbl} ADD CONSTRAINT ${k.name} ${k.def}`, kind: 'unique' })),
      ...idx.map((i): Rebuild => ({ sql: i.def, kind: 'index' })),
      ...cons.filter((k) => k.type === 'f').map((k): Rebuild => ({ sql: `ALTER TABLE ${k.tbl} ADD CONSTRAINT ${k.name} ${k.def}`, kind: 'foreign' })),
    ];
  }

  private async endCopy(): Promise<void> {
    const cp = this.copy;
    if (!cp) return;
    this.copy = undefined;
    cp.stream.end();
    await cp.done;
  }

  async write(table: CopyTable, rows: CopyRow[]): Promise<void> {
    if (this.finished) throw new Error('the load is closed');
    if (this.copy?.table !== table) {
      await this.endCopy();
      const stream = this.c.query(copyFrom(`COPY ${table} (${COPY_COLUMNS[table].join(', ')}) FROM STDIN`));
      const done = new Promise<void>((resolve, reject) => {
        stream.once('finish', resolve);
        stream.once('error', reject);
      });
      done.catch(() => undefined); // awaited by endCopy or the next write
      this.copy = { table, stream, done };
    }
    const cp = this.copy!;
    let text = '';
    for (const r of rows) {
      for (let i = 0; i < r.length; i++) text += (i ? '\t' : '') + field(r[i], table);
      text += '\n';
    }
    try {
      if (!cp.stream.write(text)) {
        await Promise.race([new Promise((r) => cp.stream.once('drain', r)), cp.done]);
      }
    } catch (e) {
      throw this.db.mapError(e);
    }
    // A COPY the server refused fails here rather than at the end.
    await Promise.race([cp.done, Promise.resolve()]).catch((e: unknown) => { throw this.db.mapError(e); });
  }

  async commit(): Promise<void> {
    if (this.finished) throw new Error('the load is closed');
    try {
      await this.endCopy();
      for (const r of this.rebuild) {
        try {
          await this.c.query(r.sql);
        } catch (e) {
          const state = (e as { code?: string }).code;
          if (state === '23503' || state === '23505') {
            throw new UserError(`${this.file}: the copied rows break a ${r.kind === 'foreign' ? 'reference' : 'uniqueness'} rule `
              + `(${(e as Error).message}); nothing was changed`, 1);
          }
          throw e;
        }
      }
      for (const t of IDENTITY) {
        await this.c.query(`SELECT setval(pg_get_serial_sequence('${t}', 'id'), coalesce((SELECT max(id) FROM ${t}), 0) + 1, false)`);
      }
      // Statistics now: the planner of the first queries sees the new sizes.
      await this.c.query(`ANALYZE ${TABLE_LIST}`);
      await this.c.query('COMMIT');
      this.finished = true;
      this.c.release();
      await this.db.close();
    } catch (e) {
      await this.abort();
      throw this.db.mapError(e);
    }
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.copy?.stream.destroy();
    // Closing the connection rolls the transaction back, even in the middle of a COPY.
    this.c.release(true);
    await this.db.close();
  }
}

