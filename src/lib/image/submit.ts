// What `imagebuild boot|dvd|live` does: load and validate the configuration (every problem at
// once), then print the plan (--dry-run), record the job for an `imagebuild worker` (--queue, or
// an arch this host cannot build in a store other machines share), start the job in the
// background (--detach), or run it attached to this terminal.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { NetOptions } from '../net/dispatcher.js';
import { storeForChild } from '../store/open.js';
import type { Store } from '../store/port.js';
import { ConfigOverrides, formatProblem, loadImageConfig } from './config.js';
import { ImageJob, JobStore } from './jobs.js';
import { jobsRoot } from './location.js';
import { JobPlan, planJob, planOutputs, runJob } from './runner.js';
import { checkPrivileges, planBuiltin } from './builtin/plan.js';
import { loadKickstart, parseKickstartSummary } from './kickstart.js';
import { JOB_TOKEN_ENV } from '../proc/liveness.js';
import { JobSecrets, SECRETS_ENV, splitSecrets } from './secrets.js';
import { backendFor, requireTool } from './tools.js';
import { BuildHost, checkKickstartRepos, hostArches, setarchFor } from './validate.js';
import { hostMachine } from '../proc/machine.js';
import { ImageBuildConfig, ImageType } from './types.js';

export interface BuildFlags extends ConfigOverrides {
  config?: string;
  hub?: string;
  topurl?: string;
  dryRun?: boolean;
  detach?: boolean;
  timeout?: number;
  /** --keep-workdir / --no-keep-workdir; unset: kept unless the job succeeded. */
  keepWorkdir?: boolean;
  /** Record the job for an `imagebuild worker` instead of running it. */
  queue?: boolean;
}

export function loadValidConfig(type: ImageType, f: BuildFlags, host?: BuildHost): ImageBuildConfig {
  const { config, problems } = loadImageConfig({
    type, configFile: f.config, host,
    overrides: { arch: f.arch, release: f.release, nvr: f.nvr, bid: f.bid, staging: f.staging, email: f.email, instance: f.instance, backend: f.backend, format: f.format, bootIso: f.bootIso },
  });
  if (f.topurl && !f.hub) problems.push({ message: '--topurl needs --hub as well' });
  if (problems.length || !config) {
    throw new UserError(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration, nothing was run:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, 2);
  }
  const out = f.hub ? { ...config, kojiHub: f.hub, kojiTopurl: f.topurl } : config;
  return f.keepWorkdir === undefined ? out : { ...out, keepWorkdir: f.keepWorkdir };
}

/** The --dry-run report: validated config, side repository, kickstart diff, exact command. */
export function describePlan(cfg: ImageBuildConfig, plan: JobPlan): string {
  const lines = [
    `type ${cfg.type}, arch ${cfg.arch}, release ${cfg.release}, backend ${plan.backend}`,
    `config: ${cfg.files.join(', ')}`,
    `staging: ${cfg.staging ?? '(the job folder)'}${cfg.email ? `, mail to ${cfg.email}` : ''}`,
    `work folder: ${cfg.keepWorkdir === true ? 'kept' : cfg.keepWorkdir === false ? 'removed after the job' : 'removed if the job succeeds, kept otherwise'}`,
  ];
  if (plan.sideRepo.length) {
    lines.push(`side repository (${plan.sideRepo.length} RPMs from Koji):`);
    for (const r of plan.sideRepo) lines.push(`  ${r.nvra}  ${r.url}`);
  }
  if (plan.kickstart) lines.push(`kickstart ${plan.kickstart.source}, flattened:`, plan.kickstart.diff.trimEnd() || '  (unchanged)');
  if (plan.command) lines.push(`command (in ${plan.command.cwd}):`, `  ${plan.command.argv.join(' ')}`);
  else lines.push('steps:', ...plan.builtin!.steps.map((s, i) => `  ${i + 1}. ${s}`));
  lines.push('outputs:', ...planOutputs(plan).outputs.map((p) => `  ${p}`));
  return lines.join('\n');
}

export interface SubmitResult {
  job?: ImageJob;
  plan?: JobPlan;
  report?: string;
  /** The job was recorded for a worker; `why` when it was not asked for (an arch this host cannot build). */
  queued?: { why?: string };
  /** Things the requester should know, for stderr. */
  notes: string[];
}

export async function submitBuild(store: Store, type: ImageType, f: BuildFlags, o: { dbFile: string; net?: NetOptions }): Promise<SubmitResult> {
  const machine = hostMachine();
  // With a store other machines share, an arch this host cannot build goes to a worker of that arch.
  const cfg = loadValidConfig(type, f, { machine, workers: store.shared, queue: f.queue });
  const { redacted, secrets } = splitSecrets(cfg);
  if (f.dryRun) {
    const plan = await planJob(cfg, { workDir: join(jobsRoot(), '<job>', 'work'), net: o.net });
    return { plan, report: describePlan(redacted, plan), notes: [] };
  }
  const here = hostArches(machine).includes(cfg.arch);
  if (f.queue || !here) {
    const r = await queueBuild(store, cfg, f, o.net);
    return here ? r : { ...r, queued: { why: `this ${machine} host cannot build ${cfg.arch} images` } };
  }
  const backend = backendFor(cfg);
  checkTools(cfg, backend);
  await checkKickstart(cfg, backend, o.net);
  const jobs = new JobStore(store);
  const job = await jobs.create({ config: redacted, backend, jobsRoot: jobsRoot(), timeoutS: f.timeout });
  if (f.detach) {
    await detach(job, o.dbFile, secrets, jobs);
    return { job: await jobs.get(job.id), notes: [] };
  }
  return { job: await runJob(job, { jobs, attached: true, secrets }), notes: [] };
}

/**
 * Record the job for an `imagebuild worker`, validated as a job run here is, except for what
 * belongs to the machine that will run it (its tools, root for a live image). The kickstart goes
 * with the record, flattened here. Passwords never do: the worker has its own.
 */
async function queueBuild(store: Store, cfg: ImageBuildConfig, f: BuildFlags, net?: NetOptions): Promise<SubmitResult> {
  const { redacted, secrets } = splitSecrets(cfg);
  // "auto" is decided by the worker, from the tools its machine has (archives and a grafted boot.iso are builtin's only).
  const builtinOnly = cfg.type === 'dvd' && !!cfg.dvd && (cfg.dvd.format !== 'iso' || cfg.dvd.bootIso !== undefined);
  const backend = cfg.backend === 'auto' && !builtinOnly ? 'auto' : backendFor(cfg);
  await checkKickstart(cfg, backend, net);
  const source = cfg.type === 'dvd' ? cfg.dvd?.kickstart : cfg.type === 'live' ? cfg.live?.kickstart : undefined;
  const snapshot = source ? { kickstartSnapshot: { source, text: (await loadKickstart(source, { retry: net })).text } } : {};
  const notes: string[] = [];
  const kept = [secrets.smtpPassword && 'SMTP password', secrets.staging && 'FTP staging password'].filter(Boolean);
  if (kept.length) {
    notes.push(`the ${kept.join(' and the ')} ${kept.length > 1 ? 'are' : 'is'} not stored with the job: the worker that runs it uses its own (imagebuild worker --config FILE)`);
  }
  if (cfg.dvd?.bootIso) notes.push(`the boot.iso ${cfg.dvd.bootIso} is read on the worker's machine, at that path`);
  const job = await new JobStore(store).createForWorker({ config: { ...redacted, ...snapshot }, backend, timeoutS: f.timeout });
  return { job, queued: {}, notes };
}

/** Every program the job will need, before a job exists: a missing one is one clear error. */
function checkTools(cfg: ImageBuildConfig, backend: string): void {
  if (cfg.nvr.length || cfg.bid.length) requireTool('createrepo_c');
  if (backend !== 'builtin') {
    requireTool(backend);
    if (setarchFor(cfg.arch, hostMachine())) requireTool('setarch');
    return;
  }
  checkPrivileges(cfg.type);
  const iso = cfg.type === 'live' || cfg.dvd?.format === 'iso';
  for (const t of ['dnf', ...(cfg.type === 'dvd' ? ['createrepo_c'] : ['mksquashfs', 'chroot']), ...(iso ? ['xorriso', 'implantisomd5'] : [])] as const) requireTool(t);
}

/**
 * The kickstart's repositories must be http, https, ftp or file URLs whatever the backend; the
 * builtin backend also reads repos and %packages itself. A kickstart that fails either is exit 2,
 * before a job exists.
 */
async function checkKickstart(cfg: ImageBuildConfig, backend: string, net?: NetOptions): Promise<void> {
  const source = cfg.type === 'dvd' ? cfg.dvd?.kickstart : cfg.type === 'live' ? cfg.live?.kickstart : undefined;
  if (!source) return;
  const ks = parseKickstartSummary((await loadKickstart(source, { retry: net })).text);
  try {
    checkKickstartRepos(ks.repos);
    if (backend === 'builtin') planBuiltin(cfg, ks, jobsRoot());
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`kickstart ${source}: ${e.message}`, 2);
    throw e;
  }
}

/**
 * Start `darkforge imagebuild run-job ID` as a session leader of its own (a closed terminal or a
 * killed CLI does not reach it), output to the job log. The passwords go through a pipe on its
 * standard input; the job is handed over to its pid, so a runner that never starts is noticed.
 */
export async function detach(job: ImageJob, dbFile: string, secrets: JobSecrets = {}, jobs?: JobStore, baseEnv: NodeJS.ProcessEnv = process.env): Promise<void> {
  await mkdir(job.job_dir, { recursive: true });
  const db = await storeForChild(dbFile);
  const out = openSync(job.log_path, 'a');
  const bin = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));
  const env: NodeJS.ProcessEnv = { ...baseEnv, ...db.env, [JOB_TOKEN_ENV]: job.job_dir };
  delete env[SECRETS_ENV];
  try {
    const child = spawn(process.execPath, [bin, 'imagebuild', 'run-job', String(job.id), '--db', db.arg], {
      detached: true, stdio: ['pipe', out, out], env,
    });
    if (child.pid) await jobs?.handOver(job.id, child.pid);
    child.stdin!.on('error', () => { /* the runner ended before reading: it had nothing to do */ });
    child.stdin!.end(JSON.stringify(secrets));
    child.unref();
  } finally {
    closeSync(out);
  }
}
