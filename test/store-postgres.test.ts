// --db postgresql://… as PostgreSQL's own tools read it, and what an operator meets: libpq's
// environment and password file, TLS with the certificate verified, a role that may only read,
// several processes creating the schema at once, a server that goes away mid-run, and passwords
// that never show. Real PostgreSQL 15 clusters, started here (helpers/pg.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pgCluster } from './helpers/backends.ts';
import { run, tempDir } from './helpers/cli.ts';
import { start } from './helpers/db-faults.ts';
import { buildsFromRpmDir, startFakeKoji } from './helpers/fake-koji.ts';
import { CONF, ib, imageEnv, statusOf, waitFor } from './helpers/image-jobs.ts';
import { FIXTURE_RPMS, FIXTURES, readTruth } from './helpers/paths.ts';
import { assertSoundPg, PG_USER, startPg, type PgCluster } from './helpers/pg.ts';
import { rpmSet } from './helpers/rpm-set.ts';

const truth = readTruth(FIXTURES);
const ID = truth.find((t) => t.rpm === 'df-debug-1.0-1.x86_64.rpm' && t.path === '/usr/bin/df-alpha')!.buildId!;
const oneLine = (s: string): string => s.replace(/\n$/, '');
const noStack = (s: string): void => {
  assert.doesNotMatch(s, /\n\s+at |Unhandled|ERR_UNHANDLED|node:internal/, 'no stack trace, no unhandled error');
};

let c: PgCluster;
let indexed: string;
let clean: string;
before(async () => {
  c = await pgCluster();
  indexed = await c.newDatabase('indexed');
  assert.equal(run('darkserver', ['index', '--db', indexed, FIXTURES]).code, 0);
  clean = run('darkserver', ['query', '--db', indexed, ID]).stdout;
  assert.match(clean, new RegExp(`^${ID}\t`));
});
const dbName = (url: string): string => new URL(url).pathname.slice(1);

describe('where the server is: the URL, libpq\'s environment, its password file', () => {
  // No ~/.pgpass or root.crt of the machine's: a home of its own for every run.
  const env = (more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HOME: tempDir(), PGHOST: '', PGPORT: '', PGUSER: '', PGPASSWORD: '', PGDATABASE: '', ...more });

  test('a bare postgresql:// takes host, port, user, password and database from PGHOST … PGDATABASE', () => {
    const r = run('darkserver', ['query', '--db', 'postgresql://', ID], env({
      PGHOST: '127.0.0.1', PGPORT: String(c.port), PGUSER: PG_USER, PGPASSWORD: c.password, PGDATABASE: dbName(indexed),
    }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, clean);
  });

  test('the Unix socket: ?host=/dir (local logins are trusted here), shown as such', () => {
    const url = `postgresql:///${dbName(indexed)}?host=${encodeURIComponent(c.socketDir)}&port=${c.port}&user=${PG_USER}`;
    const r = run('darkserver', ['stats', '--json', '--db', url], env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).db, `postgresql://${PG_USER}@:${c.port}/${dbName(indexed)}?host=${c.socketDir}`);
  });

  test('~/.pgpass gives the password; one that others may read is ignored with libpq\'s warning', () => {
    const home = tempDir();
    const pgpass = join(home, '.pgpass');
    writeFileSync(pgpass, `# comment\nother:1:*:*:nope\n127.0.0.1:${c.port}:*:${PG_USER}:${c.password.replace(/:/g, '\\:')}\n`, { mode: 0o600 });
    const url = `postgresql://${PG_USER}@127.0.0.1:${c.port}/${dbName(indexed)}`;
    const ok = run('darkserver', ['query', '--db', url, ID], env({ HOME: home }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, clean);
    const viaFile = run('darkserver', ['query', '--db', url, ID], env({ HOME: tempDir(), PGPASSFILE: pgpass }));
    assert.equal(viaFile.code, 0, viaFile.stderr);
    chmodSync(pgpass, 0o644);
    const open = run('darkserver', ['query', '--db', url, ID], env({ HOME: home }));
    assert.equal(open.code, 2);
    assert.equal(open.stderr, `WARNING: password file "${pgpass}" has group or world access; permissions should be u=rw (0600) or less\n`
      + `darkserver query: ${url}: the PostgreSQL server asks for a password and none was given; put it in ~/.pgpass or PGPASSWORD\n`);
  });

  test('a password in the URL is never shown: not in errors, not in --json, not in a job record or on a runner\'s command line', async () => {
    const db = await c.newDatabase('secret');
    const e = { ...imageEnv(), db };
    const idx = run('darkserver', ['index', '--json', '--db', db, FIXTURES]);
    assert.equal(idx.code, 0, idx.stderr);
    assert.equal(JSON.parse(idx.stdout).db, c.shown(dbName(db)));
    for (const args of [['stats', '--json'], ['jobs', '--json'], ['query', '--json', ID], ['query', 'abcdef12'], ['query', '--rpm', 'none-1-1.x86_64']]) {
      const r = run('darkserver', [...args, '--db', db]);
      assert.ok(!`${r.stdout}${r.stderr}`.includes(c.password), args.join(' '));
    }
    const bad = run('darkserver', ['stats', '--db', db.replace(`:${c.port}/`, ':9/')]);
    assert.equal(bad.code, 1);
    assert.ok(!bad.stderr.includes(c.password));
    assert.match(bad.stderr, new RegExp(`^darkserver stats: postgresql://${PG_USER}@127\\.0\\.0\\.1:9/\\w+: cannot connect`));

    // A detached image job on PostgreSQL: its runner gets the password in its environment, not its command line.
    const sub = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--detach', '--json'], { DF_STANDIN_SLEEP: '2' });
    assert.equal(sub.code, 0, sub.stderr);
    const { id } = JSON.parse(sub.stdout) as { id: number };
    const runner = await waitFor('the runner', () => {
      const s = statusOf(e, id);
      return s.state === 'running' ? s.pid! : undefined;
    }, 30_000, 50);
    const argv = readFileSync(`/proc/${runner}/cmdline`, 'latin1').split('\0');
    assert.ok(!argv.join(' ').includes(c.password), argv.join(' '));
    assert.equal(argv[argv.indexOf('--db') + 1], `postgresql://${PG_USER}@127.0.0.1:${c.port}/${dbName(db)}`);
    const done = await waitFor('the job to end', () => {
      const s = statusOf(e, id);
      return ['queued', 'running'].includes(s.state) ? undefined : s;
    }, 60_000, 100);
    assert.equal(done.state, 'succeeded', done.error ?? '');
    const rows = await c.sql('SELECT * FROM image_jobs', [], dbName(db));
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(c.password), 'the job record');
    assert.equal(rows[0].host, (await import('node:os')).hostname());
    const list = ib(e, ['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id}\tsucceeded\tdvd\t`));
  });
});

describe('TLS: the server\'s certificate is verified', () => {
  let tls: PgCluster;
  let ca: string;
  before(async () => {
    const dir = tempDir();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    ca = join(dir, 'cert.pem');
    tls = await startPg({ tls: { cert: readFileSync(ca, 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') } });
  });
  after(async () => { await tls?.stop(); });
  const url = (host: string, params: string): string => `postgresql://${PG_USER}:${tls.password}@${host}:${tls.port}/postgres?${params}`;
  const stats = (u: string) => run('darkserver', ['index', '--json', '--db', u, tempDir()], { HOME: tempDir() });

  test('verify-full with the CA: the index works over TLS (this server takes TCP logins over TLS only)', () => {
    const r = stats(url('localhost', `sslmode=verify-full&sslrootcert=${ca}`));
    assert.equal(r.code, 0, r.stderr);
    const plain = stats(url('localhost', 'sslmode=disable'));
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /the PostgreSQL server refused the login \(no pg_hba\.conf entry for host .*no encryption\)/);
  });

  test('a certificate no CA given vouches for, one for another host name, a server without TLS: one sentence each, exit 2', () => {
    const self = stats(url('localhost', 'sslmode=verify-full'));
    assert.equal(self.code, 2);
    assert.equal(oneLine(self.stderr), `darkserver index: postgresql://${PG_USER}@localhost:${tls.port}/postgres: cannot connect to the PostgreSQL server: `
      + 'the TLS certificate is not trusted (it is self-signed); give its CA with sslrootcert=FILE, or fix the host name');
    const other = stats(url('127.0.0.1', `sslmode=verify-full&sslrootcert=${ca}`));
    assert.equal(other.code, 2);
    assert.match(oneLine(other.stderr), /: the TLS certificate is not trusted \(it is for another host name\); give its CA/);
    const plain = run('darkserver', ['stats', '--db', `${c.url(dbName(indexed))}?sslmode=require`], { HOME: tempDir() });
    assert.equal(plain.code, 2);
    assert.match(oneLine(plain.stderr), /: the PostgreSQL server does not support TLS, and sslmode asks for it$/);
    const missing = stats(url('localhost', 'sslmode=verify-full&sslrootcert=/no/such/ca.pem'));
    assert.equal(missing.code, 2);
    assert.equal(oneLine(missing.stderr), `darkserver index: postgresql://${PG_USER}:***@localhost:${tls.port}/postgres?sslmode=verify-full&sslrootcert=/no/such/ca.pem: `
      + 'cannot read sslrootcert /no/such/ca.pem (no such file or directory)');
    for (const r of [self, other, plain, missing]) { noStack(r.stderr); assert.ok(!r.stderr.includes(tls.password)); }
  });

  test('require and verify-ca verify as verify-full does: darkforge never skips a check', () => {
    const ipCa = stats(url('127.0.0.1', `sslmode=verify-ca&sslrootcert=${ca}`));
    assert.equal(ipCa.code, 2);
    assert.match(ipCa.stderr, /not trusted \(it is for another host name\)/);
    assert.equal(stats(url('localhost', `sslmode=verify-ca&sslrootcert=${ca}`)).code, 0);
    assert.equal(stats(url('localhost', `sslmode=require&sslrootcert=${ca}`)).code, 0);
    const req = stats(url('localhost', 'sslmode=require'));
    assert.equal(req.code, 2);
    assert.match(req.stderr, /not trusted \(it is self-signed\)/);
  });
});

describe('roles, several processes, a server that goes away', () => {
  test('a role that may only read: query, stats and jobs answer; index and import are refused up front, exit 2', async () => {
    const name = dbName(indexed);
    await c.sql(`DO $$ BEGIN CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await c.sql(`GRANT CONNECT ON DATABASE ${name} TO reader`);
    await c.sql('GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader', [], name);
    const url = `postgresql://reader:reader-pw@127.0.0.1:${c.port}/${name}`;
    const q = run('darkserver', ['query', '--db', url, ID]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, clean);
    for (const args of [['stats'], ['jobs']]) assert.equal(run('darkserver', [...args, '--db', url]).code, 0);
    const before = await c.sql('SELECT count(*)::int AS n FROM rpms', [], name);
    const idx = run('darkserver', ['index', '--db', url, FIXTURES]);
    assert.equal(idx.code, 2);
    assert.equal(idx.stderr, `darkserver index: postgresql://reader@127.0.0.1:${c.port}/${name}: the index database is read-only `
      + '(role reader may not write its tables); nothing was changed\n');
    const imp = run('darkserver', ['import', '--db', url, '--hub', 'http://127.0.0.1:9/kojihub', '--topurl', 'http://127.0.0.1:9/k', '1']);
    assert.equal(imp.code, 2);
    assert.match(imp.stderr, /read-only \(role reader may not write its tables\); nothing was changed\n$/);
    assert.deepEqual(await c.sql('SELECT count(*)::int AS n FROM rpms', [], name), before);
    // An empty database the role may not create tables in.
    const empty = await c.newDatabase('empty');
    await c.sql(`GRANT CONNECT ON DATABASE ${dbName(empty)} TO reader`);
    await c.sql('REVOKE CREATE ON SCHEMA public FROM PUBLIC', [], dbName(empty));
    const fresh = run('darkserver', ['index', '--db', empty.replace(`${PG_USER}:${c.password}`, 'reader:reader-pw'), FIXTURES]);
    assert.equal(fresh.code, 2);
    assert.match(fresh.stderr, /read-only \(role reader may not create tables in schema public\); nothing was changed\n$/);
  });

  test('four processes start on an empty database at once: one schema, each RPM indexed once', async () => {
    const db = await c.newDatabase('race');
    const runs = [0, 1, 2, 3].map(() => start(['index', '--json', '--db', db, FIXTURES]));
    const done = await Promise.all(runs.map((r) => r.exit));
    for (const d of done) assert.equal(d.code, 0, d.stderr);
    const sums = done.map((d) => JSON.parse(d.stdout));
    assert.equal(sums.reduce((n, s) => n + s.rpms, 0), FIXTURE_RPMS, 'each RPM indexed by one of them');
    assert.deepEqual(await c.sql('SELECT version FROM darkforge_schema ORDER BY version', [], dbName(db)), [{ version: 5 }, { version: 6 }, { version: 7 }]);
    assert.equal(run('darkserver', ['query', '--db', db, ID]).stdout, clean);
    await assertSoundPg(c, db);
  });

  test('the server stops in the middle of an import: one sentence, exit 1; the next run finishes with every row', async () => {
    const set = rpmSet(12, 2, { seed: 'pg-dies' });
    const builds = buildsFromRpmDir(set.files, { firstId: 7000 });
    const k = await startFakeKoji({ builds, faults: { slow_file_ms: 80 } });
    const own = await startPg();
    try {
      const db = await own.newDatabase('dies');
      const args = ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, '--jobs', '2', String(builds[0].id)];
      const imp = start(args, { DARKFORGE_BACKOFF_MS: '5' });
      const seen = k.requests().length;
      await k.waitForRequests((ls) => ls.slice(seen).filter((l) => l.method === 'GET' && l.bytes > 0).length >= 4, 30_000);
      await own.kill();
      const r = await imp.exit;
      assert.equal(r.code, 1, r.stderr);
      noStack(r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^darkserver import: postgresql://${PG_USER}@127\\.0\\.0\\.1:${own.port}/\\w+: `
        + '(the connection to the PostgreSQL server was lost|the PostgreSQL server is shutting down or starting up|cannot connect to the PostgreSQL server) .*'));
      assert.ok(!r.stderr.includes(own.password));

      await own.start();
      await k.control({ faults: { slow_file_ms: 0 } });
      const again = run('darkserver', args.slice(0, -1), { DARKFORGE_BACKOFF_MS: '5' });
      assert.equal(again.code, 0, again.stderr);
      const o = JSON.parse(run('darkserver', ['jobs', '--json', '--db', db]).stdout);
      assert.deepEqual(o.rpms, { done: 12 });
      const ids = set.buildIds;
      const q = run('darkserver', ['query', '--db', db, ...ids]);
      assert.equal(q.code, 0, q.stderr);
      assert.equal(q.stdout.trim().split('\n').length, ids.length);
      await assertSoundPg(own, db);
    } finally {
      await own.stop();
      await k.stop();
    }
  });
});
