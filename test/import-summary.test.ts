// What `darkserver import` says and exits with, found with a real hub (issue 13, "Also"): the
// summary counts what this run did and what remains, never "0 of 0 requested builds"; an unknown
// build is said once; the exit code says whether failed work remains; DELETED builds are not sent
// to --retry-failed; --retry-failed without an instance retries failed work of every instance
// (rows made with --hub belong to "host:port"); `jobs` after an interrupt shows no build
// "fetching" whose RPMs are all done; a resumed import remembers --full.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { run, tempDir, type Run } from './helpers/cli.ts';
import { buildsFromRpmDir, type FakeBuildSpec, type FakeKoji, startFakeKoji } from './helpers/fake-koji.ts';
import { FIXTURES, ROOT } from './helpers/paths.ts';

// A server that fails keeps failing here: a short retry budget, not the default five minutes.
const FAST = { DARKFORGE_BACKOFF_MS: '5', DARKFORGE_RETRY_TIME: '0.5' };
const rpmFiles = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String)
  .filter((f) => f.endsWith('.rpm') && !f.startsWith('large')).map((f) => join(dir, f));
const fixtureBuilds = buildsFromRpmDir(rpmFiles(FIXTURES), { firstId: 1000 });
const byNvr = (builds: FakeBuildSpec[], nvr: string): FakeBuildSpec => builds.find((b) => b.nvr === nvr)!;
const nvraOf = (b: FakeBuildSpec): string => { const r = b.rpms.find((x) => x.arch !== 'src')!; return `${r.nvr}.${r.arch}`; };
const db = (): string => join(tempDir(), 'i.sqlite');
const importCmd = (k: FakeKoji, file: string, args: string[], instance: string[] = ['--instance', 'fake']): Run =>
  run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, ...instance, '--db', file, ...args], FAST);
const lines = (s: string): string[] => s.split('\n').filter(Boolean);
const jobs = (file: string) => JSON.parse(run('darkserver', ['jobs', '--json', '--db', file]).stdout);
const indexed = (file: string, nvra: string): boolean => run('darkserver', ['query', '--db', file, '--rpm', nvra]).code === 0;

/** Run an import in the background; stop it with `signal` once `ready` holds. */
async function interrupted(k: FakeKoji, file: string, args: string[], ready: () => Promise<boolean>, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), 'import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake',
    '--db', file, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...FAST } });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const end = Date.now() + 60_000;
  while (!(await ready())) {
    if (Date.now() > end) { child.kill('SIGKILL'); throw new Error('not ready within 60 s'); }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill(signal);
  return { code: await exited, stderr };
}

describe('import: summaries and exit codes', () => {
  test('an unknown build is said once, with no summary; beside a known one it is counted', async () => {
    const k = await startFakeKoji({ builds: fixtureBuilds });
    try {
      const file = db();
      const alone = importCmd(k, file, ['nosuch-1.0-1']);
      assert.equal(alone.code, 1);
      assert.equal(alone.stdout, '', 'no "imported 0 of 0" line');
      assert.deepEqual(lines(alone.stderr).map((l) => l.replace(/\(http\S+\)/, '(HUB)')), ['darkserver import: nosuch-1.0-1: no such build in Koji (HUB)']);
      const good = byNvr(fixtureBuilds, 'df-kmod-1.0-1');
      const both = importCmd(k, file, ['nosuch-1.0-1', good.nvr]);
      assert.equal(both.code, 1);
      assert.match(both.stdout, /^imported 1 of 2 requested builds from fake: 1 RPMs indexed .*; 0 builds skipped, 0 still building, 0 failed, 1 not in Koji\n$/);
      assert.equal(lines(both.stderr).length, 1, both.stderr);
      assert.equal(importCmd(k, file, [good.nvr]).code, 0, 'imported before: imported');
      const twice = importCmd(k, file, [good.nvr, String(good.id)]);
      assert.equal(twice.code, 0, twice.stderr);
      assert.match(twice.stdout, /^imported 1 of 1 requested builds from fake: /, 'one build named twice is one build');
    } finally {
      await k.stop();
    }
  });

  test('a DELETED build is told once, and not sent to --retry-failed', async () => {
    const builds = structuredClone(fixtureBuilds);
    const gone = byNvr(builds, 'df-noarch-1.0-1');
    gone.state = 2;
    const k = await startFakeKoji({ builds });
    try {
      const r = importCmd(k, db(), [String(gone.id), String(byNvr(builds, 'df-kmod-1.0-1').id)]);
      assert.equal(r.code, 1);
      assert.deepEqual(lines(r.stderr), [`darkserver import: build ${gone.id} (${gone.nvr}): DELETED in Koji; nothing to import`]);
      assert.match(r.stdout, /^imported 1 of 2 requested builds from fake: .*; 1 builds skipped, 0 still building, 0 failed\n$/);
      assert.doesNotMatch(r.stdout + r.stderr, /retry-failed/);
    } finally {
      await k.stop();
    }
  });

  test('failed work that remains: the exit code says so, a resume says so; --retry-failed without an instance retries every instance', async () => {
    const bad = byNvr(fixtureBuilds, 'df-kmod-1.0-1');
    const k = await startFakeKoji({ builds: fixtureBuilds, faults: { fail_forever: [nvraOf(bad)] } });
    try {
      const file = db();
      // Made with --hub alone: the queue rows belong to instance "127.0.0.1:PORT".
      const first = importCmd(k, file, [String(bad.id)], []);
      assert.equal(first.code, 1);
      const host = new URL(k.hub).host;
      assert.match(lines(first.stderr).at(-1)!, /^darkserver import: not every requested build was imported: 1 build failed \(see "darkserver jobs"; --retry-failed tries it again\)$/);
      const o = jobs(file);
      assert.deepEqual(o.pending.map((b: { instance: string; state: string }) => [b.instance, b.state]), [[host, 'failed']]);

      // A plain import with nothing queued: exit 1, and the failed build named in one line.
      const plain = run('darkserver', ['import', '--db', file], FAST);
      assert.equal(plain.code, 1, plain.stderr);
      assert.equal(plain.stdout, 'the import queue holds nothing to resume (1 failed build)\n');
      assert.deepEqual(lines(plain.stderr), ['darkserver import: 1 build in the import queue remains failed (see "darkserver jobs"; --retry-failed tries it again)']);
      const named = importCmd(k, file, [], []);
      assert.equal(named.code, 1);
      assert.match(named.stdout, new RegExp(`^resumed the import queue of ${host.replace(/\./g, '\\.')}: 0 builds imported, 0 still building, 0 failed; `));

      // The hub is well again: --retry-failed with no instance named finds the host:port instance's work.
      await k.control({ faults: { fail_forever: [] } });
      const retry = run('darkserver', ['import', '--retry-failed', '--db', file], FAST);
      assert.equal(retry.code, 0, retry.stderr);
      assert.equal(retry.stderr, '');
      assert.match(retry.stdout, new RegExp(`^resumed the import queue of ${host.replace(/\./g, '\\.')}: 1 build imported, 0 still building, 0 failed; 1 RPMs indexed`));
      assert.equal(indexed(file, nvraOf(bad)), true);
      const after = jobs(file);
      assert.deepEqual([after.builds, after.pending], [{ done: 1 }, []]);
      const again = run('darkserver', ['import', '--db', file], FAST);
      assert.deepEqual([again.code, again.stdout, again.stderr], [0, 'the import queue holds nothing to resume\n', '']);
    } finally {
      await k.stop();
    }
  });

  test('a walk says what it walked; walked again, what was imported before', async () => {
    const builds = structuredClone(fixtureBuilds).slice(0, 4);
    builds[1].state = 3; // FAILED in Koji
    const k = await startFakeKoji({ builds });
    try {
      const file = db();
      const [from, to] = [builds[0].id, builds[3].id + 2];
      const r = importCmd(k, file, ['--from', String(from), '--to', String(to)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^walked build ids ${from} to ${to} of fake: 3 builds imported, 0 imported before, 1 skipped \\(deleted, failed or canceled in Koji\\), 2 not in Koji, 0 still building, 0 failed; \\d+ RPMs indexed`));
      const again = importCmd(k, file, ['--from', String(from), '--to', String(to)]);
      assert.equal(again.code, 0);
      assert.match(again.stdout, /: 0 builds imported, 3 imported before, 1 skipped .*; 0 RPMs indexed/);
    } finally {
      await k.stop();
    }
  });
});

describe('import: interrupted runs', () => {
  test('jobs after an interrupt: a build whose RPMs are done is done, not "fetching 1/1 RPMs"', async () => {
    const builds = structuredClone(fixtureBuilds);
    const [a, b] = [byNvr(builds, 'df-kmod-1.0-1'), byNvr(builds, 'df-nolinks-1.0-1')];
    const k = await startFakeKoji({ builds, faults: { stall_file: 1, stall_ms: 30_000 } });
    try {
      const file = db();
      const end = await interrupted(k, file, ['--jobs', '2', String(a.id), String(b.id)],
        async () => k.requests().some((l) => l.fault === 'stall_file') && (indexed(file, nvraOf(a)) || indexed(file, nvraOf(b))), 'SIGINT');
      assert.equal(end.code, 130, end.stderr);
      const o = jobs(file);
      assert.equal(o.builds.done, 1, 'the build whose RPM is done');
      for (const p of o.pending) assert.ok(!(p.state === 'fetching' && p.rpms_done === p.rpms_total), `build ${p.koji_build_id}: ${p.state} ${p.rpms_done}/${p.rpms_total}`);
      const text = run('darkserver', ['jobs', '--db', file]).stdout;
      assert.doesNotMatch(text, /\tfetching\b.*\t(\d+)\/\1 RPMs/);
      assert.match(text, /\tfetching \[COMPLETE\]\t0\/1 RPMs/, text);
    } finally {
      await k.stop();
    }
  });

  test('a resumed import remembers --full', async () => {
    const builds = structuredClone(fixtureBuilds);
    const kmod = byNvr(builds, 'df-kmod-1.0-1'); // header-first reads only its headers
    const k = await startFakeKoji({ builds, faults: { stall_file: 1, stall_ms: 30_000 } });
    try {
      const file = db();
      const end = await interrupted(k, file, ['--full', String(kmod.id)], async () => k.requests().some((l) => l.fault === 'stall_file'), 'SIGTERM');
      assert.equal(end.code, 143, end.stderr);
      assert.equal(jobs(file).rpms.queued, 1);
      const resume = importCmd(k, file, []);
      assert.equal(resume.code, 0, resume.stderr);
      assert.match(resume.stdout, /^resumed the import queue of fake: 1 build imported, .* 1 RPMs indexed \(0 from the header alone\)/);
      assert.deepEqual(JSON.parse(run('darkserver', ['stats', '--json', '--db', file]).stdout).byMethod, { payload: 1 }, 'the payload was read');

      const plain = db();
      assert.equal(importCmd(k, plain, [String(kmod.id)]).code, 0);
      assert.deepEqual(JSON.parse(run('darkserver', ['stats', '--json', '--db', plain]).stdout).byMethod, { header: 1 }, 'without --full: the header');
    } finally {
      await k.stop();
    }
  });
});
