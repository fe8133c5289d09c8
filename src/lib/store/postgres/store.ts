// The store in a PostgreSQL database, shared by darkforge processes on any number of machines.
// Same tables and answers as the SQLite adapter; one RPM is written in one transaction (all of
// its rows or none), its files in one multi-row insert.
import { UserError } from '../../errors.js';
import { readOnly } from '../../index/db-errors.js';
import { splitPath } from '../path-parts.js';
import type {
  Backend, IndexSnapshot, IndexStats, InstanceRecord, Match, RpmRecord, RpmSummary, Store, StoreOptions,
} from '../port.js';
import { nowS, PgDb, TxClient } from './db.js';
import { PgImageJobs } from './image-jobs.js';
import { PgImportQueue } from './queue.js';
import { migrate, PG_SCHEMA_VERSION, schemaVersion } from './schema.js';
import { parsePgTarget, type PgTarget } from './target.js';

// A path is stored as three interned names (path-parts.ts) and a type as a file_types id. The
// shape pins the plan to index lookups whatever the statistics say (a table just filled has none
// until autovacuum analyzes it, and the join planner then chose hash joins over whole tables:
// 3 ms instead of 0.1): the matching files rows come first, each name, type and RPM is then
// fetched by its key (scalar subqueries; OFFSET 0 keeps the RPM subquery from being flattened
// into a join). Quoted aliases: PostgreSQL folds unquoted ones to lower case.
const matchSelect = (files: string): string => `
  SELECT encode(f.buildid, 'hex') AS buildid,
         (SELECT name FROM names WHERE id = f.dir) || (SELECT name FROM names WHERE id = f.stem) || (SELECT name FROM names WHERE id = f.tail) AS elf,
         r.nvra AS rpm, r.distro, r.url, (SELECT name FROM file_types WHERE id = f.type) AS type, r.arch, r.nvr, r.instance, r.kojibuildid,
         r."rpmName", r."rpmVersion", r."rpmRelease"
  FROM ${files}
  CROSS JOIN LATERAL (SELECT r.id, r.nvra, b.distro, r.url, r.arch, b.nvr, r.instance, b.koji_build_id AS kojibuildid,
                             r.name AS "rpmName", r.version AS "rpmVersion", r.release AS "rpmRelease"
                      FROM rpms r JOIN builds b ON b.id = r.build_id WHERE r.id = f.rpm_id OFFSET 0) r`;

// Ties (one NVRA in two instances, a path twice in one RPM) in the order they were written.
const MATCH_ORDER = 'ORDER BY r.nvra, elf, r.id, f.seq';

const SUMMARY = `SELECT r.nvra, r.name, r.version, r.release, r.arch, r.url, r.instance, b.koji_build_id AS kojibuildid, b.distro
                 FROM rpms r JOIN builds b ON b.id = r.build_id`;

// Named statements: each connection prepares them once.
const Q = {
  hasRpm: { name: 'df_has_rpm', text: 'SELECT 1 FROM rpms WHERE instance = $1 AND pkgid = $2' },
  byBuildId: { name: 'df_by_buildid', text: `${matchSelect('files f')} WHERE f.buildid = $1 ${MATCH_ORDER}` },
  byNvra: {
    name: 'df_by_nvra',
    text: `${matchSelect('rpms x CROSS JOIN LATERAL (SELECT * FROM files WHERE rpm_id = x.id OFFSET 0) f')} WHERE x.nvra = $1 ${MATCH_ORDER}`,
  },
  byPath: {
    name: 'df_by_path',
    text: `${matchSelect('files f')} WHERE f.dir = (SELECT id FROM names WHERE name = $1) AND f.stem = (SELECT id FROM names WHERE name = $2)
           AND f.tail = (SELECT id FROM names WHERE name = $3) ${MATCH_ORDER}`,
  },
  hasNvra: { name: 'df_has_nvra', text: 'SELECT 1 FROM rpms WHERE nvra = $1 LIMIT 1' },
  rpmsNamed: { name: 'df_rpms_named', text: `${SUMMARY} WHERE r.nvra = $1 OR r.name = $1 ORDER BY r.instance, r.nvra` },
  buildSiblings: {
    name: 'df_build_siblings',
    text: `${SUMMARY} WHERE r.build_id IN (SELECT r2.build_id FROM files f JOIN rpms r2 ON r2.id = f.rpm_id WHERE f.buildid = $1)
           ORDER BY r.instance = 'local' DESC, r.nvra`,
  },
  instances: { name: 'df_instances', text: 'SELECT * FROM instances' },
  findBuild: { name: 'df_find_build', text: 'SELECT id FROM builds WHERE instance = $1 AND nvr = $2' },
  insertBuild: {
    name: 'df_insert_build',
    text: `INSERT INTO builds (instance, name, version, release, nvr, koji_build_id, distro) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (instance, nvr) DO NOTHING RETURNING id`,
  },
  insertRpm: {
    name: 'df_insert_rpm',
    text: `INSERT INTO rpms (build_id, instance, pkgid, name, epoch, version, release, arch, nvra, source_rpm, url,
             size, payload_compressor, method, elf_files, elf_without_buildid, indexed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
           ON CONFLICT (instance, pkgid) DO NOTHING RETURNING id`,
  },
  // New names in byte order (concurrent writers then wait on each other in one order, not in a
  // cycle), then the ids of all of them. A name another writer adds meanwhile is looked up again.
  internNames: {
    name: 'df_intern_names',
    text: `WITH input AS (SELECT DISTINCT unnest($1::text[]) COLLATE "C" AS name),
           added AS (INSERT INTO names (name) SELECT i.name FROM input i WHERE NOT EXISTS (SELECT 1 FROM names n WHERE n.name = i.name)
                     ORDER BY i.name ON CONFLICT (name) DO NOTHING RETURNING id, name)
           SELECT id, name FROM added UNION ALL SELECT n.id, n.name FROM names n JOIN input i ON i.name = n.name`,
  },
  nameIds: { name: 'df_name_ids', text: 'SELECT id, name FROM names WHERE name = ANY($1::text[])' },
  internType: {
    name: 'df_intern_type',
    text: `WITH added AS (INSERT INTO file_types (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id)
           SELECT id FROM added UNION ALL SELECT id FROM file_types WHERE name = $1`,
  },
  insertFiles: {
    name: 'df_insert_files',
    text: `INSERT INTO files (rpm_id, seq, dir, stem, tail, type, buildid)
           SELECT $1, u.seq, u.dir, u.stem, u.tail, u.type, u.buildid
           FROM unnest($2::integer[], $3::integer[], $4::integer[], $5::integer[], $6::smallint[], $7::bytea[]) AS u(seq, dir, stem, tail, type, buildid)`,
  },
};

/** Build-ids are whole bytes: Buffer.from would drop an odd last digit and match another id. */
function idBytes(hex: string): Buffer | undefined {
  return hex.length % 2 === 0 ? Buffer.from(hex, 'hex') : undefined;
}

export class PostgresStore implements Store {
  readonly backend: Backend = 'postgresql';
  readonly shared = true;
  readonly file: string;
  readonly queue: PgImportQueue;
  readonly imageJobs: PgImageJobs;
  /** file_types ids by name, read with the first RPM written (rows there are never deleted). */
  private readonly typeIds = new Map<string, number>();
  private typesLoaded = false;

  constructor(readonly db: PgDb, readonly readOnly: boolean) {
    this.file = db.display;
    this.queue = new PgImportQueue(db, (c, rec) => this.writeRpm(c, rec));
    this.imageJobs = new PgImageJobs(db);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async snapshot(): Promise<IndexSnapshot> {
    const { PgSnapshot } = await import('./copy.js');
    return PgSnapshot.open(this.db);
  }

  async hasRpm(instance: string, pkgid: string): Promise<boolean> {
    return (await this.db.query(Q.hasRpm, [instance, pkgid])).length > 0;
  }

  async addRpm(rec: RpmRecord): Promise<boolean> {
    return this.db.tx((c) => this.writeRpm(c, rec));
  }

  /** addRpm's writes, inside a transaction the caller holds. */
  async writeRpm(c: TxClient, rec: RpmRecord): Promise<boolean> {
    // Checked before anything is sent, as SQLite's adapter fails on them: the RPM is the bad input.
    for (const r of rec.rows) {
      if (typeof r.path !== 'string') throw new TypeError(`${rec.nvra}: a file row without a path`);
      if (typeof r.type !== 'string') throw new TypeError('a file row without a type');
    }
    const b = rec.build;
    let buildId = (await c.query<{ id: number }>(Q.findBuild, [rec.instance, b.nvr]))[0]?.id;
    if (buildId === undefined) {
      buildId = (await c.query<{ id: number }>(Q.insertBuild, [rec.instance, b.name, b.version, b.release, b.nvr, b.kojiBuildId ?? null, b.distro]))[0]?.id
        ?? (await c.query<{ id: number }>(Q.findBuild, [rec.instance, b.nvr]))[0].id;
    }
    const inserted = await c.query<{ id: number }>(Q.insertRpm, [
      buildId, rec.instance, rec.pkgid, rec.name, rec.epoch ?? null, rec.version, rec.release, rec.arch, rec.nvra,
      rec.sourceRpm ?? null, rec.url, rec.size ?? null, rec.payloadCompressor ?? null, rec.method, rec.elfFiles,
      rec.elfWithoutBuildId, nowS(),
    ]);
    if (!inserted.length) return false;
    const rpmId = inserted[0].id;
    if (!rec.rows.length) return true;
    const parts = rec.rows.map((r) => splitPath(r.path));
    const ids = await this.nameIds(c, [...new Set(parts.flat())]);
    const cols: [number[], number[], number[], number[], number[], Buffer[]] = [[], [], [], [], [], []];
    for (let seq = 0; seq < rec.rows.length; seq++) {
      const [dir, stem, tail] = parts[seq];
      cols[0].push(seq);
      cols[1].push(ids.get(dir)!);
      cols[2].push(ids.get(stem)!);
      cols[3].push(ids.get(tail)!);
      cols[4].push(await this.typeId(c, rec.rows[seq].type));
      cols[5].push(Buffer.from(rec.rows[seq].buildId, 'hex'));
    }
    await c.query(Q.insertFiles, [rpmId, ...cols]);
    return true;
  }

  /** Ids of these names, adding the new ones. */
  private async nameIds(c: TxClient, names: string[]): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    for (const r of await c.query<{ id: number; name: string }>(Q.internNames, [names])) ids.set(r.name, r.id);
    const missing = names.filter((n) => !ids.has(n));
    // Added by another transaction after this statement's snapshot: visible to the next one.
    if (missing.length) for (const r of await c.query<{ id: number; name: string }>(Q.nameIds, [missing])) ids.set(r.name, r.id);
    return ids;
  }

  private async typeId(c: TxClient, type: string): Promise<number> {
    if (!this.typesLoaded) {
      for (const r of await c.query<{ id: number; name: string }>('SELECT id, name FROM file_types')) this.typeIds.set(r.name, r.id);
      this.typesLoaded = true;
    }
    let id = this.typeIds.get(type);
    if (id !== undefined) return id;
    // Not remembered: this transaction may still roll back. A type another writer added after
    // this statement's snapshot is seen by the next statement.
    id = (await c.query<{ id: number }>(Q.internType, [type]))[0]?.id
      ?? (await c.query<{ id: number }>('SELECT id FROM file_types WHERE name = $1', [type]))[0].id;
    return id;
  }

  async byBuildId(hex: string): Promise<Match[]> {
    const id = idBytes(hex);
    return id ? this.db.query<Match>(Q.byBuildId, [id]) : [];
  }

  async byNvra(nvra: string): Promise<Match[]> {
    return this.db.query<Match>(Q.byNvra, [nvra]);
  }

  async hasNvra(nvra: string): Promise<boolean> {
    return (await this.db.query(Q.hasNvra, [nvra])).length > 0;
  }

  async byPath(path: string): Promise<Match[]> {
    return this.db.query<Match>(Q.byPath, splitPath(path));
  }

  async rpmsNamed(q: string): Promise<RpmSummary[]> {
    return this.db.query<RpmSummary>(Q.rpmsNamed, [q]);
  }

  async buildSiblings(hex: string): Promise<RpmSummary[]> {
    const id = idBytes(hex);
    return id ? this.db.query<RpmSummary>(Q.buildSiblings, [id]) : [];
  }

  async saveInstance(i: InstanceRecord): Promise<void> {
    await this.db.query(`INSERT INTO instances (name, hub, topurl, weburl, mirrors, retrace, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (name) DO UPDATE SET hub = excluded.hub, topurl = excluded.topurl, weburl = excluded.weburl,
      mirrors = excluded.mirrors, retrace = excluded.retrace, updated_at = excluded.updated_at`,
    [i.name, i.hub, i.topurl, i.weburl ?? null, JSON.stringify(i.mirrors), JSON.stringify(i.retrace), nowS()]);
  }

  async instances(): Promise<Map<string, InstanceRecord>> {
    const rows = await this.db.query<{ name: string; hub: string; topurl: string; weburl: string | null; mirrors: string; retrace: string }>(Q.instances);
    return new Map(rows.map((r) => [r.name, { ...r, weburl: r.weburl ?? undefined, mirrors: JSON.parse(r.mirrors), retrace: JSON.parse(r.retrace) }]));
  }

  async stats(): Promise<IndexStats> {
    const one = async (sql: string): Promise<number> => (await this.db.query<{ n: number | null }>(`SELECT (${sql}) AS n`))[0].n ?? 0;
    const group = async (sql: string): Promise<Record<string, number>> =>
      Object.fromEntries((await this.db.query<{ k: string; n: number }>(sql)).map((r) => [r.k, r.n]));
    const [builds, rpms, files, buildids, elfFiles, elfWithoutBuildId, byType, byInstance, byMethod, version] = await Promise.all([
      one('SELECT count(*) FROM builds'),
      one('SELECT count(*) FROM rpms'),
      one('SELECT count(*) FROM files'),
      one('SELECT count(DISTINCT buildid) FROM files'),
      one('SELECT sum(elf_files) FROM rpms'),
      one('SELECT sum(elf_without_buildid) FROM rpms'),
      group(`SELECT t.name AS k, c.n FROM (SELECT type, count(*) AS n FROM files GROUP BY type) c
             JOIN file_types t ON t.id = c.type ORDER BY t.name`),
      group('SELECT instance AS k, count(*) AS n FROM rpms GROUP BY instance ORDER BY instance'),
      group('SELECT method AS k, count(*) AS n FROM rpms GROUP BY method ORDER BY method'),
      schemaVersion(this.db),
    ]);
    return { builds, rpms, files, buildids, elfFiles, elfWithoutBuildId, byType, byInstance, byMethod, schemaVersion: version };
  }
}

/**
 * Connect, bring the schema up to date (creating it in an empty database), and check that this
 * role may write. A store opened for reading only (query, find, stats, jobs) is never created
 * or migrated by a role that cannot, and is read as it is when its schema is current.
 */
export async function openPostgresStore(url: string, opts: StoreOptions = {}): Promise<Store> {
  const target: PgTarget = parsePgTarget(url);
  const db = new PgDb(target);
  try {
    const version = await schemaVersion(db);
    if (version === 0 && (opts.mustExist || opts.readOnly)) {
      throw new UserError(`${db.display}: no darkforge index in this database yet (run "darkserver index" first, or pass --db)`);
    }
    if (opts.readOnly) {
      if (version < PG_SCHEMA_VERSION) {
        throw new UserError(`${db.display}: the index database was written by an older darkforge (schema ${version}, this one needs `
          + `${PG_SCHEMA_VERSION}); run any darkserver command on it once to upgrade it`);
      }
      if (version > PG_SCHEMA_VERSION) {
        throw new UserError(`${db.display}: database schema version ${version} is newer than this darkforge understands (${PG_SCHEMA_VERSION}); upgrade darkforge`);
      }
      return new PostgresStore(db, true);
    }
    // A reader of a current schema needs no more: it never writes (one round trip less for a query).
    const access = opts.readOnlyOk && version === PG_SCHEMA_VERSION ? true : await writeAccess(db, version);
    if (access !== true && !opts.readOnlyOk) throw readOnly(db.display, access, true);
    if (version < PG_SCHEMA_VERSION) {
      if (access !== true) {
        throw new UserError(`${db.display}: the index database is read-only (${access}) and was written by an older darkforge (schema ${version}, `
          + `this one needs ${PG_SCHEMA_VERSION}); run any darkserver command once with a role that may change it`);
      }
      await migrate(db);
    } else if (version > PG_SCHEMA_VERSION) {
      throw new UserError(`${db.display}: database schema version ${version} is newer than this darkforge understands (${PG_SCHEMA_VERSION}); upgrade darkforge`);
    }
    return new PostgresStore(db, access !== true);
  } catch (e) {
    await db.close();
    throw db.mapError(e);
  }
}

/**
 * True when this role may write the store (and, for a new database, create it); else why not.
 * A standby server, a read-only default transaction, or missing privileges make it read-only.
 */
async function writeAccess(db: PgDb, version: number): Promise<true | string> {
  // The tables of the schema the database has now (image_job_logs came with version 6, import_follow with 7).
  const tables = ['builds', 'rpms', 'files', 'names', 'file_types', 'instances', 'import_builds', 'import_rpms', 'image_jobs',
    ...(version >= 6 ? ['image_job_logs'] : []), ...(version >= 7 ? ['import_follow'] : [])];
  const [r] = await db.query<{ standby: boolean; ro: string; schema: string | null; create: boolean; write: boolean }>(`SELECT pg_is_in_recovery() AS standby,
      current_schema() AS schema,
      current_setting('transaction_read_only') AS ro,
      has_schema_privilege(current_schema(), 'CREATE') AS create,
      ${version === 0 ? 'true' : tables.map((t) => `has_table_privilege('${t}', 'INSERT,UPDATE')`).join(' AND ')} AS write`);
  if (r.standby) return 'a standby server';
  if (r.ro === 'on') return 'default_transaction_read_only is on';
  if (!r.write) return `role ${db.target.user} may not write its tables`;
  if (version < PG_SCHEMA_VERSION && !r.create) return `role ${db.target.user} may not create tables in schema ${r.schema ?? '(none: search_path is empty)'}`;
  return true;
}
