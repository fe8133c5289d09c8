// A throwaway PostgreSQL cluster for tests: Debian's postgresql binaries, initdb into a temp folder
// as a non-root user (postgres refuses to run as root: as root the tests run it as "nobody"), a
// free loopback port and a private socket folder, settings for speed that only tests may use
// (fsync off). Started once per test file (startPg in a before hook), stopped after, and killed
// when the test process exits whatever happens. Logins over TCP need the password (scram), as a
// real server's do; the databases sort text by an ICU locale, not bytewise, so answers that must
// come in SQLite's order have to ask for it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import pg from 'pg';

export const PG_USER = 'darkforge';

/** The newest PostgreSQL server binaries on this machine, or undefined. */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : undefined;
}

export const HAVE_PG = pgBinDir() !== undefined;

export interface PgCluster {
  host: string;
  port: number;
  socketDir: string;
  password: string;
  dataDir: string;
  /** postgresql://darkforge:PASSWORD@127.0.0.1:PORT/DB */
  url(db?: string): string;
  /** The same URL through another address the server listens on (PgOptions.listen), e.g. for test machines. */
  urlAt(address: string, db?: string): string;
  /** The same URL without the password (what darkforge shows). */
  shown(db?: string): string;
  /** A new empty database; returns its URL (with the password). */
  newDatabase(prefix?: string): Promise<string>;
  /** SQL as the superuser, in database `db` (default postgres). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], db?: string): Promise<R[]>;
  /** Stop the server (fast shutdown) and remove its files. */
  stop(): Promise<void>;
  /** Stop the server at once (immediate shutdown, as a crash would); start() brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let counter = 0;

export interface PgOptions {
  /** Serve TLS with this certificate and key (PEM); TCP logins then need TLS too. */
  tls?: { cert: string; key: string };
  /** Listen on these addresses too (besides 127.0.0.1), e.g. the host side of test machines' links (helpers/netns.ts). */
  listen?: string[];
  /** Networks (CIDR) whose clients may log in over TCP, with the password, besides loopback. */
  allow?: string[];
  /** Server settings (postgres -c NAME=VALUE) over the tests' own, e.g. a bigger shared_buffers for the benchmark. */
  settings?: Record<string, string>;
}

export async function startPg(o: PgOptions = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  const root = mkdtempSync(join(tmpdir(), 'darkforge-pg-'));
  const asRoot = process.getuid?.() === 0;
  // postgres will not run as root: as root, run it as nobody in a folder nobody owns.
  const ids = asRoot ? { uid: 65534, gid: 65534 } : {};
  if (asRoot) chownSync(root, 65534, 65534);
  const dataDir = join(root, 'data');
  const socketDir = root;
  const password = randomBytes(12).toString('hex');
  const pwfile = join(root, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) chownSync(pwfile, 65534, 65534);
  execFileSync(join(bin, 'initdb'), ['-D', dataDir, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256',
    '-E', 'UTF8', '--locale=C', '--locale-provider=icu', '--icu-locale=en-US', '--no-sync'], { ...ids, stdio: 'pipe', cwd: root });
  rmSync(pwfile);
  const tlsArgs: string[] = [];
  if (o.tls) {
    for (const [name, pem] of [['server.crt', o.tls.cert], ['server.key', o.tls.key]] as const) {
      writeFileSync(join(dataDir, name), pem, { mode: 0o600 });
      if (asRoot) chownSync(join(dataDir, name), 65534, 65534);
    }
    tlsArgs.push('-c', 'ssl=on', '-c', 'ssl_cert_file=server.crt', '-c', 'ssl_key_file=server.key');
    const hba = join(dataDir, 'pg_hba.conf');
    writeFileSync(hba, readFileSync(hba, 'utf8').replace(/^host(\s)/gm, 'hostssl$1'));
  }
  if (o.allow?.length) {
    const hba = join(dataDir, 'pg_hba.conf');
    const kind = o.tls ? 'hostssl' : 'host';
    writeFileSync(hba, `${readFileSync(hba, 'utf8')}\n${o.allow.map((c) => `${kind} all all ${c} scram-sha-256`).join('\n')}\n`);
  }
  const listen = ['127.0.0.1', ...(o.listen ?? [])].join(',');
  let port = await freePort();
  let proc: ChildProcess | undefined;
  const log = join(root, 'server.log');

  const start = async (): Promise<void> => {
    const out = openSync(log, 'a');
    proc = spawn(join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), '-k', socketDir, '-c', `listen_addresses=${listen}`,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
      '-c', 'shared_buffers=32MB', '-c', 'log_min_messages=warning', '-c', 'log_min_error_statement=panic', ...tlsArgs,
      ...Object.entries(o.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    { ...ids, stdio: ['ignore', out, out], cwd: root });
    const child = proc;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const c = new pg.Client({ host: socketDir, port, user: PG_USER, database: 'postgres' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.end();
        return;
      } catch {
        await c.end().catch(() => undefined);
      }
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('wait'), 50))]);
      if (code !== 'wait') throw new Error(`postgres exited (${code}) before accepting connections:\n${readFileSync(log, 'utf8')}`);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s:\n${readFileSync(log, 'utf8')}`);
    }
  };
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await done;
  };
  try {
    await start();
  } catch (e) {
    // Another process took the port between the probe and the start: once more on another.
    if (!/could not bind|Address already in use/.test(String(e))) throw e;
    port = await freePort();
    await start();
  }
  // Whatever ends this test process, the server ends with it.
  const onExit = (): void => {
    try { proc?.kill('SIGQUIT'); } catch { /* gone */ }
    rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const host = '127.0.0.1';
  const url = (db = 'postgres'): string => `postgresql://${PG_USER}:${password}@${host}:${port}/${db}`;
  const sql = async <R extends pg.QueryResultRow>(text: string, values?: unknown[], db = 'postgres'): Promise<R[]> => {
    const c = new pg.Client({ host: socketDir, port, user: PG_USER, database: db });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query<R>(text, values)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    host, port, socketDir, password, dataDir, url, sql,
    urlAt: (address: string, db = 'postgres') => `postgresql://${PG_USER}:${password}@${address}:${port}/${db}`,
    shown: (db = 'postgres') => `postgresql://${PG_USER}@${host}:${port}/${db}`,
    newDatabase: async (prefix = 'df') => {
      const name = `${prefix}_${process.pid}_${++counter}`;
      await sql(`CREATE DATABASE ${name}`);
      return url(name);
    },
    stop: async () => {
      await stopWith('SIGINT');
      process.off('exit', onExit);
      rmSync(root, { recursive: true, force: true });
    },
    kill: () => stopWith('SIGQUIT'),
    start,
  };
}

/**
 * The checks PRAGMA integrity_check / foreign_key_check stand for on SQLite: no row points
 * nowhere (files to rpms, names and types; rpms to builds; queue rows to their build), and no
 * build is left without an RPM. PostgreSQL enforces the declared foreign keys itself; the
 * interned name and type ids are checked here.
 */
export async function assertSoundPg(c: PgCluster, url: string): Promise<void> {
  const db = new URL(url).pathname.slice(1);
  const [r] = await c.sql<Record<string, number>>(`SELECT
      (SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM rpms r WHERE r.id = f.rpm_id))::int AS files_without_rpm,
      (SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM names n WHERE n.id = f.dir)
          OR NOT EXISTS (SELECT 1 FROM names n WHERE n.id = f.stem) OR NOT EXISTS (SELECT 1 FROM names n WHERE n.id = f.tail))::int AS files_without_name,
      (SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM file_types t WHERE t.id = f.type))::int AS files_without_type,
      (SELECT count(*) FROM rpms r WHERE NOT EXISTS (SELECT 1 FROM builds b WHERE b.id = r.build_id))::int AS rpms_without_build,
      (SELECT count(*) FROM builds b WHERE NOT EXISTS (SELECT 1 FROM rpms r WHERE r.build_id = b.id))::int AS builds_without_rpm,
      (SELECT count(*) FROM import_rpms q WHERE NOT EXISTS (SELECT 1 FROM import_builds b WHERE b.id = q.job_id))::int AS queue_without_build,
      (SELECT count(*) FROM (SELECT instance, pkgid FROM rpms GROUP BY 1, 2 HAVING count(*) > 1) d)::int AS duplicate_rpms`, [], db);
  assert.deepEqual(r, { files_without_rpm: 0, files_without_name: 0, files_without_type: 0, rpms_without_build: 0, builds_without_rpm: 0,
    queue_without_build: 0, duplicate_rpms: 0 }, `${db}: rows that point nowhere`);
}
