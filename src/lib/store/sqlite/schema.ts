// Schema migrations, applied in order inside one transaction; PRAGMA user_version records the
// last one applied. Never edit a shipped migration: add the next one.
import type { Database } from 'better-sqlite3';
import { UserError } from '../../errors.js';
import { splitPath } from '../path-parts.js';

const MIGRATIONS: string[] = [
  // 1: builds, rpms, files. Build-ids are raw bytes (BLOB), half the size of hex and indexed.
  `
  CREATE TABLE builds (
    id            INTEGER PRIMARY KEY,
    instance      TEXT NOT NULL,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    release       TEXT NOT NULL,
    nvr           TEXT NOT NULL,
    koji_build_id INTEGER,
    distro        TEXT NOT NULL DEFAULT '',
    UNIQUE (instance, nvr)
  );
  CREATE TABLE rpms (
    id                  INTEGER PRIMARY KEY,
    build_id            INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    instance            TEXT NOT NULL,
    pkgid               TEXT NOT NULL,
    name                TEXT NOT NULL,
    epoch               INTEGER,
    version             TEXT NOT NULL,
    release             TEXT NOT NULL,
    arch                TEXT NOT NULL,
    nvra                TEXT NOT NULL,
    source_rpm          TEXT,
    url                 TEXT NOT NULL,
    size                INTEGER,
    payload_compressor  TEXT,
    method              TEXT NOT NULL,
    elf_files           INTEGER NOT NULL,
    elf_without_buildid INTEGER NOT NULL,
    indexed_at          INTEGER NOT NULL,
    UNIQUE (instance, pkgid)
  );
  CREATE INDEX rpms_nvra ON rpms (nvra);
  CREATE INDEX rpms_name ON rpms (name);
  CREATE INDEX rpms_build ON rpms (build_id);
  CREATE TABLE files (
    rpm_id  INTEGER NOT NULL REFERENCES rpms(id) ON DELETE CASCADE,
    buildid BLOB NOT NULL,
    path    TEXT NOT NULL,
    type    TEXT NOT NULL
  );
  CREATE INDEX files_buildid ON files (buildid);
  CREATE INDEX files_path ON files (path);
  CREATE INDEX files_rpm ON files (rpm_id);
  `,
  // 2: Koji import. Instances remember their download URL patterns; the work queue (one row
  // per requested build and per RPM) lives beside the index so an import can resume.
  `
  CREATE TABLE instances (
    name       TEXT PRIMARY KEY,
    hub        TEXT NOT NULL,
    topurl     TEXT NOT NULL,
    weburl     TEXT,
    mirrors    TEXT NOT NULL DEFAULT '[]',
    retrace    TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE import_builds (
    id            INTEGER PRIMARY KEY,
    instance      TEXT NOT NULL,
    koji_build_id INTEGER NOT NULL,
    nvr           TEXT,
    state         TEXT NOT NULL,
    koji_state    INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    worker_pid    INTEGER,
    heartbeat     INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (instance, koji_build_id)
  );
  CREATE INDEX import_builds_state ON import_builds (state);
  CREATE TABLE import_rpms (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES import_builds(id) ON DELETE CASCADE,
    instance      TEXT NOT NULL,
    koji_rpm_id   INTEGER NOT NULL,
    nvra          TEXT NOT NULL,
    url           TEXT NOT NULL,
    payloadhash   TEXT,
    size          INTEGER,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    worker_pid    INTEGER,
    heartbeat     INTEGER,
    bytes_fetched INTEGER,
    method        TEXT,
    updated_at    INTEGER NOT NULL,
    UNIQUE (instance, koji_rpm_id)
  );
  CREATE INDEX import_rpms_state ON import_rpms (state);
  CREATE INDEX import_rpms_job ON import_rpms (job_id);
  `,
  // 3: image build jobs: records that survive restarts (state, process group, log, artifacts).
  `
  CREATE TABLE image_jobs (
    id          INTEGER PRIMARY KEY,
    type        TEXT NOT NULL,
    arch        TEXT NOT NULL,
    backend     TEXT NOT NULL,
    config      TEXT NOT NULL,
    state       TEXT NOT NULL,
    pid         INTEGER,
    pgid        INTEGER,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    job_dir     TEXT NOT NULL,
    log_path    TEXT NOT NULL,
    artifacts   TEXT NOT NULL DEFAULT '[]',
    error       TEXT,
    timeout_s   INTEGER,
    retry_of    INTEGER REFERENCES image_jobs(id)
  );
  CREATE INDEX image_jobs_state ON image_jobs (state);
  `,
  // 4: smaller files rows (issue 7): ~227 -> ~110 bytes per build-id row on a realistic index.
  // Paths are interned as three parts in `names` (dir up to its last "/", stem, and under
  // /usr/lib/debug/ a tail "-VERSION-RELEASE.ARCH.debug"; see splitPath), types as small integers in
  // `file_types`. files is WITHOUT ROWID, clustered by (rpm_id, seq): seq is the row's position in
  // its RPM, so an RPM's rows are contiguous (--rpm, deletes) and duplicate rows survive as before.
  // Indexes: by build-id (the lookup) and by path parts (--file); the primary key serves rpm_id.
  // names rows left unreferenced after an RPM is deleted (by hand: darkforge deletes none) stay, harmless to every answer.
  // darkforge_path_part() is a JS function that migrate() registers: it is used here only, never
  // in the stored schema, so the file stays readable with the sqlite3 shell.
  `
  CREATE TABLE names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
  );
  INSERT INTO names (id, name) VALUES (0, '');
  CREATE TABLE file_types (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
  );
  INSERT INTO file_types (id, name) VALUES
    (0, 'debuginfo'), (1, 'shared-library'), (2, 'executable'), (3, 'kernel-module'), (4, 'relocatable'), (5, 'other');
  INSERT OR IGNORE INTO file_types (name) SELECT DISTINCT type FROM files ORDER BY type;

  CREATE TEMP TABLE v4_paths (path TEXT PRIMARY KEY, dir INTEGER, stem INTEGER, tail INTEGER) WITHOUT ROWID;
  INSERT INTO temp.v4_paths (path) SELECT DISTINCT path FROM files;
  INSERT OR IGNORE INTO names (name) SELECT darkforge_path_part(path, 0) FROM temp.v4_paths;
  INSERT OR IGNORE INTO names (name) SELECT darkforge_path_part(path, 1) FROM temp.v4_paths;
  INSERT OR IGNORE INTO names (name) SELECT darkforge_path_part(path, 2) FROM temp.v4_paths;
  UPDATE temp.v4_paths SET
    dir  = (SELECT id FROM names WHERE name = darkforge_path_part(path, 0)),
    stem = (SELECT id FROM names WHERE name = darkforge_path_part(path, 1)),
    tail = (SELECT id FROM names WHERE name = darkforge_path_part(path, 2));

  CREATE TABLE files_v4 (
    rpm_id  INTEGER NOT NULL REFERENCES rpms(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    dir     INTEGER NOT NULL,
    stem    INTEGER NOT NULL,
    tail    INTEGER NOT NULL,
    type    INTEGER NOT NULL,
    buildid BLOB NOT NULL,
    PRIMARY KEY (rpm_id, seq)
  ) WITHOUT ROWID;
  INSERT INTO files_v4 (rpm_id, seq, dir, stem, tail, type, buildid)
    SELECT f.rpm_id, row_number() OVER (PARTITION BY f.rpm_id ORDER BY f.rowid) - 1, p.dir, p.stem, p.tail, t.id, f.buildid
    FROM files f JOIN temp.v4_paths p ON p.path = f.path JOIN file_types t ON t.name = f.type
    ORDER BY f.rpm_id, f.rowid;
  DROP TABLE temp.v4_paths;
  DROP TABLE files;
  ALTER TABLE files_v4 RENAME TO files;
  CREATE INDEX files_buildid ON files (buildid);
  CREATE INDEX files_path ON files (dir, stem, tail);
  `,
  // 5: claims with a lease (issue 16). A worker is host:pid:random, since a pid means nothing on
  // another machine; a claim lapses at lease_until (milliseconds) unless its worker renews it.
  // Image jobs get the same columns for workers on other machines; host says where pid and pgid
  // mean something.
  `
  ALTER TABLE import_rpms ADD COLUMN worker_id TEXT;
  ALTER TABLE import_rpms ADD COLUMN host TEXT;
  ALTER TABLE import_rpms ADD COLUMN lease_until INTEGER;
  ALTER TABLE image_jobs ADD COLUMN host TEXT;
  ALTER TABLE image_jobs ADD COLUMN worker_id TEXT;
  ALTER TABLE image_jobs ADD COLUMN lease_until INTEGER;
  `,
  // 6: image workers (issue 16). for_worker (0 or 1) marks a job recorded for an `imagebuild
  // worker` (--queue) rather than run by the command that made it. A job's log is kept in the
  // store as well, in pieces appended while it runs (the newest few MB of it), so it can be read
  // from any machine; pos is a piece's byte offset in the whole log.
  `
  ALTER TABLE image_jobs ADD COLUMN for_worker INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE image_job_logs (
    job_id INTEGER NOT NULL REFERENCES image_jobs(id) ON DELETE CASCADE,
    pos    INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (job_id, pos)
  );
  CREATE INDEX image_jobs_waiting ON image_jobs (id) WHERE state = 'queued' AND for_worker = 1;
  `,
  // 7: import --follow and resumes that remember --full (issues 13, 15). full_scan (0 or 1) on a
  // queued build and its RPMs: read the whole payload, whichever run takes them. import_follow:
  // per Koji instance, the last Koji event --follow looked up to (its id and time, seconds by the
  // hub's clock) and the time it was asked to start from (since_ts).
  `
  ALTER TABLE import_builds ADD COLUMN full_scan INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE import_rpms ADD COLUMN full_scan INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE import_follow (
    instance   TEXT PRIMARY KEY,
    event_id   INTEGER,
    event_ts   REAL NOT NULL,
    since_ts   REAL NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
];

/** The oldest schema a read-only opening can answer from: 5 to 7 only added queue and job columns, job logs and follow marks. */
export const READABLE_SCHEMA_VERSION = 4;

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Bring the database to schema version `target` (default: the newest). A lower target is for
 * tests and benchmarks that need an index as an older darkforge wrote it.
 */
export function migrate(db: Database, file: string, target: number = SCHEMA_VERSION): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number;
  const current = version();
  if (current > SCHEMA_VERSION) {
    throw new UserError(`${file}: database schema version ${current} is newer than this darkforge understands (${SCHEMA_VERSION}); upgrade darkforge`);
  }
  if (current >= target) return;
  db.function('darkforge_path_part', { deterministic: true }, (path: unknown, part: unknown) => {
    if (typeof path !== 'string') throw new TypeError('darkforge_path_part: path must be text');
    return splitPath(path)[Number(part)];
  });
  let from = current;
  db.transaction(() => {
    // Another process may have migrated while this one waited for the write lock.
    from = version();
    for (let v = from; v < target; v++) db.exec(MIGRATIONS[v]);
    if (from < target) db.pragma(`user_version = ${target}`);
  }).immediate();
  // Migration 4 rewrites the files table: give the old pages back once (a 10 M-row index goes from
  // 2.9 GB to 1.1 GB in ~20 s). Not possible while another connection reads: then the pages stay
  // free inside the file and new rows reuse them.
  if (from > 0 && from < 4 && target >= 4) {
    try {
      const pages = db.pragma('page_count', { simple: true }) as number;
      if ((db.pragma('freelist_count', { simple: true }) as number) > pages / 4) db.exec('VACUUM');
    } catch { /* busy: keep the free pages */ }
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch { /* busy: the WAL is reused as it is */ }
  }
}
