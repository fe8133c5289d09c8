// What `imagebuild boot|dvd|live` does: load and validate the configuration (every problem at
// once), then print the plan (--dry-run), start the job in the background (--detach), or run
// it attached to this terminal.
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { machine } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { Store } from '../index/store.js';
import { ConfigOverrides, formatProblem, loadImageConfig } from './config.js';
import { ImageJob, JobStore } from './jobs.js';
import { jobsRoot } from './location.js';
import { JobPlan, planJob, planOutputs, runJob } from './runner.js';
import { checkPrivileges, planBuiltin } from './builtin/plan.js';
import { loadKickstart, parseKickstartSummary } from './kickstart.js';
import { JobSecrets, SECRETS_ENV, splitSecrets } from './secrets.js';
import { backendFor, requireTool } from './tools.js';
import { setarchFor } from './validate.js';
import { ImageBuildConfig, ImageType } from './types.js';

export interface BuildFlags extends ConfigOverrides {
  config?: string;
  hub?: string;
  topurl?: string;
  dryRun?: boolean;
  detach?: boolean;
  timeout?: number;
}

export function loadValidConfig(type: ImageType, f: BuildFlags): ImageBuildConfig {
  const { config, problems } = loadImageConfig({
    type, configFile: f.config,
    overrides: { arch: f.arch, release: f.release, nvr: f.nvr, bid: f.bid, staging: f.staging, email: f.email, instance: f.instance, backend: f.backend, format: f.format, bootIso: f.bootIso },
  });
  if (f.topurl && !f.hub) problems.push({ message: '--topurl needs --hub as well' });
  if (problems.length || !config) {
    throw new UserError(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration, nothing was run:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, 2);
  }
  return f.hub ? { ...config, kojiHub: f.hub, kojiTopurl: f.topurl } : config;
}

/** The --dry-run report: validated config, side repository, kickstart diff, exact command. */
export function describePlan(cfg: ImageBuildConfig, plan: JobPlan): string {
  const lines = [
    `type ${cfg.type}, arch ${cfg.arch}, release ${cfg.release}, backend ${plan.backend}`,
    `config: ${cfg.files.join(', ')}`,
    `staging: ${cfg.staging ?? '(the job folder)'}${cfg.email ? `, mail to ${cfg.email}` : ''}`,
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
}

export async function submitBuild(store: Store, type: ImageType, f: BuildFlags, o: { dbFile: string }): Promise<SubmitResult> {
  const cfg = loadValidConfig(type, f);
  const { redacted, secrets } = splitSecrets(cfg);
  if (f.dryRun) {
    const plan = await planJob(cfg, { workDir: join(jobsRoot(), '<job>', 'work') });
    return { plan, report: describePlan(redacted, plan) };
  }
  const backend = backendFor(cfg);
  checkTools(cfg, backend);
  if (backend === 'builtin') await checkBuiltinKickstart(cfg);
  const jobs = new JobStore(store.db);
  const job = jobs.create({ config: redacted, backend, jobsDir: (id) => join(jobsRoot(), String(id)), timeoutS: f.timeout });
  if (f.detach) {
    await detach(job, o.dbFile, secrets);
    return { job: jobs.get(job.id) };
  }
  return { job: await runJob(job, { jobs, attached: true, secrets }) };
}

/** Every program the job will need, before a job exists: a missing one is one clear error. */
function checkTools(cfg: ImageBuildConfig, backend: string): void {
  if (cfg.nvr.length || cfg.bid.length) requireTool('createrepo_c');
  if (backend !== 'builtin') {
    requireTool(backend);
    if (setarchFor(cfg.arch, machine())) requireTool('setarch');
    return;
  }
  checkPrivileges(cfg.type);
  const iso = cfg.type === 'live' || cfg.dvd?.format === 'iso';
  for (const t of ['dnf', ...(cfg.type === 'dvd' ? ['createrepo_c'] : ['mksquashfs', 'chroot']), ...(iso ? ['xorriso', 'implantisomd5'] : [])] as const) requireTool(t);
}

/** The builtin backend reads repos and %packages itself: a kickstart it cannot use is exit 2, before a job exists. */
async function checkBuiltinKickstart(cfg: ImageBuildConfig): Promise<void> {
  const source = cfg.type === 'dvd' ? cfg.dvd?.kickstart : cfg.live?.kickstart;
  if (!source) return;
  const ks = parseKickstartSummary((await loadKickstart(source)).text);
  try {
    planBuiltin(cfg, ks, jobsRoot());
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`kickstart ${source}: ${e.message}`, 2);
    throw e;
  }
}

/** Start `darkforge imagebuild run-job ID` as a session leader of its own, output to the job log. */
export async function detach(job: ImageJob, dbFile: string, secrets: JobSecrets = {}): Promise<void> {
  await mkdir(job.job_dir, { recursive: true });
  const out = openSync(job.log_path, 'a');
  const bin = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'imagebuild', 'run-job', String(job.id), '--db', dbFile], {
    detached: true, stdio: ['ignore', out, out], env: { ...process.env, [SECRETS_ENV]: JSON.stringify(secrets) },
  });
  child.unref();
}
