// imagebuild end to end: the shipped configs, stand-in image tools on PATH (they record their
// argv and write outputs where the real tools do), a fake Koji hub for --nvr/--bid, real
// createrepo_c, file:// and FTP staging, job records, cancel, interruption.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { processAlive } from '../src/lib/proc/alive.ts';
import { buildsFromRpmDir, FakeKoji, startFakeKoji } from './helpers/fake-koji.ts';
import { FIXTURES, ROOT } from './helpers/paths.ts';
import { run, tempDir } from './helpers/cli.ts';

const STANDINS = join(ROOT, 'test', 'stand-ins');
const CONF = join(ROOT, 'config', 'imagebuild.conf');
const KS = join(ROOT, 'config', 'kickstarts', 'fedora-minimal.ks');

interface Env { db: string; log: string; env: NodeJS.ProcessEnv; staging: string }

function setup(extra: NodeJS.ProcessEnv = {}): Env {
  const home = tempDir();
  const log = join(home, 'standin.jsonl');
  const staging = join(home, 'staging');
  return {
    db: join(home, 'i.sqlite'), log, staging,
    env: { PATH: `${STANDINS}:${process.env.PATH}`, DF_STANDIN_LOG: log, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'cfg'), DARKFORGE_BACKOFF_MS: '1', DARKFORGE_RETRY_TIME: '1', ...extra },
  };
}
const ib = (e: Env, args: string[], env: NodeJS.ProcessEnv = {}) => run('imagebuild', [...args, '--db', e.db], { ...e.env, ...env });
const standinRuns = (e: Env): { tool: string; argv: string[]; cwd: string }[] =>
  existsSync(e.log) ? readFileSync(e.log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];

test('dvd: pungi runs with the original flags, the image is staged with arch, timestamp and a CHECKSUM', () => {
  const e = setup();
  const r = ib(e, ['dvd', '--config', CONF, '--arch', 'x86_64', '--staging', `file://${e.staging}`, '--json', '--keep-workdir']);
  assert.equal(r.code, 0, r.stderr);
  const job = JSON.parse(r.stdout);
  assert.equal(job.state, 'succeeded');
  const runs = standinRuns(e);
  assert.equal(runs.length, 1);
  assert.equal(runs[0].tool, 'pungi');
  const a = runs[0].argv;
  for (const flag of ['--name', '--ver', '--flavor', '--destdir', '--cachedir', '--bugurl', '-c']) assert.ok(a.includes(flag), `${flag} in ${a.join(' ')}`);
  assert.ok(a.includes('--all-stages') || a.some((x) => /^-[GCBI]$/.test(x)));
  const ks = readFileSync(a[a.indexOf('-c') + 1], 'utf8');
  assert.match(ks, /%packages/);
  const staged = readdirSync(e.staging);
  const iso = staged.find((f) => /-DVD-x86_64-\d{8}T\d{6}Z\.iso$/.test(f));
  assert.ok(iso, staged.join(' '));
  const sum = staged.find((f) => /\d{8}T\d{6}Z-CHECKSUM$/.test(f))!;
  const sha = createHash('sha256').update(readFileSync(join(e.staging, iso!))).digest('hex');
  assert.ok(readFileSync(join(e.staging, sum), 'utf8').includes(`SHA256 (${iso}) = ${sha}`));
  assert.ok(staged.includes('job.log'));
  assert.deepEqual(job.artifacts.map((x: string) => x.slice(x.lastIndexOf('/') + 1)).sort(), [...staged].sort(), 'the job records what was staged');
  assert.ok(job.artifacts.every((x: string) => x.startsWith(`${e.staging}/`)));
  const list = ib(e, ['list', '--json']);
  assert.equal(JSON.parse(list.stdout)[0].state, 'succeeded');
  const logs = ib(e, ['logs', String(job.id)]);
  assert.match(logs.stdout, /running: pungi /);
});

test('live: livecd-creator or livemedia-creator with the kickstart flattened', () => {
  const e = setup();
  for (const backend of ['livecd-creator', 'livemedia-creator']) {
    const r = ib(e, ['live', '--config', CONF, '--backend', backend, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.deepEqual(standinRuns(e).map((x) => x.tool), ['livecd-creator', 'livemedia-creator']);
  const lc = standinRuns(e)[0].argv;
  for (const flag of ['-c', '-f', '--title', '--product', '--releasever', '-t', '--cache', '--logfile']) assert.ok(lc.includes(flag), flag);
  const lm = standinRuns(e)[1].argv;
  for (const flag of ['--make-iso', '--no-virt', '--ks', '--resultdir', '--project', '--releasever', '--volid', '--iso-name']) assert.ok(lm.includes(flag), flag);
});

test('i686 on x86_64 runs under setarch', { skip: process.arch !== 'x64' && 'needs an x86_64 host' }, () => {
  const e = setup();
  const r = ib(e, ['dvd', '--config', CONF, '--arch', 'i686', '--staging', `file://${e.staging}`]);
  assert.equal(r.code, 0, r.stderr);
  const runs = standinRuns(e);
  assert.deepEqual(runs.map((x) => x.tool), ['setarch', 'pungi']);
  assert.deepEqual(runs[0].argv.slice(0, 2), ['i686', 'pungi']);
  assert.ok(readdirSync(e.staging).some((f) => /-i686-\d{8}T\d{6}Z\.iso$/.test(f)));
});

test('--dry-run prints the plan and runs nothing', () => {
  const e = setup();
  const r = ib(e, ['dvd', '--config', CONF, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /type dvd, arch \S+, release 40, backend pungi/);
  assert.match(r.stdout, /command \(in .*\):\n {2}pungi --name /);
  assert.equal(standinRuns(e).length, 0);
  assert.equal(ib(e, ['list', '--json']).stdout.trim(), '[]');
});

test('several mistakes are reported at once, with file, section, key and what is allowed; nothing runs', () => {
  const e = setup();
  const dir = tempDir();
  const conf = join(dir, 'imagebuild.conf');
  writeFileSync(conf, readFileSync(CONF, 'utf8')
    .replace(/^stage = .*$/m, 'stage = -X')
    .replace(/^staging =.*$/m, 'staging = gopher://nowhere'));
  // The copy has no kickstarts/ folder beside it: its relative kickstart is missing too.
  const r = ib(e, ['dvd', '--config', conf, '--arch', 'sparc']);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0], /^imagebuild dvd: [4-9] problems in the configuration, nothing was run:$/);
  assert.ok(lines.some((l) => /--arch "sparc"/.test(l) && /allowed/.test(l)), r.stderr);
  assert.ok(lines.some((l) => /\[dvd\] stage = "-X".*allowed: all, -G, -C, -B, -I/.test(l)), r.stderr);
  assert.ok(lines.some((l) => /staging = "gopher:\/\/nowhere"/.test(l)), r.stderr);
  assert.ok(lines.some((l) => /\[dvd\] config = .*kickstart.* does not exist/.test(l)), r.stderr);
  assert.equal(standinRuns(e).length, 0);
});

test('an arch this host cannot build is refused before any tool runs', { skip: process.arch !== 'x64' && 'needs an x86_64 host' }, () => {
  const e = setup();
  const r = ib(e, ['boot', '--config', CONF, '--arch', 'ppc64le']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /ppc64le/);
  assert.equal(standinRuns(e).length, 0);
  assert.equal(ib(e, ['list', '--json']).stdout.trim(), '[]');
});

test('a missing tool is one clear error naming its package', () => {
  const e = setup({ PATH: '/usr/bin:/bin' });
  const r = ib(e, ['boot', '--config', CONF, '--staging', `file://${e.staging}`]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /lorax is not installed \(it comes in the "lorax" package/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

describe('with Koji packages', () => {
  let k: FakeKoji;
  const builds = buildsFromRpmDir(readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm')).map((f) => join(FIXTURES, f)));
  const debug = builds.find((b) => b.nvr === 'df-debug-1.0-1')!;
  const noarch = builds.find((b) => b.nvr === 'df-noarch-1.0-1')!;
  before(async () => { k = await startFakeKoji({ builds }); });
  after(async () => { await k?.stop(); });
  const kojiConf = (e: Env): void => {
    mkdirSync(join(e.env.XDG_CONFIG_HOME!, 'darkforge'), { recursive: true });
    writeFileSync(join(e.env.XDG_CONFIG_HOME!, 'darkforge', 'fake.conf'), `[fake]\nserver = ${k.hub}\ntopurl = ${k.topurl}\n`);
  };

  test('boot: a side repository from --nvr and --bid, made by createrepo_c, passed to lorax as one more -s', () => {
    const e = setup();
    kojiConf(e);
    const r = ib(e, ['boot', '--config', CONF, '--instance', 'fake', '--nvr', debug.nvr, '--bid', String(noarch.id), '--staging', `file://${e.staging}`, '--json', '--keep-workdir']);
    assert.equal(r.code, 0, r.stderr);
    const argv = standinRuns(e)[0].argv;
    const repos = argv.flatMap((x, i) => (x === '-s' ? [argv[i + 1]] : x.startsWith('-s') && x.length > 2 ? [x.slice(2)] : []));
    const side = repos[repos.length - 1];
    assert.match(side, /^file:\/\/.*koji-side$/);
    const dir = side.replace('file://', '');
    assert.ok(existsSync(join(dir, 'repodata', 'repomd.xml')));
    const rpms = readdirSync(dir).filter((f) => f.endsWith('.rpm')).sort();
    assert.deepEqual(rpms, ['df-debug-1.0-1.x86_64.rpm', 'df-noarch-1.0-1.noarch.rpm'], 'image arch and noarch; no debuginfo or src');
    assert.ok(k.requests().every((l) => !l.path.includes('debuginfo')));
  });

  test('dvd: the flattened kickstart gains repo --name=koji-side; --dry-run shows the side repository and the diff', () => {
    const e = setup();
    kojiConf(e);
    const dry = ib(e, ['dvd', '--config', CONF, '--instance', 'fake', '--nvr', debug.nvr, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /side repository \(1 RPMs from Koji\):\n {2}df-debug-1\.0-1\.x86_64 {2}http:\/\/127\.0\.0\.1/);
    assert.match(dry.stdout, /^\+repo --name=koji-side --baseurl=file:\/\//m);
    const r = ib(e, ['dvd', '--config', CONF, '--instance', 'fake', '--nvr', debug.nvr, '--staging', `file://${e.staging}`, '--keep-workdir']);
    assert.equal(r.code, 0, r.stderr);
    const a = standinRuns(e)[0].argv;
    assert.match(readFileSync(a[a.indexOf('-c') + 1], 'utf8'), /^repo --name=koji-side --baseurl=file:\/\/\S+koji-side$/m);
  });

  test('a checksum mismatch fails the job and says so', async () => {
    const e = setup();
    kojiConf(e);
    await k.control({ faults: { corrupt: ['df-debug-1.0-1.x86_64'] } });
    try {
      const r = ib(e, ['boot', '--config', CONF, '--instance', 'fake', '--nvr', debug.nvr, '--staging', `file://${e.staging}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /checksum mismatch/);
      assert.equal(standinRuns(e).length, 0, 'lorax never ran');
      assert.equal(JSON.parse(ib(e, ['list', '--json']).stdout)[0].state, 'failed');
    } finally {
      await k.control({ faults: { corrupt: [] } });
    }
  });
});

test('ftp staging to a local FTP server (pyftpdlib)', async () => {
  const py = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import pyftpdlib']).status === 0);
  assert.ok(py, 'python3-pyftpdlib is needed (apt-get install python3-pyftpdlib)');
  const root = tempDir();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = spawn(py!, ['-m', 'pyftpdlib', '-i', '127.0.0.1', '-p', String(port), '-w', '-d', root], { stdio: 'ignore' });
  try {
    await waitForPort(port);
    const e = setup();
    const r = ib(e, ['dvd', '--config', CONF, '--staging', `ftp://127.0.0.1:${port}/pub/images`]);
    assert.equal(r.code, 0, r.stderr);
    const files = readdirSync(join(root, 'pub', 'images'));
    assert.ok(files.some((f) => /-DVD-\S+-\d{8}T\d{6}Z\.iso$/.test(f)), files.join(' '));
    assert.ok(files.some((f) => f.endsWith('-CHECKSUM')));
  } finally {
    server.kill();
  }
});

test('a detached job can be followed and canceled; its whole process group ends', async () => {
  const e = setup({ DF_STANDIN_SLEEP: '60' });
  const r = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--detach', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { id } = JSON.parse(r.stdout);
  let status: { state: string } = { state: '' };
  for (let i = 0; i < 100 && !(status.state === 'running' && standinRuns(e).length); i++) {
    await new Promise((res) => setTimeout(res, 200));
    status = JSON.parse(ib(e, ['status', String(id), '--json']).stdout);
  }
  assert.equal(status.state, 'running');
  const toolPid = (standinRuns(e)[0] as unknown as { pid: number }).pid;
  const c = ib(e, ['cancel', String(id)]);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, `job ${id} canceled\n`);
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal(processAlive(toolPid), false, 'the tool was killed');
  assert.equal(JSON.parse(ib(e, ['status', String(id), '--json']).stdout).state, 'canceled');
  assert.equal(ib(e, ['cancel', String(id)]).code, 1, 'already canceled');
  const logs = ib(e, ['logs', String(id), '--follow']);
  assert.match(logs.stdout, /running: pungi/);
});

test('--timeout ends the tool and fails the job; a killed runner shows as interrupted', async () => {
  const e = setup({ DF_STANDIN_SLEEP: '30' });
  const r = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--timeout', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /timed out after 1 s/);

  const d = ib(e, ['dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--detach', '--json']);
  const { id } = JSON.parse(d.stdout);
  let job: { state: string; pid: number } = { state: '', pid: 0 };
  for (let i = 0; i < 100 && job.state !== 'running'; i++) {
    await new Promise((res) => setTimeout(res, 200));
    job = JSON.parse(ib(e, ['status', String(id), '--json']).stdout);
  }
  process.kill(job.pid, 'SIGKILL');
  await new Promise((res) => setTimeout(res, 300));
  const after = JSON.parse(ib(e, ['status', String(id), '--json']).stdout);
  assert.equal(after.state, 'failed');
  assert.match(after.error, /^interrupted: /);
  // The orphaned tool is still sleeping in its own group; end it.
  for (const x of standinRuns(e)) { try { process.kill(-(x as unknown as { pid: number }).pid, 'SIGKILL'); } catch { /* gone */ } }
});

test('retry runs a finished job again as a new job with the same configuration', () => {
  const e = setup({ DF_STANDIN_FAIL: '1' });
  const first = ib(e, ['live', '--config', CONF, '--backend', 'livecd-creator', '--staging', `file://${e.staging}`, '--json']);
  assert.equal(first.code, 1);
  assert.match(first.stderr, /livecd-creator failed with exit code 1/);
  const r = run('imagebuild', ['retry', '1', '--json', '--db', e.db], { ...e.env, DF_STANDIN_FAIL: '' });
  assert.equal(r.code, 0, r.stderr);
  const job = JSON.parse(r.stdout);
  assert.equal(job.id, 2);
  assert.equal(job.retry_of, 1);
  assert.equal(job.state, 'succeeded');
  const [a, b] = standinRuns(e);
  assert.deepEqual([a.tool, b.tool], ['livecd-creator', 'livecd-creator']);
  // Same flags; only the paths move from job 1's folder to job 2's.
  assert.deepEqual(b.argv, a.argv.map((x) => x.replace('/jobs/1/', '/jobs/2/')));
  assert.notDeepEqual(b.argv, a.argv);
  assert.equal(ib(e, ['retry', '9']).code, 1);
  assert.equal(ib(e, ['status', 'abc']).code, 2);
});

test('the requester gets a mail when the job starts and when it ends, with the log tail on failure', async () => {
  const { SMTPServer } = await import('smtp-server');
  const mails: string[] = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'],
    onData(stream, _session, cb) { let t = ''; stream.on('data', (c) => { t += c; }); stream.on('end', () => { mails.push(t); cb(); }); },
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.server.address() as { port: number }).port;
  try {
    const dir = tempDir();
    const conf = join(dir, 'imagebuild.conf');
    writeFileSync(conf, `${readFileSync(CONF, 'utf8').replace(/^config\s*=\s*kickstarts\/(\S+)$/gm, (_m, f) => `config = ${join(ROOT, 'config', 'kickstarts', f)}`)}\n[smtp]\nhost = 127.0.0.1\nport = ${port}\nstarttls = no\nfrom = imagebuild@example.org\n`);
    const e = setup({ DF_STANDIN_FAIL: '1' });
    // Not spawnSync: the SMTP server lives in this process and must keep answering.
    const r = await runAsync(['dvd', '--config', conf, '--email', 'qa@example.org', '--staging', `file://${e.staging}`, '--db', e.db], e.env);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(mails.length, 2, r.stderr);
    assert.match(mails[0], /^To: qa@example\.org/m);
    assert.match(mails[1], /failed/);
    assert.match(mails[1], /pungi failed with exit code 1/);
  } finally {
    server.close();
  }
});

test('--hub and --topurl name the Koji of the side repository without a profile', async () => {
  const builds = buildsFromRpmDir([join(FIXTURES, 'df-noarch-1.0-1.noarch.rpm')]);
  const k = await startFakeKoji({ builds });
  try {
    const e = setup();
    const r = ib(e, ['boot', '--config', CONF, '--hub', k.hub, '--topurl', k.topurl, '--bid', String(builds[0].id), '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /df-noarch-1\.0-1\.noarch {2}http:\/\/127\.0\.0\.1:\d+\/kojifiles\/packages\/df-noarch\//);
    assert.equal(ib(e, ['boot', '--config', CONF, '--topurl', k.topurl, '--dry-run']).code, 2);
  } finally {
    await k.stop();
  }
});

function runAsync(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'imagebuild.js'), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('Ctrl-C on an attached build ends the tool too and records the job as canceled', async () => {
  const e = setup({ DF_STANDIN_SLEEP: '60' });
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'imagebuild.js'), 'dvd', '--config', CONF, '--staging', `file://${e.staging}`, '--db', e.db],
    { env: { ...process.env, ...e.env }, stdio: 'ignore' });
  for (let i = 0; i < 100 && !standinRuns(e).length; i++) await new Promise((res) => setTimeout(res, 200));
  const toolPid = (standinRuns(e)[0] as unknown as { pid: number }).pid;
  p.kill('SIGINT');
  const code = await new Promise((res) => p.on('exit', res));
  assert.equal(code, 1);
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(processAlive(toolPid), false, 'the tool was stopped');
  const job = JSON.parse(ib(e, ['status', '1', '--json']).stdout);
  assert.equal(job.state, 'canceled');
});

/** Until something accepts connections on 127.0.0.1:port (a server started by a test). */
async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const { connect } = await import('node:net');
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const sock = connect(port, '127.0.0.1', () => { sock.destroy(); res(true); });
      sock.on('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('passwords stay out of job records, logs and --dry-run, yet the job and its retry can use them', async () => {
  const py = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import pyftpdlib']).status === 0);
  assert.ok(py, 'python3-pyftpdlib is needed (apt-get install python3-pyftpdlib)');
  const root = tempDir();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const auth = `from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_user('qa', 's3cr3t-pw', ${JSON.stringify(root)}, perm='elradfmw')
h = FTPHandler; h.authorizer = a
FTPServer(('127.0.0.1', ${port}), h).serve_forever()`;
  const server = spawn(py!, ['-c', auth], { stdio: 'ignore' });
  try {
    await waitForPort(port);
    const dir = tempDir();
    const conf = join(dir, 'imagebuild.conf');
    writeFileSync(conf, readFileSync(CONF, 'utf8')
      .replace(/^config\s*=\s*kickstarts\/(\S+)$/gm, (_m, f) => `config = ${join(ROOT, 'config', 'kickstarts', f)}`)
      .replace(/^staging =.*$/m, `staging = ftp://qa:s3cr3t-pw@127.0.0.1:${port}/images`));
    const e = setup();
    const dry = ib(e, ['dvd', '--config', conf, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.doesNotMatch(dry.stdout, /s3cr3t-pw/);
    assert.match(dry.stdout, /ftp:\/\/qa:\*\*\*@127\.0\.0\.1/);
    const r = ib(e, ['dvd', '--config', conf, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readdirSync(join(root, 'images')).some((f) => f.endsWith('.iso')));
    const again = run('imagebuild', ['retry', '1', '--db', e.db], e.env);
    assert.equal(again.code, 0, again.stderr);
    for (const out of [r.stdout, r.stderr, again.stderr, ib(e, ['status', '1', '--json']).stdout, ib(e, ['list', '--json']).stdout, ib(e, ['logs', '1']).stdout]) {
      assert.doesNotMatch(out, /s3cr3t-pw/);
    }
    for (const f of [e.db, `${e.db}-wal`].filter((x) => existsSync(x))) assert.doesNotMatch(readFileSync(f).toString('latin1'), /s3cr3t-pw/);
  } finally {
    server.kill();
  }
});
