// Error answers and outages through the real commands: `darkserver import` against the fake hub,
// `darkserver find`, and `imagebuild` (its kickstart URL and its side repository from Koji). Every
// content type (none, text/plain, text/html, application/xml) x every body (empty, short, 1 MiB,
// chunked, cut mid-body, ended by closing, reset) reaches each command, with 4xx, 5xx and 429
// statuses in turn: a passing one is ridden out, a refusal is one sentence on stderr with the
// right exit code and no row from what failed; never a stack trace. test/net-errors.test.ts runs
// the whole status x type x body matrix in process on every request path.
// Then outages with the default settings (no DARKFORGE_* variables): the hub and the package store
// each down for 30 s, ridden out, said in exactly one line (on a terminal too, above the progress
// bar), and said again when they answer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { covering, esc, phrase, type Shape } from './helpers/error-shapes.ts';
import { type FakeKoji, type LogLine, rpmPath, startFakeKoji } from './helpers/fake-koji.ts';
import { CONF, ib, imageEnv, standinRuns } from './helpers/image-jobs.ts';
import { allBuilds, errorLines, HEADER_ONLY, HEADER_RPM, indexedIds, STREAMED, STREAMED_RPM, truth, truthIds } from './helpers/net-faults.ts';
import { run, tempDir, type Run } from './helpers/cli.ts';
import { ROOT } from './helpers/paths.ts';

/** Retries back off from 1 ms; the retry budget is the default one. */
const QUICK = { DARKFORGE_BACKOFF_MS: '1', DARKFORGE_RETRY_TIME: '' };
/** Nothing set: what a user gets. */
const DEFAULTS = { DARKFORGE_BACKOFF_MS: '', DARKFORGE_RETRY_TIME: '' };

const PASSING = [429, 502, 503, 504, 408];
const REFUSING = [403, 404, 500, 400, 410];
const BINARY = allBuilds.flatMap((b) => b.rpms.filter((r) => r.arch !== 'src').map((r) => `${r.nvr}.${r.arch}`));
const RPM_LINE = /^darkserver import: (\S+): (http:\/\/\S+): (.*)$/;

const served = (k: FakeKoji, from: number, fault: LogLine['fault']): LogLine[] => k.requests().slice(from).filter((l) => l.fault === fault);

/** `darkserver import` (a child process, so several can run at once). */
function importAsync(k: FakeKoji, db: string, args: string[], env: NodeJS.ProcessEnv = QUICK): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), 'import', '--hub', k.hub, '--topurl', k.topurl, '--db', db, ...args], {
      env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const importCmd = (k: FakeKoji, db: string, args: string[], env: NodeJS.ProcessEnv = QUICK): Run =>
  run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, '--db', db, ...args], env);

/** Every binary RPM of the fixtures has exactly its ground-truth rows. */
function assertAllIndexed(db: string): void {
  for (const nvra of BINARY) assert.deepEqual(indexedIds(db, nvra), truthIds(nvra), nvra);
}

/** Lines that only say a server is down or back (at most one of each per server). */
function outageLines(lines: string[]): { waiting: string[]; back: string[]; other: string[] } {
  const waiting = lines.filter((l) => /; waiting for it and retrying for up to /.test(l));
  const back = lines.filter((l) => /: answering again after [\d.]+ (s|min)/.test(l));
  return { waiting, back, other: lines.filter((l) => !waiting.includes(l) && !back.includes(l)) };
}

describe('darkserver import: error answers of every shape', () => {
  let k: FakeKoji;
  before(async () => { k = await startFakeKoji({ builds: allBuilds }); });
  after(async () => { await k?.stop(); });

  test('passing ones (429, 502, 503, 504, 408) from the hub and the store, every type and body: ridden out to the right rows', async () => {
    // Retry-After: 0 on each keeps 56 answers in a row from growing the backoff.
    const hub = covering(PASSING, { retry_after: 0 });
    const files = covering([...PASSING].reverse(), { retry_after: 0 });
    await k.control({ faults: { rpc_error: hub, file_error: files } });
    const start = k.requests().length;
    const db = join(tempDir(), 'i.sqlite');
    const r = importCmd(k, db, [...allBuilds.map((b) => String(b.id)), '--jobs', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(served(k, start, 'rpc_error').length, hub.length, 'every shape answered a hub call');
    assert.equal(served(k, start, 'file_error').length, files.length, 'every shape answered a download');
    assertAllIndexed(db);
    const { waiting, back, other } = outageLines(errorLines(r, 'import'));
    assert.deepEqual(other, []);
    assert.ok(waiting.length <= 2 && back.length === waiting.length, r.stderr);
  });

  test('refusals from the store (403, 404, 500, 400, 410), every type and body: one sentence per RPM, no row from it, exit 1', async () => {
    const shapes = covering(REFUSING);
    await k.control({ faults: { rpc_error: null, file_error: [...shapes] } });
    let next = 0;
    let failedTotal = 0;
    while (next < shapes.length) {
      const start = k.requests().length;
      const db = join(tempDir(), 'i.sqlite');
      // One RPM at a time: the log's order is the order the shapes were answered in.
      const r = importCmd(k, db, [...allBuilds.map((b) => String(b.id)), '--jobs', '1']);
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r, 'import');
      const refused = served(k, start, 'file_error');
      assert.ok(refused.length > 0);
      const failed = new Set<string>();
      for (const l of refused) {
        const s = shapes[next++];
        const nvra = l.path.slice(l.path.lastIndexOf('/') + 1).replace(/\.rpm$/, '');
        failed.add(nvra);
        const want = new RegExp(`^darkserver import: ${esc(nvra)}: ${esc(k.base + l.path)}: ${phrase(s.status, s.type, s.body, l.path)}$`);
        assert.equal(lines.filter((x) => want.test(x)).length, 1, `${JSON.stringify(s)}:\n${r.stderr}`);
      }
      assert.equal(lines.length, failed.size + 1, r.stderr);
      assert.match(lines.at(-1)!, /^darkserver import: not every requested build was imported/);
      for (const nvra of BINARY) assert.deepEqual(indexedIds(db, nvra), failed.has(nvra) ? [] : truthIds(nvra), nvra);
      const jobs = JSON.parse(run('darkserver', ['jobs', '--json', '--db', db]).stdout);
      assert.equal(jobs.rpms.failed, failed.size);
      failedTotal += failed.size;
    }
    assert.equal(failedTotal, shapes.length);
  });

  test('refusals from the hub (403, 404, 500, 400, 410), every type and body: one sentence, exit 1, nothing indexed', async () => {
    const shapes = covering(REFUSING);
    await k.control({ faults: { file_error: null, rpc_error: null } });
    // Each refusal ends its run; four runs at a time, each against its own hub.
    const hubs = await Promise.all([0, 1, 2, 3].map(() => startFakeKoji({ builds: [HEADER_ONLY] })));
    try {
      for (let i = 0; i < shapes.length; i += hubs.length) {
        await Promise.all(hubs.map(async (h, j) => {
          const s = shapes[i + j];
          if (!s) return;
          await h.control({ faults: { rpc_error: [s] } });
          const db = join(tempDir(), 'i.sqlite');
          const r = await importAsync(h, db, [String(HEADER_ONLY.id)]);
          const what = `${JSON.stringify(s)}: ${r.stderr}`;
          assert.equal(r.code, 1, what);
          assert.deepEqual(errorLines(r, 'import').length, 1, what);
          assert.match(r.stderr, new RegExp(`^darkserver import: Koji hub ${esc(h.hub)}: multicall of 2 getBuild/listRPMs calls gave ${phrase(s.status, s.type, s.body, '/kojihub')}\\n$`), what);
          assert.equal(r.stdout, '');
          assert.deepEqual(indexedIds(db, HEADER_RPM), []);
        }));
      }
    } finally {
      await Promise.all(hubs.map((h) => h.stop()));
    }
  });
});

describe('darkserver find: error answers from each download source', () => {
  let k: FakeKoji;
  let env: NodeJS.ProcessEnv;
  let db: string;
  const exe = truth.find((t) => t.rpm === `${STREAMED_RPM}.rpm` && t.buildId && !t.path.startsWith('/usr/lib/debug/'))!;
  before(async () => {
    k = await startFakeKoji({ builds: [STREAMED] });
    // A mirror, Koji and retrace: three URLs of the same file (the query tells them apart).
    const home = tempDir();
    mkdirSync(join(home, 'darkforge'));
    const pkg = `${k.topurl}/packages/{name}/{version}/{release}/{arch}/{nvra}.rpm`;
    writeFileSync(join(home, 'darkforge', 'fake.conf'), `[fake]\nserver = ${k.hub}\ntopurl = ${k.topurl}\nmirrors = ${pkg}?from=mirror\nretrace = ${pkg}?from=retrace\n`);
    env = { ...QUICK, XDG_CONFIG_HOME: home };
    db = join(tempDir(), 'i.sqlite');
    const r = run('darkserver', ['import', '--instance', 'fake', '--db', db, String(STREAMED.id)], env);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => { await k?.stop(); });
  const find = (): Run => run('darkserver', ['find', 'executable', exe.buildId!, '--db', db, '--json'], { ...env, XDG_CACHE_HOME: tempDir() });

  test('passing ones, every type and body: ridden out on the first source', async () => {
    const shapes = covering(PASSING, { retry_after: 0 });
    await k.control({ faults: { file_error: shapes } });
    const start = k.requests().length;
    const r = find();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(served(k, start, 'file_error').length, shapes.length);
    assert.ok(JSON.parse(r.stdout).url.endsWith('?from=mirror'));
    assert.equal(scanElfBuffer(readFileSync(JSON.parse(r.stdout).path)).buildId, exe.buildId);
    assert.deepEqual(outageLines(errorLines(r, 'find')).other, []);
  });

  test('refusals, every type and body: each source said once, then one sentence with all of them, exit 1; nothing in the cache', async () => {
    const shapes = covering(REFUSING);
    await k.control({ faults: { file_error: [...shapes] } });
    let next = 0;
    while (next < shapes.length) {
      const start = k.requests().length;
      const cache = tempDir();
      const r = run('darkserver', ['find', 'executable', exe.buildId!, '--db', db, '--json'], { ...env, XDG_CACHE_HOME: cache });
      const lines = errorLines(r, 'find');
      const refused = served(k, start, 'file_error');
      const said = refused.map((l) => ({ s: shapes[next++], path: l.path }));
      const sources = ['mirror', 'koji', 'retrace'].slice(0, said.length);
      const phrases = said.map(({ s, path }) => phrase(s.status, s.type, s.body, path));
      const urlOf = (src: string) => `${esc(`${k.topurl}/${rpmPath(STREAMED, STREAMED.rpms[0])}`)}${src === 'koji' ? '' : `\\?from=${src}`}`;
      if (said.length === 3) {
        assert.equal(r.code, 1, r.stderr);
        assert.equal(lines.length, 3, r.stderr);
        // The last source's failure is said once, in the sentence that ends the run.
        for (let i = 0; i < 2; i++) assert.match(lines[i], new RegExp(`^darkserver find: ${urlOf(sources[i])}: ${phrases[i]}; trying the next source$`));
        assert.match(lines[2], new RegExp(`^darkserver find: ${exe.buildId}: no download source delivered the executable file \\(${sources.map((s, i) => `${urlOf(s)}: ${phrases[i]}`).join('; ')}\\)$`));
        const kept = existsSync(join(cache, 'darkforge')) ? readdirSync(join(cache, 'darkforge'), { recursive: true, withFileTypes: true }).filter((f) => !f.isDirectory()) : [];
        assert.deepEqual(kept.map((f) => f.name), [], 'no file, no partial copy in the cache');
      } else {
        // The queue ran out: a later source delivered.
        assert.equal(r.code, 0, r.stderr);
        assert.equal(lines.length, said.length);
        lines.forEach((l, i) => assert.match(l, new RegExp(`^darkserver find: ${urlOf(sources[i])}: ${phrases[i]}; trying the next source$`)));
      }
    }
  });
});

describe('imagebuild: a kickstart URL and the side repository from Koji', () => {
  let k: FakeKoji;
  let conf: string;
  const KS = '/extra/fedora-minimal.ks';
  before(async () => {
    k = await startFakeKoji({ builds: [HEADER_ONLY], extra_files: { [KS]: join(ROOT, 'config', 'kickstarts', 'fedora-minimal.ks') } });
    conf = join(tempDir(), 'imagebuild.conf');
    writeFileSync(conf, readFileSync(CONF, 'utf8')
      .replace(/^config\s*=\s*kickstarts\/\S+$/gm, `config = ${k.base}${KS}`)
      .replace(/^(\w+\s*=\s*)(\S*\/)?(kickstarts|templates|comps)\//gm, `$1${join(ROOT, 'config')}/$3/`));
  });
  after(async () => { await k?.stop(); });
  const live = (e: ReturnType<typeof imageEnv>, extra: string[] = []): Run =>
    ib(e, ['live', '--config', conf, '--hub', k.hub, '--topurl', k.topurl, '--bid', String(HEADER_ONLY.id), '--staging', `file://${e.staging}`, '--keep-workdir', ...extra], QUICK);

  test('passing answers, every type and body, on the kickstart and on the side repository\'s RPM: the job succeeds', async () => {
    const shapes = covering(PASSING, { retry_after: 0 });
    await k.control({ faults: { file_error: shapes, rpc_error: covering([503], { retry_after: 0 }).slice(0, 7) } });
    const start = k.requests().length;
    const e = imageEnv();
    const r = live(e);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(served(k, start, 'file_error').length, shapes.length);
    assert.equal(served(k, start, 'rpc_error').length, 7);
    const argv = standinRuns(e)[0].argv;
    const ks = readFileSync(argv[Math.max(argv.indexOf('-c'), argv.indexOf('--ks')) + 1], 'utf8');
    const side = /^repo --name=koji-side --baseurl=file:\/\/(\S+)$/m.exec(ks)![1];
    assert.ok(existsSync(join(side, `${HEADER_RPM}.rpm`)));
    assert.doesNotMatch(r.stderr, /^\s+at |internal error/m);
  });

  test('refusals: the kickstart (exit 2 for 404, 1 for the others), the side repository\'s RPM and the hub (exit 1), one sentence each', async () => {
    const ksUrl = `${k.base}${KS}`;
    const rpmOnHub = `/kojifiles/${rpmPath(HEADER_ONLY, HEADER_ONLY.rpms[0])}`;
    const cases: { where: 'kickstart' | 'rpm' | 'hub'; s: Shape; code: number }[] = [
      { where: 'kickstart', s: { status: 404, type: 'text/html', body: 'big' }, code: 2 },
      { where: 'kickstart', s: { status: 403, type: 'application/xml', body: 'chunked' }, code: 1 },
      { where: 'kickstart', s: { status: 500, type: null, body: 'reset' }, code: 1 },
      { where: 'rpm', s: { status: 404, type: 'text/plain', body: 'cut' }, code: 1 },
      { where: 'rpm', s: { status: 403, type: 'text/html', body: 'close' }, code: 1 },
      { where: 'hub', s: { status: 403, type: 'text/html', body: 'short' }, code: 1 },
    ];
    for (const c of cases) {
      const what = JSON.stringify(c);
      const e = imageEnv();
      await k.control({ faults: {
        file_error: c.where === 'hub' ? [] : [{ ...c.s, path: c.where === 'kickstart' ? KS : '.rpm' }],
        rpc_error: c.where === 'hub' ? [c.s] : [],
      } });
      const r = live(e);
      assert.equal(r.code, c.code, `${what}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at |internal error|Unhandled/m, what);
      assert.equal(standinRuns(e).length, 0, `${what}: livecd-creator never ran`);
      const last = r.stderr.trim().split('\n').at(-1)!;
      if (c.where === 'kickstart') {
        // Refused when the job is submitted: one line, no job.
        const d = c.s.status === 404 ? `kickstart ${esc(ksUrl)} not found \\(HTTP 404\\)` : `kickstart ${esc(ksUrl)}: ${phrase(c.s.status, c.s.type, c.s.body, KS)}`;
        assert.match(r.stderr, new RegExp(`^imagebuild live: ${d}\\n$`), what);
        assert.equal(ib(e, ['list', '--json']).stdout.trim(), '[]');
        continue;
      }
      // The job ran attached: its log on stderr, then one line that says why it failed.
      const why = c.where === 'hub'
        ? `Koji hub ${esc(k.hub)}: \\S+ gave ${phrase(c.s.status, c.s.type, c.s.body, '/kojihub')}`
        : `Koji package ${esc(HEADER_RPM)}: ${esc(k.base + rpmOnHub)}: ${phrase(c.s.status, c.s.type, c.s.body, rpmOnHub)}`;
      assert.match(last, new RegExp(`^imagebuild live: .*${why}`), what);
      assert.equal(JSON.parse(ib(e, ['list', '--json']).stdout)[0].state, 'failed', what);
    }
  });
});

describe('outages, with the default settings', () => {
  /** Runs argv with its stderr on a terminal (a pty of 100 columns); the terminal's bytes come out on stderr. */
  const PTY_STDERR = [
    'import fcntl, os, struct, subprocess, sys, termios',
    'm, s = os.openpty()',
    "fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))",
    'p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stderr=s)',
    'os.close(s)',
    'while True:',
    '    try:',
    '        d = os.read(m, 65536)',
    '    except OSError:',
    '        break',
    '    if not d:',
    '        break',
    '    os.write(2, d)',
    'sys.exit(p.wait())',
  ].join('\n');

  function spawnRun(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<Run> {
    return new Promise((resolve) => {
      const p = spawn(cmd, argv, { env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => { stdout += d; });
      p.stderr.on('data', (d) => { stderr += d; });
      p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  test('the hub down for 30 s (Apache\'s 503 page) and the package store down for 30 s (empty 503s), on a terminal and not: ridden out, one line each', async () => {
    const ids = allBuilds.map((b) => String(b.id));
    const [hubDown, storeDown, storeDownTty] = await Promise.all([0, 1, 2].map(() => startFakeKoji({ builds: allBuilds })));
    try {
      await hubDown.control({ faults: { outage: { seconds: 30, scope: 'hub', status: 503, type: 'text/html', body: 'short' } } });
      for (const k of [storeDown, storeDownTty]) await k.control({ faults: { outage: { seconds: 30, scope: 'files', status: 503, type: null, body: 'empty' } } });
      const dbs = [0, 1, 2].map(() => join(tempDir(), 'i.sqlite'));
      const bin = join(ROOT, 'bin', 'darkserver.js');
      const argv = (k: FakeKoji, db: string) => [bin, 'import', '--hub', k.hub, '--topurl', k.topurl, '--db', db, ...ids];
      const t0 = Date.now();
      const [h, s, t] = await Promise.all([
        spawnRun(process.execPath, argv(hubDown, dbs[0]), DEFAULTS),
        spawnRun(process.execPath, argv(storeDown, dbs[1]), DEFAULTS),
        spawnRun('python3', ['-c', PTY_STDERR, process.execPath, ...argv(storeDownTty, dbs[2])], DEFAULTS),
      ]);
      const took = (Date.now() - t0) / 1000;
      assert.ok(took >= 30, `${took} s`);
      for (const [r, db] of [[h, dbs[0]], [s, dbs[1]], [t, dbs[2]]] as const) {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^imported ${ids.length} of ${ids.length} requested builds`));
        assertAllIndexed(db);
      }
      const waiting = (source: string, reason: string) =>
        new RegExp(`^darkserver import: ${esc(source)}: ${reason}; waiting for it and retrying for up to 4 min 5\\d s \\(next try in [\\d.]+ s, --retry-time\\)$`);
      const back = (source: string) => new RegExp(`^darkserver import: ${esc(source)}: answering again after ([2-6]\\d) s$`);

      const hubLines = errorLines(h, 'import');
      assert.equal(hubLines.length, 2, h.stderr);
      assert.match(hubLines[0], waiting(`Koji hub ${hubDown.hub}`, esc('HTTP 503 (Service Unavailable: fake-koji: injected 503 for /kojihub, come back later.)')));
      assert.match(hubLines[1], back(`Koji hub ${hubDown.hub}`));

      const storeLines = errorLines(s, 'import');
      assert.equal(storeLines.length, 2, s.stderr);
      assert.match(storeLines[0], waiting(`downloads from ${storeDown.base}`, esc('HTTP 503 (Service Unavailable)')));
      assert.match(storeLines[1], back(`downloads from ${storeDown.base}`));

      // On a terminal: the progress bar is redrawn in place; each line starts on a line of its own.
      const screen = t.stderr.replace(/\r\n/g, '\n');
      const said = screen.split('\n').map((l) => l.slice(l.lastIndexOf('\x1b[2K') + 1).replace(/^\[2K/, '')).filter((l) => l.startsWith('darkserver import: '));
      assert.equal(said.length, 2, JSON.stringify(screen));
      assert.match(said[0], waiting(`downloads from ${storeDownTty.base}`, esc('HTTP 503 (Service Unavailable)')));
      assert.match(said[1], back(`downloads from ${storeDownTty.base}`));
      assert.equal((screen.match(/darkserver import: /g) ?? []).length, 2, 'nothing else said');
      for (const l of said) assert.ok(screen.includes(`\r\x1b[2K${l}\n`), `cleared before: ${JSON.stringify(l)}`);

      // Backoff, not a flood: a few dozen answers in half a minute however many workers wait.
      for (const k of [hubDown, storeDown, storeDownTty]) {
        const n = k.requests().filter((l) => l.fault === 'outage').length;
        assert.ok(n >= 4 && n <= 60, `${n} requests answered by the outage`);
      }
    } finally {
      await Promise.all([hubDown, storeDown, storeDownTty].map((k) => k.stop()));
    }
  });

  test('ServerOffline (fault 1014) for whole calls and inside multicalls: waited for, the import completes', async () => {
    const k = await startFakeKoji({ builds: allBuilds });
    try {
      await k.control({ faults: { rpc_offline: 3, multicall_offline: 2 } });
      const db = join(tempDir(), 'i.sqlite');
      const r = importCmd(k, db, allBuilds.map((b) => String(b.id)));
      assert.equal(r.code, 0, r.stderr);
      assertAllIndexed(db);
      assert.equal(served(k, 0, 'rpc_offline').length, 3);
      assert.ok(served(k, 0, 'multicall_offline').length >= 1);
      assert.equal((await k.status()).faults.multicall_offline, 0, 'both inner calls were answered ServerOffline, and asked again');
      assert.deepEqual(outageLines(errorLines(r, 'import')).other, []);
    } finally {
      await k.stop();
    }
  });
});
