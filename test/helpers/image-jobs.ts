// Shared by the imagebuild fault, secret and soak tests: a private XDG home with the stand-in
// image tools first on PATH, the CLI run synchronously or as a child process, polling, and a
// real FTP server (pyftpdlib) on 127.0.0.1.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { execa, type ResultPromise } from 'execa';
import { UserError } from '../../src/lib/errors.ts';
import { cancelJob } from '../../src/lib/image/cancel.ts';
import { loadImageConfig } from '../../src/lib/image/config.ts';
import { JobStore } from '../../src/lib/image/jobs.ts';
import { detach } from '../../src/lib/image/submit.ts';
import type { Store } from '../../src/lib/store/port.ts';
import { processAlive } from '../../src/lib/proc/alive.ts';
import { run, Run, tempDir } from './cli.ts';
import { ROOT } from './paths.ts';

export const STANDINS = join(ROOT, 'test', 'stand-ins');
export const CONF = join(ROOT, 'config', 'imagebuild.conf');
export const FINAL = ['succeeded', 'staging_failed', 'failed', 'canceled'];

/** An ISO 9660 image (the stand-ins write a primary volume descriptor). */
export const isIso = (p: string): boolean => readFileSync(p).toString('latin1', 32769, 32774) === 'CD001';

export interface ImageEnv { home: string; db: string; log: string; staging: string; data: string; env: NodeJS.ProcessEnv }

export function imageEnv(extra: NodeJS.ProcessEnv = {}): ImageEnv {
  const home = tempDir('darkforge-image-');
  const data = join(home, 'data');
  const log = join(home, 'standin.jsonl');
  return {
    home, data, log, db: join(home, 'i.sqlite'), staging: join(home, 'staging'),
    env: { PATH: `${STANDINS}:${process.env.PATH}`, DF_STANDIN_LOG: log, XDG_DATA_HOME: data, XDG_CONFIG_HOME: join(home, 'cfg'), DARKFORGE_BACKOFF_MS: '1', DARKFORGE_RETRY_TIME: '1', ...extra },
  };
}

/** `imagebuild ARGS --db DB`, to its end. */
export const ib = (e: ImageEnv, args: string[], env: NodeJS.ProcessEnv = {}): Run => run('imagebuild', [...args, '--db', e.db], { ...e.env, ...env });

export interface Child { pid: number; done: Promise<Run>; stdout: () => string }

/** `imagebuild ARGS --db DB` as a child process (in its own process group when `group`). */
export function ibChild(e: ImageEnv, args: string[], o: { env?: NodeJS.ProcessEnv; group?: boolean; cwd?: string } = {}): Child {
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'imagebuild.js'), ...args, '--db', e.db], {
    env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', ...e.env, ...o.env }, detached: o.group ?? false, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => { stdout += d; });
  p.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<Run>((resolve) => p.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr })));
  return { pid: p.pid!, done, stdout: () => stdout };
}

export interface StandinRun { tool: string; argv: string[]; cwd: string; pid: number }

export const standinRuns = (e: ImageEnv): StandinRun[] =>
  existsSync(e.log) ? readFileSync(e.log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];

export interface JobJson {
  id: number; state: string; pid: number | null; pgid: number | null; error: string | null; artifacts: string[];
  job_dir: string; log_path: string; workdir: string | null; config: Record<string, unknown>; started_at: number | null;
}

export const statusOf = (e: ImageEnv, id: number): JobJson => {
  const r = ib(e, ['status', String(id), '--json']);
  if (r.code !== 0) throw new Error(`imagebuild status ${id}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as JobJson;
};

/** Polls `check` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The shipped imagebuild.conf, with its kickstart paths made absolute and `edit` applied, in a temp folder. */
export function confCopy(edit: (text: string) => string = (t) => t): string {
  const dir = tempDir('darkforge-conf-');
  const conf = join(dir, 'imagebuild.conf');
  const text = readFileSync(CONF, 'utf8').replace(/^config\s*=\s*kickstarts\/(\S+)$/gm, (_m, f: string) => `config = ${join(ROOT, 'config', 'kickstarts', f)}`);
  writeFileSync(conf, edit(text));
  return conf;
}

/** Every regular file below `dir`. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) out.push(...filesUnder(p));
    else if (st?.isFile()) out.push(p);
  }
  return out;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Debian installs pyftpdlib for /usr/bin/python3, which may not be the first python3 on PATH. */
export async function pyftpdlibPython(): Promise<string> {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if ((await execa(py, ['-c', 'import pyftpdlib'], { reject: false })).exitCode === 0) return py;
  }
  throw new Error('python3-pyftpdlib is needed (apt-get install python3-pyftpdlib)');
}

export interface FtpServer { port: number; root: string; stop: () => Promise<void> }

/** pyftpdlib on 127.0.0.1 (anonymous, or with `user`/`password`), writable, rooted at `root`. */
export async function startFtp(root: string, login?: { user: string; password: string }): Promise<FtpServer> {
  const py = await pyftpdlibPython();
  mkdirSync(root, { recursive: true });
  const extra = login ? ['-u', login.user, '-P', login.password] : [];
  // -p 0: the kernel picks the port and pyftpdlib prints it, so no port can be taken in between.
  const child: ResultPromise = execa(py, ['-m', 'pyftpdlib', '-i', '127.0.0.1', '-p', '0', '-w', '-d', root, ...extra], { stdin: 'ignore', reject: false });
  let seen = '';
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`pyftpdlib did not start:\n${seen}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /starting FTP server on 127\.0\.0\.1:(\d+)/.exec(seen);
      if (m) { clearTimeout(timer); resolvePort(Number(m[1])); }
    });
    void child.then((r) => { clearTimeout(timer); reject(new Error(`pyftpdlib exited: ${r.stderr}`)); });
  });
  return { port, root, stop: async () => { child.kill(); await child; } };
}

/**
 * One race of `cancel` against a job whose tool finishes at once: the cancel comes `delayMs`
 * after the job is seen running (the tool, staging and the final record all happen within a
 * few hundred milliseconds of that). Checks that cancel's answer and the record agree, and
 * returns which side won. The fast test runs it a few times, the soak test many more.
 */
export async function cancelRace(e: ImageEnv, store: Store, delayMs: number): Promise<'canceled' | 'succeeded'> {
  const jobs = new JobStore(store);
  const { config } = loadImageConfig({ type: 'dvd', configFile: CONF, overrides: { staging: `file://${e.staging}` } });
  const job = await jobs.create({ config: config!, backend: 'pungi', jobsRoot: join(e.data, 'darkforge', 'jobs') });
  await detach(job, e.db, {}, jobs, { ...process.env, ...e.env });
  const runner = (await jobs.get(job.id))!.pid!;
  await waitFor(`job ${job.id} to run`, async () => ((await jobs.get(job.id))!.state === 'queued' ? undefined : true), 60_000, 5);
  await new Promise((r) => setTimeout(r, delayMs));
  let answer: 'canceled' | string;
  try {
    answer = (await cancelJob(jobs, (await jobs.get(job.id))!)).state;
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    answer = err.message;
  }
  const states: string[] = [];
  const final = await waitFor(`job ${job.id} to end`, async () => {
    const j = (await jobs.get(job.id))!;
    states.push(j.state);
    return FINAL.includes(j.state) ? j : undefined;
  }, 60_000, 20);
  await waitFor('the runner to exit', () => (processAlive(runner) ? undefined : true), 30_000, 20);
  const settled = (await jobs.get(job.id))!;
  assert.deepEqual({ state: settled.state, error: settled.error }, { state: final.state, error: final.error }, 'the final record does not change after the runner exits');
  if (answer === 'canceled') {
    assert.equal(final.state, 'canceled', 'cancel said canceled, so the job is canceled');
    assert.equal(final.error, 'canceled (imagebuild cancel)');
  } else {
    assert.equal(answer, `job ${job.id} is already ${final.state}`);
    assert.equal(final.state, 'succeeded', `${final.error}`);
    assert.equal(final.error, null);
    assert.ok(final.artifacts.length > 0 && final.artifacts.every((a) => existsSync(a)));
  }
  // The state only moves forward: once final, every later read agrees.
  const firstFinal = states.findIndex((s) => FINAL.includes(s));
  assert.ok(states.slice(firstFinal).every((s) => s === final.state), states.join(' '));
  return final.state as 'canceled' | 'succeeded';
}

