// One image build, start to end: plan (backend, side repository, kickstart, exact command),
// run the tool in its own process group with its output in the job log, collect and stage the
// images with a CHECKSUM, mail the requester. Every step is written to the job's log.
import { createWriteStream, existsSync, WriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { CanceledError, ioMessage, UserError } from '../errors.js';
import { KojiClient } from '../koji/client.js';
import { resolveInstance } from '../koji/instances.js';
import { livecdPlan, livemediaPlan, loraxPlan, pungiPlan, withSetarch } from './backends.js';
import { FinalState, ImageJob, JobStore, workDirOf } from './jobs.js';
import { JOB_TOKEN_ENV } from '../proc/liveness.js';
import { leaseMs } from '../proc/lease.js';
import { hostMachine } from '../proc/machine.js';
import { thisWorker, type WorkerRef } from '../proc/worker.js';
import { killGroup } from './process-group.js';
import { DbLogSink, dbLogKeepBytes } from './joblog.js';
import { addRepo, loadKickstart, parseKickstartSummary, readKickstartSource, unifiedDiff } from './kickstart.js';
import { jobFinishedMail, jobStartedMail, sendJobMail } from './mail.js';
import { JobSecrets, maskedSecrets, secretRedactor, withSecrets } from './secrets.js';
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
  /** Retries and outage lines for the Koji hub of the side repository, and for a kickstart URL. */
  net?: NetOptions;
}

const SIDE_REPO = 'koji-side';
/** How often a runner reads its job's record: a cancel from any machine ends the tool within about this long. */
const WATCH_MS = 500;

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
    // A job recorded for a worker carries its kickstart, flattened where it was submitted: the
    // worker's machine need not have the submitter's files.
    const snap = cfg.kickstartSnapshot;
    const original = snap ? snap.text : await readKickstartSource(source, { retry: o.net });
    let flat = snap ? snap.text : (await loadKickstart(source, { retry: o.net })).text;
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
  const wrapped = withSetarch(plan, cfg.arch, hostMachine(o.env ?? process.env));
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
  /** Who holds the running job's lease (default: this process). */
  worker?: WorkerRef;
  /** The job is running already, claimed by `worker` (an `imagebuild worker`): do not start it again. */
  claimed?: boolean;
  /**
   * Ctrl-C, SIGTERM and SIGHUP cancel the job (default). A worker handles its signals itself and
   * sets this false.
   */
  handleSignals?: boolean;
  /**
   * Aborted by the worker that runs the job (it was told to stop): the tool is ended and the job
   * is left running, for the worker to put it back on the queue; nothing is staged or mailed.
   */
  abort?: AbortSignal;
  /** Progress lines of the runner itself (an `imagebuild worker` prints them). */
  note?: (line: string) => void;
}

/**
 * Run a queued job to its end; returns its final record. Never throws for a build failure.
 * While it runs, the runner holds the job under a lease it renews every quarter of
 * DARKFORGE_LEASE_SECONDS, and checks the record twice a second: a job canceled from any machine,
 * or given up as lost while this runner could not reach the store, has its tool ended at once.
 */
export async function runJob(job: ImageJob, o: RunOptions): Promise<ImageJob> {
  const cfg = withSecrets(job.config, o.secrets);
  const redact = secretRedactor(cfg);
  const worker = o.worker ?? thisWorker();
  const lease = leaseMs(o.env ?? process.env);
  // Ctrl-C, or the SIGTERM `imagebuild cancel` sends, must not kill this runner between two tools:
  // the job records the cancel, the running tool's group ends, and the steps unwind (unmounting,
  // removing scratch files) before the job is recorded as canceled. Installed before the job is
  // marked running, so no signal finds a running job without its handler.
  const running: Running = { canceled: false };
  let logFile: WriteStream | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    running.canceled = true;
    running.recording ??= o.jobs.markCanceled(job.id, `canceled by ${signal}`).catch(() => false);
    killGroup(running.pgid, signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    logFile?.write(`${new Date().toISOString()} canceled by ${signal}\n`);
  };
  const signals: NodeJS.Signals[] = o.handleSignals === false ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  // Told to stop by its worker: end the tool; the worker puts the job back.
  const onAbort = (): void => {
    running.canceled = true;
    killGroup(running.pgid);
  };
  o.abort?.addEventListener('abort', onAbort);
  // Ended elsewhere (a cancel from any machine, or given up as lost): end the tool within a second.
  const ended = (why: string): void => {
    if (running.canceled || running.recordingFinal) return;
    running.canceled = true;
    running.endedBy = why;
    killGroup(running.pgid);
  };
  const whyEnded = (j: ImageJob | undefined): string => (!j ? 'the job record is gone'
    : j.state === 'canceled' ? 'the job was canceled' : `the job was given up (${j.state}${j.error ? `: ${j.error}` : ''})`);
  // One read at a time: a store that does not answer (a cut link) must not pile reads up.
  let reading = false;
  const watch = setInterval(() => {
    if (reading) return;
    reading = true;
    o.jobs.record(job.id)
      .then((j) => { if (!j || (j.state !== 'running' && j.state !== 'queued')) ended(whyEnded(j)); }, () => undefined)
      .finally(() => { reading = false; });
  }, WATCH_MS).unref();
  // The lease: renewed four times per lease, so one or two renewals that fail only make it
  // shorter. When none has succeeded for a whole lease, other machines may have given the job up:
  // this runner stops its tool rather than build on beside another.
  let renewedAt = Date.now();
  let renewing = false;
  const heart = setInterval(() => {
    const tick = Date.now();
    const lapsed = (): void => {
      if (Date.now() - renewedAt > lease) ended(`its lease ran out: the database could not be reached for ${Math.round((Date.now() - renewedAt) / 1000)} s`);
    };
    // A renewal still waiting for the server (a link that drops packets) is not sent again.
    if (renewing) {
      lapsed();
      return;
    }
    renewing = true;
    o.jobs.renewLease(job.id, worker, lease)
      .then(async (held) => {
        if (held) renewedAt = tick;
        else ended(whyEnded(await o.jobs.record(job.id)));
      })
      .catch(lapsed)
      .finally(() => { renewing = false; });
  }, Math.max(50, Math.floor(lease / 4))).unref();
  const unlisten = (): void => {
    clearInterval(watch);
    clearInterval(heart);
    o.abort?.removeEventListener('abort', onAbort);
    for (const s of signals) process.removeListener(s, stop);
  };
  if (!o.claimed && !await o.jobs.started(job.id, process.pid, worker, lease)) {
    // Canceled (or given up as interrupted) before it could start: nothing to do.
    unlisten();
    return (await o.jobs.get(job.id))!;
  }
  const work = workDirOf(job.job_dir);
  let logBroken = false;
  let dbLogBroken = false;
  const dbLog = new DbLogSink((d) => o.jobs.appendLog(job.id, d, dbLogKeepBytes(o.env ?? process.env)), {
    keepBytes: dbLogKeepBytes(o.env ?? process.env),
    onError: (e) => {
      if (dbLogBroken) return;
      dbLogBroken = true;
      logFile?.write(`${new Date().toISOString()} the log could not be copied to the database (${redact((e as Error)?.message ?? String(e))}); it is tried again, and this file has all of it\n`);
    },
  });
  const log = (line: string): void => {
    const text = `${new Date().toISOString()} ${redact(line)}\n`;
    logFile?.write(text);
    dbLog.push(text);
    if (o.attached) process.stderr.write(text);
  };
  let state: FinalState = 'failed';
  let artifacts: string[] = [];
  let error: string | undefined;
  let plan: JobPlan | undefined;
  let keepWork = false;
  // A masked password would only be refused by the server (and count against the account).
  const noSmtpPassword = maskedSecrets(cfg).some((m) => m.startsWith('SMTP'));
  const mailTo = cfg.email && cfg.smtp && !noSmtpPassword ? { to: cfg.email, smtp: cfg.smtp } : undefined;
  try {
    await mkdir(work, { recursive: true });
    logFile = createWriteStream(job.log_path, { flags: 'a' });
    // A full or read-only disk must not crash the runner: the job still gets its final record.
    logFile.on('error', (e) => {
      if (!logBroken && o.attached) process.stderr.write(`cannot write the job log ${job.log_path}: ${ioMessage(e)}\n`);
      logBroken = true;
    });
    if (mailTo) await sendJobMail(mailTo.smtp, mailTo.to, jobStartedMail({ id: String(job.id), type: cfg.type, arch: cfg.arch }), log);
    log(`image build ${job.id}: ${cfg.type} for ${cfg.arch}, release ${cfg.release}, config ${cfg.files.join(', ')}, on ${hostname()}`);
    for (const m of maskedSecrets(cfg)) {
      log(`this machine has no ${m} (a job's record keeps none; see "imagebuild worker --help")${m.startsWith('SMTP') ? ': no mail is sent' : ''}`);
    }
    // A Koji hub or package store that is down is waited for, and the job log says so, once per outage.
    const net: NetOptions = { outages: new OutageLog(log) };
    plan = await planJob(cfg, { workDir: work, env: o.env, net });
    if (plan.sideRepo.length) {
      log(`creating the side repository with ${plan.sideRepo.length} RPMs from Koji`);
      await buildSideRepo(join(work, SIDE_REPO), plan.sideRepo, { createrepo: requireTool('createrepo_c'), log, net });
    }
    if (plan.kickstart) await writeFile(join(work, 'kickstart.ks'), plan.kickstart.flattened);
    const deadline = job.timeout_s ? Date.now() + job.timeout_s * 1000 : undefined;
    const exec = (cmd: ToolCommand): Promise<void> => runTool(job, cmd, { ...o, deadline, running }, (d) => { logFile!.write(d); dbLog.push(d); }, log);
    if (plan.builtin) {
      await runBuiltin(plan.builtin, parseKickstartSummary(plan.kickstart?.flattened ?? ''), {
        exec: (argv, x) => {
          if (!argv[0].includes('/')) requireTool(argv[0], o.env);
          return exec({ argv, cwd: x?.cwd ?? work, env: x?.env });
        },
        log,
        checkCanceled: () => { if (running.canceled) throw new CanceledError(running.endedBy ?? 'the job was canceled'); },
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
    if (o.abort?.aborted) throw new CanceledError('stopped by its worker before its images were staged');
    if (await isCanceled(o.jobs, job, running)) throw new CanceledError(`${running.endedBy ?? 'the job was canceled'} before its images were staged`);
    const target = parseStaging(cfg.staging ?? pathToFileURL(join(job.job_dir, 'artifacts')).href);
    log(`staging ${outputs.length} image(s) to ${job.config.staging ?? join(job.job_dir, 'artifacts')}`);
    await new Promise<void>((r) => logFile!.write('', () => r()));
    try {
      const missing = maskedSecrets(cfg).find((m) => m.startsWith('FTP'));
      if (missing) throw new UserError(`this machine (${hostname()}) has no ${missing}: a job's record keeps none`, 1);
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
  await running.recording;
  if (o.abort?.aborted) {
    // Its worker puts it back on the queue: whoever runs it next starts afresh.
    log(`stopped on ${hostname()} by its worker; the job goes back on the queue`);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
    await dbLog.close();
    unlisten();
    if (logFile) await new Promise<void>((r) => logFile!.end(() => r()));
    return (await o.jobs.get(job.id))!;
  }
  await dbLog.flush();
  running.recordingFinal = true;
  await o.jobs.finished(job.id, state, { artifacts, error });
  const final = (await o.jobs.get(job.id))!;
  if (running.endedBy && final.state !== 'canceled') log(`stopped: ${running.endedBy}; the record stays as it is (${final.state})`);
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
  await dbLog.close();
  if (logFile) await new Promise<void>((r) => logFile!.end(() => r()));
  o.note?.(`job ${job.id} ${final.state}${final.error ? `: ${final.error}` : ''}`);
  return (await o.jobs.get(job.id))!;
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

/** What the job's signal handler and its steps share. */
interface Running {
  /** The process group of the tool running now. */
  pgid?: number;
  /** A cancel was seen (a signal to this runner, the record, or its worker stopping it): end the tool. */
  canceled: boolean;
  /** Why, when the job was ended elsewhere (canceled from another machine, given up as lost). */
  endedBy?: string;
  /** The record of a cancel this runner received, being written. */
  recording?: Promise<boolean>;
  /** The runner is writing the final record: changes of the record are its own. */
  recordingFinal?: boolean;
}

/**
 * The job is no longer this runner's to finish: canceled (by a signal to this runner, once its
 * record is written, or in its record), given up as lost, or its worker was told to stop.
 */
async function isCanceled(jobs: JobStore, job: ImageJob, running: Running): Promise<boolean> {
  await running.recording;
  if (running.canceled && running.endedBy === undefined && !running.recording) return true;
  const state = (await jobs.record(job.id))?.state;
  return state !== 'running';
}

/**
 * The tool runs in a process group of its own, so cancel and timeout can end all of it. It
 * carries the job's token in its environment, so a later look at a dead runner's job can tell its
 * orphaned tool from an unrelated process that reuses the group id.
 */
async function runTool(job: ImageJob, cmd: ToolCommand, o: RunOptions & { deadline?: number; running: Running }, output: (d: Buffer) => void, log: (line: string) => void): Promise<void> {
  log(`running: ${cmd.argv.map(quote).join(' ')} (in ${cmd.cwd})`);
  const left = o.deadline === undefined ? undefined : o.deadline - Date.now();
  if (left !== undefined && left <= 0) throw new UserError(`the job timed out after ${job.timeout_s} s (--timeout) before ${cmd.argv[0]} could start`, 1);
  const env = { ...o.env, ...cmd.env, [JOB_TOKEN_ENV]: job.job_dir };
  const child = execa(cmd.argv[0], cmd.argv.slice(1), { cwd: cmd.cwd, detached: true, all: true, reject: false, stdin: 'ignore', env });
  child.all?.on('data', (d: Buffer) => {
    output(d);
    if (o.attached) process.stderr.write(d);
  });
  // The group is recorded before the cancel check: a cancel either finds it recorded and ends it,
  // or is seen here.
  if (child.pid) {
    o.running.pgid = child.pid;
    await o.jobs.setProcessGroup(job.id, child.pid);
  }
  if (o.running.canceled || await isCanceled(o.jobs, job, o.running)) killGroup(child.pid);
  let timedOut = false;
  const timer = left !== undefined ? setTimeout(() => { timedOut = true; killGroup(child.pid); }, left) : undefined;
  const res = await child;
  o.running.pgid = undefined;
  if (timer) clearTimeout(timer);
  await o.jobs.setProcessGroup(job.id, null);
  if (timedOut) throw new UserError(`${cmd.argv[0]} timed out after ${job.timeout_s} s (the job's --timeout)`, 1);
  if (await isCanceled(o.jobs, job, o.running)) throw new CanceledError(`${cmd.argv[0]} stopped: ${o.running.endedBy ?? (o.abort?.aborted ? 'its worker was stopped' : 'the job was canceled')}`);
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
