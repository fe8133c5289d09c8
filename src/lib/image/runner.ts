// One image build, start to end: plan (backend, side repository, kickstart, exact command),
// run the tool in its own process group with its output in the job log, collect and stage the
// images with a CHECKSUM, mail the requester. Every step is written to the job's log.
import { createWriteStream, existsSync, WriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { machine } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { CanceledError, ioMessage, UserError } from '../errors.js';
import { KojiClient } from '../koji/client.js';
import { resolveInstance } from '../koji/instances.js';
import { livecdPlan, livemediaPlan, loraxPlan, pungiPlan, withSetarch } from './backends.js';
import { FinalState, ImageJob, JobStore, workDirOf } from './jobs.js';
import { JOB_TOKEN_ENV } from '../proc/liveness.js';
import { killGroup } from './process-group.js';
import { addRepo, loadKickstart, parseKickstartSummary, readKickstartSource, unifiedDiff } from './kickstart.js';
import { jobFinishedMail, jobStartedMail, sendJobMail } from './mail.js';
import { JobSecrets, secretRedactor, withSecrets } from './secrets.js';
import type { NetOptions } from '../net/dispatcher.js';
import { OutageLog } from '../net/outages.js';
import { buildSideRepo, planSideRepo, SideRpm } from './siderepo.js';
import { parseStaging, stageArtifacts } from './staging.js';
import { backendFor, requireTool } from './tools.js';
import { checkKickstartRepos } from './validate.js';
import { BuiltinPlan, planBuiltin } from './builtin/plan.js';
import { runBuiltin } from './builtin/run.js';
import { BackendName, ImageBuildConfig } from './types.js';
import { keepImages, settleWorkdir } from './workdir.js';

export interface CommandPlan {
  argv: string[];
  cwd: string;
  outputs: string[];
  /** Logs the tool writes itself: staged beside the images. */
  logs: string[];
  cleanDirs: string[];
  makeDirs: string[];
}

export interface JobPlan {
  backend: BackendName;
  sideRepo: SideRpm[];
  kickstart?: { source: string; flattened: string; diff: string };
  /** A Fedora tool: one command. */
  command?: CommandPlan;
  /** The builtin backend: several steps. */
  builtin?: BuiltinPlan;
}

/** What a plan leaves behind: images, and the tool's own logs. */
export function planOutputs(plan: JobPlan): { outputs: string[]; logs: string[] } {
  return plan.command ?? plan.builtin!;
}

export interface PlanOptions {
  workDir: string;
  env?: NodeJS.ProcessEnv;
  /** Retries and outage lines for the Koji hub of the side repository. */
  net?: NetOptions;
}

const SIDE_REPO = 'koji-side';

/** Everything a job would do, without doing it (also what --dry-run prints). */
export async function planJob(cfg: ImageBuildConfig, o: PlanOptions): Promise<JobPlan> {
  const backend = backendFor(cfg, o.env);
  let sideRepo: SideRpm[] = [];
  if (cfg.nvr.length || cfg.bid.length) {
    const inst = resolveInstance({ instance: cfg.kojiHub ? undefined : cfg.koji, hub: cfg.kojiHub, topurl: cfg.kojiTopurl });
    sideRepo = await planSideRepo(new KojiClient({ hub: inst.hub, ...o.net }), inst, cfg.arch, cfg.nvr, cfg.bid);
  }
  const sideUrl = pathToFileURL(join(o.workDir, SIDE_REPO)).href;
  const ksPath = join(o.workDir, 'kickstart.ks');
  let kickstart: JobPlan['kickstart'];
  const source = cfg.type === 'dvd' ? cfg.dvd?.kickstart : cfg.type === 'live' ? cfg.live?.kickstart : undefined;
  if (source) {
    const original = await readKickstartSource(source, {});
    let flat = (await loadKickstart(source)).text;
    try {
      checkKickstartRepos(parseKickstartSummary(flat).repos);
    } catch (e) {
      throw e instanceof UserError ? new UserError(`kickstart ${source}: ${e.message}`, 2) : e;
    }
    if (sideRepo.length) flat = addRepo(flat, { name: SIDE_REPO, baseurl: sideUrl });
    kickstart = { source, flattened: flat, diff: unifiedDiff(original, flat, source, ksPath) };
  }
  if (backend === 'builtin') return { backend, sideRepo, kickstart, builtin: planBuiltin(cfg, parseKickstartSummary(kickstart?.flattened ?? ''), o.workDir) };
  const job = { workDir: o.workDir, kickstartPath: ksPath, sideRepo: sideRepo.length ? sideUrl : undefined };
  const plan = cfg.type === 'boot' ? loraxPlan(cfg, job)
    : cfg.type === 'dvd' ? pungiPlan(cfg, job)
      : backend === 'livemedia-creator' ? livemediaPlan(cfg, job) : livecdPlan(cfg, job);
  const wrapped = withSetarch(plan, cfg.arch, machine());
  return {
    backend, sideRepo, kickstart,
    command: { argv: [wrapped.command, ...wrapped.args], cwd: wrapped.cwd, outputs: wrapped.outputs, logs: wrapped.logs, cleanDirs: wrapped.cleanDirs, makeDirs: wrapped.makeDirs },
  };
}

export interface RunOptions {
  jobs: JobStore;
  /** Also show the tool's output on this terminal. */
  attached: boolean;
  /** Passwords kept out of the job record. */
  secrets?: JobSecrets;
  env?: NodeJS.ProcessEnv;
}

/** Run a queued job to its end; returns its final record. Never throws for a build failure. */
export async function runJob(job: ImageJob, o: RunOptions): Promise<ImageJob> {
  const cfg = withSecrets(job.config, o.secrets);
  const redact = secretRedactor(cfg);
  // Ctrl-C, or the SIGTERM `imagebuild cancel` sends, must not kill this runner between two tools:
  // the job records the cancel, the running tool's group ends, and the steps unwind (unmounting,
  // removing scratch files) before the job is recorded as canceled. Installed before the job is
  // marked running, so no signal finds a running job without its handler.
  const running: Running = {};
  let logFile: WriteStream | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    o.jobs.markCanceled(job.id, `canceled by ${signal}`);
    killGroup(running.pgid, signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    logFile?.write(`${new Date().toISOString()} canceled by ${signal}\n`);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  const unlisten = (): void => { for (const s of signals) process.removeListener(s, stop); };
  if (!o.jobs.started(job.id, process.pid)) {
    // Canceled (or given up as interrupted) before it could start: nothing to do.
    unlisten();
    return o.jobs.get(job.id)!;
  }
  const work = workDirOf(job.job_dir);
  let logBroken = false;
  const log = (line: string): void => {
    const text = `${new Date().toISOString()} ${redact(line)}\n`;
    logFile?.write(text);
    if (o.attached) process.stderr.write(text);
  };
  let state: FinalState = 'failed';
  let artifacts: string[] = [];
  let error: string | undefined;
  let plan: JobPlan | undefined;
  let keepWork = false;
  const mailTo = cfg.email && cfg.smtp ? { to: cfg.email, smtp: cfg.smtp } : undefined;
  try {
    await mkdir(work, { recursive: true });
    logFile = createWriteStream(job.log_path, { flags: 'a' });
    // A full or read-only disk must not crash the runner: the job still gets its final record.
    logFile.on('error', (e) => {
      if (!logBroken && o.attached) process.stderr.write(`cannot write the job log ${job.log_path}: ${ioMessage(e)}\n`);
      logBroken = true;
    });
    if (mailTo) await sendJobMail(mailTo.smtp, mailTo.to, jobStartedMail({ id: String(job.id), type: cfg.type, arch: cfg.arch }), log);
    log(`image build ${job.id}: ${cfg.type} for ${cfg.arch}, release ${cfg.release}, config ${cfg.files.join(', ')}`);
    // A Koji hub or package store that is down is waited for, and the job log says so, once per outage.
    const net: NetOptions = { outages: new OutageLog(log) };
    plan = await planJob(cfg, { workDir: work, env: o.env, net });
    if (plan.sideRepo.length) {
      log(`creating the side repository with ${plan.sideRepo.length} RPMs from Koji`);
      await buildSideRepo(join(work, SIDE_REPO), plan.sideRepo, { createrepo: requireTool('createrepo_c'), log, net });
    }
    if (plan.kickstart) await writeFile(join(work, 'kickstart.ks'), plan.kickstart.flattened);
    const deadline = job.timeout_s ? Date.now() + job.timeout_s * 1000 : undefined;
    const exec = (cmd: ToolCommand): Promise<void> => runTool(job, cmd, { ...o, deadline, running }, logFile!, log);
    if (plan.builtin) {
      await runBuiltin(plan.builtin, parseKickstartSummary(plan.kickstart?.flattened ?? ''), {
        exec: (argv, x) => {
          if (!argv[0].includes('/')) requireTool(argv[0], o.env);
          return exec({ argv, cwd: x?.cwd ?? work, env: x?.env });
        },
        log,
        checkCanceled: () => { if (o.jobs.get(job.id)?.state === 'canceled') throw new CanceledError('the job was canceled'); },
      });
    } else {
      const cmd = plan.command!;
      for (const tool of cmd.argv[0] === 'setarch' ? ['setarch', cmd.argv[2]] : [cmd.argv[0]]) requireTool(tool, o.env);
      for (const d of cmd.cleanDirs) await rm(d, { recursive: true, force: true });
      for (const d of [...cmd.makeDirs, cmd.cwd]) await mkdir(d, { recursive: true });
      await exec(cmd);
    }
    const { outputs, logs } = planOutputs(plan);
    const missing: string[] = [];
    for (const out of outputs) if (!(await isFile(out))) missing.push(out);
    if (missing.length) throw new UserError(`${plan.command?.argv[0] ?? 'the builtin backend'} finished but did not write ${missing.join(', ')}`, 1);
    if (o.jobs.get(job.id)?.state === 'canceled') throw new CanceledError('the job was canceled before its images were staged');
    const target = parseStaging(cfg.staging ?? pathToFileURL(join(job.job_dir, 'artifacts')).href);
    log(`staging ${outputs.length} image(s) to ${job.config.staging ?? join(job.job_dir, 'artifacts')}`);
    await new Promise<void>((r) => logFile!.write('', () => r()));
    try {
      const staged = await stageArtifacts(target, [
        // pungi's and the builtin backend's own CHECKSUM name the unstaged files: they travel as logs;
        // the staging CHECKSUM covers the images under their staged names.
        ...outputs.map((p) => ({ path: p, kind: p.endsWith('CHECKSUM') ? 'log' as const : 'image' as const })),
        ...(await existing(logs)).map((p) => ({ path: p, kind: 'log' as const })),
        { path: job.log_path, kind: 'log' as const },
      ], { arch: cfg.arch, log });
      artifacts = staged.staged;
      state = 'succeeded';
      log(`image(s) and logs available at: ${artifacts.join(' ')}`);
    } catch (e) {
      // The build itself succeeded: keep its images where the job folder holds them, and say so.
      const kept = await keepImages(outputs, join(job.job_dir, 'images'), log);
      artifacts = kept.paths;
      keepWork = !kept.moved;
      state = 'staging_failed';
      error = `staging failed: ${redact(errorText(e))}`;
      log(`the build succeeded but ${error}; the image(s) are kept at: ${artifacts.join(' ')}`);
    }
  } catch (e) {
    error = redact(errorText(e));
    log(`failed: ${error}`);
  }
  o.jobs.finished(job.id, state, { artifacts, error });
  const final = o.jobs.get(job.id)!;
  // The record is final; the work folder goes or stays by --keep-workdir (default: it stays
  // unless the job succeeded, so a failure can be looked into).
  if (plan !== undefined || existsSync(work)) {
    await settleWorkdir(work, {
      keep: keepWork ? true : cfg.keepWorkdir, state: final.state as FinalState, jobDir: job.job_dir,
      toolLogs: plan ? planOutputs(plan).logs : [], log,
    }).catch((e) => log(`the work folder ${work} could not be removed: ${errorText(e)}`));
  }
  if (mailTo) {
    const tail = (await readFile(job.log_path, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-30);
    await sendJobMail(mailTo.smtp, mailTo.to, jobFinishedMail({
      id: String(job.id), type: cfg.type, arch: cfg.arch, state: final.state as FinalState, artifacts: final.artifacts, error: final.error ?? undefined, logTail: tail,
    }), log);
  }
  unlisten();
  if (logFile) await new Promise<void>((r) => logFile!.end(() => r()));
  return o.jobs.get(job.id)!;
}

/** One line for the record: the message of a UserError, a phrase for a filesystem error. */
function errorText(e: unknown): string {
  if (e instanceof UserError) return e.message;
  if ((e as NodeJS.ErrnoException)?.code) return `${ioMessage(e)}${(e as { path?: string }).path ? ` (${(e as { path?: string }).path})` : ''}`;
  return (e as Error)?.message ?? String(e);
}

export interface ToolCommand {
  argv: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/** The process group of the tool running now, for the job's signal handler. */
interface Running { pgid?: number }

/**
 * The tool runs in a process group of its own, so cancel and timeout can end all of it. It
 * carries the job's token in its environment, so a later look at a dead runner's job can tell its
 * orphaned tool from an unrelated process that reuses the group id.
 */
async function runTool(job: ImageJob, cmd: ToolCommand, o: RunOptions & { deadline?: number; running: Running }, logFile: WriteStream, log: (line: string) => void): Promise<void> {
  log(`running: ${cmd.argv.map(quote).join(' ')} (in ${cmd.cwd})`);
  const left = o.deadline === undefined ? undefined : o.deadline - Date.now();
  if (left !== undefined && left <= 0) throw new UserError(`the job timed out after ${job.timeout_s} s (--timeout) before ${cmd.argv[0]} could start`, 1);
  const env = { ...o.env, ...cmd.env, [JOB_TOKEN_ENV]: job.job_dir };
  const child = execa(cmd.argv[0], cmd.argv.slice(1), { cwd: cmd.cwd, detached: true, all: true, reject: false, stdin: 'ignore', env });
  if (o.jobs.get(job.id)?.state === 'canceled') {
    killGroup(child.pid);
  } else if (child.pid) {
    o.running.pgid = child.pid;
    o.jobs.setProcessGroup(job.id, child.pid);
  }
  child.all?.on('data', (d: Buffer) => {
    logFile.write(d);
    if (o.attached) process.stderr.write(d);
  });
  let timedOut = false;
  const timer = left !== undefined ? setTimeout(() => { timedOut = true; killGroup(child.pid); }, left) : undefined;
  const res = await child;
  o.running.pgid = undefined;
  if (timer) clearTimeout(timer);
  o.jobs.setProcessGroup(job.id, null);
  if (timedOut) throw new UserError(`${cmd.argv[0]} timed out after ${job.timeout_s} s (the job's --timeout)`, 1);
  if (o.jobs.get(job.id)?.state === 'canceled') throw new CanceledError(`${cmd.argv[0]} stopped: the job was canceled`);
  if (res.signal) throw new UserError(`${cmd.argv[0]} was killed by signal ${res.signal}${res.signalDescription ? ` (${res.signalDescription})` : ''}`, 1);
  if (res.failed && res.exitCode === undefined) throw new UserError(`${cmd.argv[0]} could not be started: ${res.code ?? res.shortMessage}`, 1);
  if (res.exitCode !== 0) throw new UserError(`${cmd.argv[0]} failed with exit code ${res.exitCode}`, 1);
}

const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function existing(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) if (await isFile(p)) out.push(p);
  return out;
}

async function isFile(p: string): Promise<boolean> {
  try { return (await stat(p)).isFile(); } catch { return false; }
}
