// The build-id index in SQLite. One RPM is written in one transaction, so a crash or an error
// leaves either all of its rows or none.
import BetterSqlite3, { Database, Statement } from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ioMessage, UserError } from '../errors.js';
import type { KojiInstance } from '../koji/instances.js';
import { FileType } from './filetype.js';
import { FileRow } from './rows.js';
import { databaseError, readOnly, writeBlocker } from './db-errors.js';
import { migrate, SCHEMA_VERSION, splitPath } from './schema.js';

export interface RpmRecord {
  instance: string;
  pkgid: string;
  build: { name: string; version: string; release: string; nvr: string; kojiBuildId?: number; distro: string };
  name: string;
  epoch?: number;
  version: string;
  release: string;
  arch: string;
  nvra: string;
  sourceRpm?: string;
  url: string;
  size?: number;
  payloadCompressor?: string;
  method: string;
  elfFiles: number;
  elfWithoutBuildId: number;
  rows: FileRow[];
}

export interface MatchRow {
  buildid: string;
  elf: string;
  rpm: string;
  distro: string;
  url: string;
  type: FileType;
  arch: string;
  nvr: string;
  instance: string;
  kojibuildid: number | null;
}

export interface IndexStats {
  builds: number;
  rpms: number;
  files: number;
  buildids: number;
  elfWithoutBuildId: number;
  elfFiles: number;
  byType: Record<string, number>;
  byInstance: Record<string, number>;
  byMethod: Record<string, number>;
  schemaVersion: number;
}

// A path is stored as three interned names (schema.ts, splitPath) and a type as a file_types id.
const MATCH_SELECT = `
  SELECT lower(hex(f.buildid)) AS buildid, d.name || s.name || t.name AS elf, r.nvra AS rpm, b.distro AS distro, r.url AS url,
         ft.name AS type, r.arch AS arch, b.nvr AS nvr, r.instance AS instance, b.koji_build_id AS kojibuildid,
         r.name AS rpmName, r.version AS rpmVersion, r.release AS rpmRelease
  FROM files f
  JOIN names d ON d.id = f.dir JOIN names s ON s.id = f.stem JOIN names t ON t.id = f.tail
  JOIN file_types ft ON ft.id = f.type
  JOIN rpms r ON r.id = f.rpm_id JOIN builds b ON b.id = r.build_id`;

/** Columns a match carries for building download URLs; not printed. */
export interface MatchCoordinates {
  rpmName: string;
  rpmVersion: string;
  rpmRelease: string;
}

/** What the index remembers of a Koji instance, to build download URLs later. */
export type InstanceRecord = Omit<KojiInstance, 'source'>;

export interface RpmSummary {
  nvra: string;
  name: string;
  version: string;
  release: string;
  arch: string;
  url: string;
  instance: string;
  kojibuildid: number | null;
  distro: string;
}
// Ties (one NVRA in two instances, a path twice in one RPM) in the order they were written.
const MATCH_ORDER = 'ORDER BY r.nvra, elf, r.id, f.seq';

/** Build-ids are whole bytes: Buffer.from would drop an odd last digit and match another id. */
function idBytes(hex: string): Buffer | undefined {
  return hex.length % 2 === 0 ? Buffer.from(hex, 'hex') : undefined;
}

export interface StoreOptions {
  /** Refuse to create a new database. */
  mustExist?: boolean;
  /** The caller only reads: a database it cannot write is opened read-only instead of refused. */
  readOnlyOk?: boolean;
}

/** How long a statement waits for another process's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 30_000;

function openForWriting(file: string): Database {
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
function openForReading(file: string): Database {
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

/** A database opened read-only cannot be migrated: it must already have this darkforge's schema. */
function checkReadableSchema(db: Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new UserError(`${file}: database schema version ${version} is newer than this darkforge understands (${SCHEMA_VERSION}); upgrade darkforge`);
  }
  if (version < SCHEMA_VERSION) {
    throw new UserError(`${file}: the index database is read-only and was written by an older darkforge (schema ${version}, `
      + `this one needs ${SCHEMA_VERSION}); open it once with write access to upgrade it`);
  }
}

export class Store {
  readonly db: Database;
  private readonly stmts: Record<string, Statement>;
  /** file_types ids by name, as committed when the store was opened (rows there are never deleted). */
  private readonly typeIds = new Map<string, number>();

  /** Opened for reading only: the database (or its folder) cannot be written by this process. */
  readonly readOnly: boolean;

  constructor(readonly file: string, opts: StoreOptions = {}) {
    if (opts.mustExist && file !== ':memory:' && !existsSync(file)) {
      throw new UserError(`${file}: no index database there yet (run "darkserver index" first, or pass --db)`);
    }
    // Refuse a read-only index before anything is opened or written (not even the folder).
    const blocked = writeBlocker(file);
    if (blocked && !opts.readOnlyOk) throw readOnly(file, blocked, true);
    this.readOnly = blocked !== undefined;
    this.db = this.readOnly ? openForReading(file) : openForWriting(file);
    const s = (sql: string): Statement => this.db.prepare(sql);
    this.stmts = {
      hasRpm: s('SELECT 1 FROM rpms WHERE instance = ? AND pkgid = ?'),
      findBuild: s('SELECT id FROM builds WHERE instance = ? AND nvr = ?'),
      insertBuild: s(`INSERT INTO builds (instance, name, version, release, nvr, koji_build_id, distro)
                      VALUES (@instance, @name, @version, @release, @nvr, @kojiBuildId, @distro)`),
      insertRpm: s(`INSERT INTO rpms (build_id, instance, pkgid, name, epoch, version, release, arch, nvra, source_rpm, url,
                      size, payload_compressor, method, elf_files, elf_without_buildid, indexed_at)
                    VALUES (@buildId, @instance, @pkgid, @name, @epoch, @version, @release, @arch, @nvra, @sourceRpm, @url,
                      @size, @payloadCompressor, @method, @elfFiles, @elfWithoutBuildId, @indexedAt)
                    ON CONFLICT (instance, pkgid) DO NOTHING`),
      insertFile: s('INSERT INTO files (rpm_id, seq, dir, stem, tail, type, buildid) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      nameId: s('SELECT id FROM names WHERE name = ?').pluck(),
      insertName: s('INSERT INTO names (name) VALUES (?)'),
      typeId: s('SELECT id FROM file_types WHERE name = ?').pluck(),
      insertType: s('INSERT INTO file_types (name) VALUES (?)'),
      byBuildId: s(`${MATCH_SELECT} WHERE f.buildid = ? ${MATCH_ORDER}`),
      byNvra: s(`${MATCH_SELECT} WHERE r.nvra = ? ${MATCH_ORDER}`),
      byPath: s(`${MATCH_SELECT} WHERE f.dir = ? AND f.stem = ? AND f.tail = ? ${MATCH_ORDER}`),
      rpmByNvra: s('SELECT id FROM rpms WHERE nvra = ?'),
      rpmsNamed: s(`SELECT r.nvra, r.name, r.version, r.release, r.arch, r.url, r.instance, b.koji_build_id AS kojibuildid, b.distro
                    FROM rpms r JOIN builds b ON b.id = r.build_id WHERE r.nvra = @q OR r.name = @q ORDER BY r.instance, r.nvra`),
      saveInstance: s(`INSERT INTO instances (name, hub, topurl, weburl, mirrors, retrace, updated_at)
                       VALUES (@name, @hub, @topurl, @weburl, @mirrors, @retrace, @t)
                       ON CONFLICT (name) DO UPDATE SET hub = excluded.hub, topurl = excluded.topurl, weburl = excluded.weburl,
                       mirrors = excluded.mirrors, retrace = excluded.retrace, updated_at = excluded.updated_at`),
      instances: s('SELECT * FROM instances'),
      buildSiblings: s(`SELECT r.nvra, r.name, r.version, r.release, r.arch, r.url, r.instance, b.koji_build_id AS kojibuildid, b.distro
                        FROM rpms r JOIN builds b ON b.id = r.build_id
                        WHERE r.build_id IN (SELECT r2.build_id FROM files f JOIN rpms r2 ON r2.id = f.rpm_id WHERE f.buildid = ?)
                        ORDER BY r.instance = 'local' DESC, r.nvra`),
    };
    for (const [name, id] of this.db.prepare('SELECT name, id FROM file_types').raw().all() as [string, number][]) this.typeIds.set(name, id);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  hasRpm(instance: string, pkgid: string): boolean {
    return this.stmts.hasRpm.get(instance, pkgid) !== undefined;
  }

  /** Write one RPM and its files atomically. Returns false when that package was already indexed. */
  addRpm(rec: RpmRecord): boolean {
    return this.db.transaction((): boolean => {
      const b = this.stmts.findBuild.get(rec.instance, rec.build.nvr) as { id: number } | undefined;
      const buildId = b?.id ?? Number(this.stmts.insertBuild.run({
        instance: rec.instance, ...rec.build, kojiBuildId: rec.build.kojiBuildId ?? null,
      }).lastInsertRowid);
      const info = this.stmts.insertRpm.run({
        buildId, instance: rec.instance, pkgid: rec.pkgid, name: rec.name, epoch: rec.epoch ?? null,
        version: rec.version, release: rec.release, arch: rec.arch, nvra: rec.nvra, sourceRpm: rec.sourceRpm ?? null,
        url: rec.url, size: rec.size ?? null, payloadCompressor: rec.payloadCompressor ?? null, method: rec.method,
        elfFiles: rec.elfFiles, elfWithoutBuildId: rec.elfWithoutBuildId, indexedAt: Math.floor(Date.now() / 1000),
      });
      if (info.changes === 0) return false;
      const rpmId = info.lastInsertRowid;
      // Name ids looked up in this transaction only: a cache that outlived it could hold ids of a
      // rolled-back insert or of names pruned since.
      const names = new Map<string, number | bigint>([['', 0]]);
      const nameId = (name: string): number | bigint => {
        let id = names.get(name);
        if (id === undefined) {
          id = (this.stmts.nameId.get(name) as number | undefined) ?? this.stmts.insertName.run(name).lastInsertRowid;
          names.set(name, id);
        }
        return id;
      };
      rec.rows.forEach((r, seq) => {
        if (typeof r.path !== 'string') throw new TypeError(`${rec.nvra}: a file row without a path`);
        const [dir, stem, tail] = splitPath(r.path);
        this.stmts.insertFile.run(rpmId, seq, nameId(dir), nameId(stem), nameId(tail), this.typeId(r.type), Buffer.from(r.buildId, 'hex'));
      });
      return true;
    }).immediate();
  }

  private typeId(type: string): number | bigint {
    const known = this.typeIds.get(type);
    if (known !== undefined) return known;
    if (typeof type !== 'string') throw new TypeError('a file row without a type');
    return (this.stmts.typeId.get(type) as number | undefined) ?? this.stmts.insertType.run(type).lastInsertRowid;
  }

  byBuildId(hex: string): (MatchRow & MatchCoordinates)[] {
    const id = idBytes(hex);
    return id ? this.stmts.byBuildId.all(id) as (MatchRow & MatchCoordinates)[] : [];
  }

  byNvra(nvra: string): (MatchRow & MatchCoordinates)[] {
    return this.stmts.byNvra.all(nvra) as (MatchRow & MatchCoordinates)[];
  }

  /** RPMs by N-V-R.A or by package name (darkserver's /package/ route). */
  rpmsNamed(q: string): RpmSummary[] {
    return this.stmts.rpmsNamed.all({ q }) as RpmSummary[];
  }

  /** Every RPM of every build that has a file with this build-id (for its -debugsource RPM). */
  buildSiblings(hex: string): RpmSummary[] {
    const id = idBytes(hex);
    return id ? this.stmts.buildSiblings.all(id) as RpmSummary[] : [];
  }

  saveInstance(i: InstanceRecord): void {
    this.stmts.saveInstance.run({
      name: i.name, hub: i.hub, topurl: i.topurl, weburl: i.weburl ?? null,
      mirrors: JSON.stringify(i.mirrors), retrace: JSON.stringify(i.retrace), t: Math.floor(Date.now() / 1000),
    });
  }

  instances(): Map<string, InstanceRecord> {
    const rows = this.stmts.instances.all() as { name: string; hub: string; topurl: string; weburl: string | null; mirrors: string; retrace: string }[];
    return new Map(rows.map((r) => [r.name, { ...r, weburl: r.weburl ?? undefined, mirrors: JSON.parse(r.mirrors), retrace: JSON.parse(r.retrace) }]));
  }

  hasNvra(nvra: string): boolean {
    return this.stmts.rpmByNvra.get(nvra) !== undefined;
  }

  byPath(path: string): (MatchRow & MatchCoordinates)[] {
    const ids = splitPath(path).map((p) => (p === '' ? 0 : this.stmts.nameId.get(p) as number | undefined));
    if (ids.some((id) => id === undefined)) return [];
    return this.stmts.byPath.all(...ids) as (MatchRow & MatchCoordinates)[];
  }

  stats(): IndexStats {
    const one = (sql: string): number => (this.db.prepare(sql).pluck().get() as number | null) ?? 0;
    const group = (sql: string): Record<string, number> =>
      Object.fromEntries((this.db.prepare(sql).raw().all() as [string, number][]).map(([k, v]) => [k, v]));
    return {
      builds: one('SELECT count(*) FROM builds'),
      rpms: one('SELECT count(*) FROM rpms'),
      files: one('SELECT count(*) FROM files'),
      buildids: one('SELECT count(DISTINCT buildid) FROM files'),
      elfFiles: one('SELECT sum(elf_files) FROM rpms'),
      elfWithoutBuildId: one('SELECT sum(elf_without_buildid) FROM rpms'),
      byType: group(`SELECT t.name, c.n FROM (SELECT type, count(*) AS n FROM files GROUP BY type) c
                     JOIN file_types t ON t.id = c.type ORDER BY t.name`),
      byInstance: group('SELECT instance, count(*) FROM rpms GROUP BY instance ORDER BY instance'),
      byMethod: group('SELECT method, count(*) FROM rpms GROUP BY method ORDER BY method'),
      schemaVersion: this.db.pragma('user_version', { simple: true }) as number,
    };
  }
}
