// Schema migrations, applied in order inside one transaction; PRAGMA user_version records the
// last one applied. Never edit a shipped migration: add the next one.
import type { Database } from 'better-sqlite3';
import { UserError } from '../errors.js';

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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new UserError(`${file}: database schema version ${current} is newer than this darkforge understands (${SCHEMA_VERSION}); upgrade darkforge`);
  }
  if (current === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
