// The store in one SQLite file (the embedded default). One RPM is written in one transaction,
// so a crash or an error leaves either all of its rows or none. better-sqlite3 is synchronous:
// every operation runs to its end (transaction included) before the promise it returns settles,
// so no other operation of this process ever runs inside it.
import type { Database, Statement } from 'better-sqlite3';
import { UserError } from '../../errors.js';
import { readOnly } from '../../index/db-errors.js';
import { splitPath } from '../path-parts.js';
import { lazyPort } from '../lazy-port.js';
import type {
  Backend, ImageJobStore, ImportQueueStore, IndexSnapshot, IndexStats, InstanceRecord, Match, RpmRecord, RpmSummary, Store, StoreOptions,
} from '../port.js';
import { databaseError, writeBlocker } from './errors.js';
import { fileExists, openForReading, openForWriting, openUnchanged } from './open.js';
import { lazyStatements } from './statements.js';

// A path is stored as three interned names (path-parts.ts) and a type as a file_types id.
const MATCH_SELECT = `
  SELECT lower(hex(f.buildid)) AS buildid, d.name || s.name || t.name AS elf, r.nvra AS rpm, b.distro AS distro, r.url AS url,
         ft.name AS type, r.arch AS arch, b.nvr AS nvr, r.instance AS instance, b.koji_build_id AS kojibuildid,
         r.name AS rpmName, r.version AS rpmVersion, r.release AS rpmRelease
  FROM files f
  JOIN names d ON d.id = f.dir JOIN names s ON s.id = f.stem JOIN names t ON t.id = f.tail
  JOIN file_types ft ON ft.id = f.type
  JOIN rpms r ON r.id = f.rpm_id JOIN builds b ON b.id = r.build_id`;

// Ties (one NVRA in two instances, a path twice in one RPM) in the order they were written.
const MATCH_ORDER = 'ORDER BY r.nvra, elf, r.id, f.seq';

/** Build-ids are whole bytes: Buffer.from would drop an odd last digit and match another id. */
function idBytes(hex: string): Buffer | undefined {
  return hex.length % 2 === 0 ? Buffer.from(hex, 'hex') : undefined;
}

export class SqliteStore implements Store {
  readonly backend: Backend = 'sqlite';
  /** One machine's file: processes elsewhere cannot share it (SQLite over a network file system is not supported). */
  readonly shared = false;
  readonly db: Database;
  readonly readOnly: boolean;
  private queueStore?: ImportQueueStore;
  private jobStore?: ImageJobStore;
  private readonly stmts: Record<string, Statement>;
  /** file_types ids by name, as committed when the store was opened (rows there are never deleted). */
  private readonly typeIds = new Map<string, number>();

  constructor(readonly file: string, opts: StoreOptions = {}) {
    if ((opts.mustExist || opts.readOnly) && !fileExists(file)) {
      throw new UserError(`${file}: no index database there yet (run "darkserver index" first, or pass --db)`);
    }
    // Refuse a read-only index before anything is opened or written (not even the folder).
    const blocked = writeBlocker(file);
    if (blocked && !opts.readOnlyOk && !opts.readOnly) throw readOnly(file, blocked, true);
    this.readOnly = blocked !== undefined || opts.readOnly === true;
    this.db = blocked !== undefined ? openForReading(file) : opts.readOnly ? openUnchanged(file) : openForWriting(file);
    const s = (sql: string): string => sql;
    this.stmts = lazyStatements(this.db, {
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
      nameId: ['SELECT id FROM names WHERE name = ?', 'pluck'],
      insertName: s('INSERT INTO names (name) VALUES (?)'),
      typeId: ['SELECT id FROM file_types WHERE name = ?', 'pluck'],
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
    });
    for (const [name, id] of this.db.prepare('SELECT name, id FROM file_types').raw().all() as [string, number][]) this.typeIds.set(name, id);
  }

  // Loaded when first used: a query or an index run never needs them.
  get queue(): ImportQueueStore {
    return this.queueStore ??= lazyPort(async () => {
      const { SqliteImportQueue } = await import('./queue.js');
      return new SqliteImportQueue(this.db, (fn) => this.guard(fn), (rec) => this.writeRpm(rec));
    });
  }

  get imageJobs(): ImageJobStore {
    return this.jobStore ??= lazyPort(async () => {
      const { SqliteImageJobs } = await import('./image-jobs.js');
      return new SqliteImageJobs(this.db, (fn) => this.guard(fn));
    });
  }

  async snapshot(): Promise<IndexSnapshot> {
    const { SqliteSnapshot } = await import('./copy.js');
    return this.guard(() => new SqliteSnapshot(this.db, (fn) => this.guard(fn)));
  }

  /** Run `fn`, turning SQLite's failures of the database itself into DatabaseErrors naming the file. */
  guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw databaseError(this.file, e) ?? e;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async hasRpm(instance: string, pkgid: string): Promise<boolean> {
    return this.guard(() => this.stmts.hasRpm.get(instance, pkgid) !== undefined);
  }

  async addRpm(rec: RpmRecord): Promise<boolean> {
    return this.guard(() => this.db.transaction(() => this.writeRpm(rec)).immediate());
  }

  /** addRpm's writes, inside a transaction the caller holds. */
  writeRpm(rec: RpmRecord): boolean {
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
  }

  private typeId(type: string): number | bigint {
    const known = this.typeIds.get(type);
    if (known !== undefined) return known;
    if (typeof type !== 'string') throw new TypeError('a file row without a type');
    return (this.stmts.typeId.get(type) as number | undefined) ?? this.stmts.insertType.run(type).lastInsertRowid;
  }

  async byBuildId(hex: string): Promise<Match[]> {
    const id = idBytes(hex);
    return id ? this.guard(() => this.stmts.byBuildId.all(id) as Match[]) : [];
  }

  async byNvra(nvra: string): Promise<Match[]> {
    return this.guard(() => this.stmts.byNvra.all(nvra) as Match[]);
  }

  async rpmsNamed(q: string): Promise<RpmSummary[]> {
    return this.guard(() => this.stmts.rpmsNamed.all({ q }) as RpmSummary[]);
  }

  async buildSiblings(hex: string): Promise<RpmSummary[]> {
    const id = idBytes(hex);
    return id ? this.guard(() => this.stmts.buildSiblings.all(id) as RpmSummary[]) : [];
  }

  async saveInstance(i: InstanceRecord): Promise<void> {
    this.guard(() => this.stmts.saveInstance.run({
      name: i.name, hub: i.hub, topurl: i.topurl, weburl: i.weburl ?? null,
      mirrors: JSON.stringify(i.mirrors), retrace: JSON.stringify(i.retrace), t: Math.floor(Date.now() / 1000),
    }));
  }

  async instances(): Promise<Map<string, InstanceRecord>> {
    const rows = this.guard(() => this.stmts.instances.all() as { name: string; hub: string; topurl: string; weburl: string | null; mirrors: string; retrace: string }[]);
    return new Map(rows.map((r) => [r.name, { ...r, weburl: r.weburl ?? undefined, mirrors: JSON.parse(r.mirrors), retrace: JSON.parse(r.retrace) }]));
  }

  async hasNvra(nvra: string): Promise<boolean> {
    return this.guard(() => this.stmts.rpmByNvra.get(nvra) !== undefined);
  }

  async byPath(path: string): Promise<Match[]> {
    return this.guard(() => {
      const ids = splitPath(path).map((p) => (p === '' ? 0 : this.stmts.nameId.get(p) as number | undefined));
      if (ids.some((id) => id === undefined)) return [];
      return this.stmts.byPath.all(...ids) as Match[];
    });
  }

  async stats(): Promise<IndexStats> {
    return this.guard(() => {
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
    });
  }
}
