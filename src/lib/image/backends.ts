// Command lines for the external image tools, and where each leaves its results. Pure: nothing is
// run or touched here, so the exact argv can be tested and shown (--dry-run) before a long build.
//
// Every plan puts the tool's output and scratch folders inside the job's own work folder, so
// concurrent jobs never share them; the configured outdir/workdir/destdir/tmpdir/logfile of the
// original service are superseded by that folder. Package caches (pungi --cachedir,
// livecd-creator --cache) stay as configured: they are meant to be shared between builds.
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { BootSettings, DvdSettings, ImageBuildConfig, LiveSettings } from './types.js';
import { basearch, setarchFor } from './validate.js';

export interface ToolPlan {
  command: string;
  args: string[];
  /** Working directory for the process (livecd-creator writes its image there). */
  cwd: string;
  /** Absolute paths of the images (and checksum files) a successful run leaves. */
  outputs: string[];
  /** Log files the tool writes itself, besides its stdout/stderr; its helpers log beside them. */
  logs: string[];
  /** Remove before running: the tool refuses an existing one, or would mix old files in. */
  cleanDirs: string[];
  /** Create (after cleanDirs) before running: the tool expects them to exist. */
  makeDirs: string[];
}

export interface LoraxJob {
  workDir: string;
  /** file:// URL of the side repository with the extra --nvr/--bid packages. */
  sideRepo?: string;
}

export interface KickstartJob {
  workDir: string;
  /** Local kickstart, already fetched, flattened and given the side repo. */
  kickstartPath: string;
}

function section<T>(value: T | undefined, name: string): T {
  if (!value) throw new UserError(`The configuration has no [${name}] section`, 2);
  return value;
}

/** yum's basearch (rpmUtils.arch.getBaseArch): the name used in Fedora tree and ISO paths. */
/**
 * lorax (weldr/lorax src/pylorax/cmdline.py lorax_parser; F17-era src/sbin/lorax): -p/-v/-r are
 * required, -s and -m may repeat, OUTPUTDIR is the one positional and "should not exist"
 * (parser.error, exit 2). The ISO is `${outroot}/images/boot.iso` (share/x86.tmpl, runcmd mkisofs).
 * --logfile defaults to ./lorax.log; program.log and yum.log/dnf.log go beside it.
 */
export function loraxPlan(cfg: ImageBuildConfig, job: LoraxJob): ToolPlan & { command: 'lorax' } {
  const boot: BootSettings = section(cfg.boot, 'boot');
  const workDir = resolve(job.workDir);
  const outdir = join(workDir, 'lorax-out');
  const tmp = join(workDir, 'lorax-tmp');
  const logDir = join(workDir, 'lorax-logs');
  const logfile = join(logDir, 'lorax.log');
  const args = ['-p', boot.product, '-v', boot.version, '-r', boot.release];
  for (const repo of boot.repos) args.push('-s', repo.url);
  if (job.sideRepo) args.push('-s', job.sideRepo);
  for (const repo of boot.repos) if (repo.mirror) args.push('-m', repo.mirror);
  // The original passed '--buildarch=' and ARCH as two arguments: optparse then read an empty
  // buildarch and took ARCH as a stray positional, so the host arch was used. One argument here.
  args.push(`--buildarch=${cfg.arch}`);
  if (boot.proxy) args.push(`--proxy=${boot.proxy}`);
  // lorax makes its work dir with mkdtemp(dir=--tmp), so --tmp must exist.
  args.push(`--tmp=${tmp}`, `--logfile=${logfile}`, outdir);
  return {
    command: 'lorax',
    args,
    cwd: workDir,
    outputs: [join(outdir, 'images', 'boot.iso')],
    logs: [logfile],
    cleanDirs: [outdir, tmp, logDir],
    makeDirs: [tmp, logDir],
  };
}

/**
 * pungi 2.x/3.x, the `pungi` CLI of the F17 era (bin/pungi, optparse): -c is required ("Please
 * specify a config file", exit 2), --flavor must be alphanumeric. pypungi/__init__.py puts the
 * tree in destdir/ver/flavor/arch (arch = yum basearch of the host: pungi has no --arch while
 * BuildInstall runs, hence setarch) and, in doCreateIsos, writes into its "iso" folder:
 * `{name}-{ver}-{arch}-DVD.iso` (a tree under 700 MB is named `{name}-{ver}-{arch}.iso` instead),
 * `{name}-{ver}-{arch}-netinst.iso` (a link to os/images/boot.iso) and `{name}-{ver}-{arch}-CHECKSUM`.
 * --sourceisos sets arch to "source" and makes no netinst. Logs: destdir/logs/{flavor}.{arch}.log.
 */
export function pungiPlan(cfg: ImageBuildConfig, job: KickstartJob): ToolPlan & { command: 'pungi' } {
  const dvd: DvdSettings = section(cfg.dvd, 'dvd');
  const workDir = resolve(job.workDir);
  const destdir = join(workDir, 'pungi-out');
  const args = [
    '--name', dvd.name, '--ver', dvd.version, '--flavor', dvd.flavor,
    '--destdir', destdir, '--cachedir', dvd.cachedir, '--bugurl', dvd.bugurl,
  ];
  if (dvd.nosource) args.push('--nosource');
  if (dvd.sourceisos) args.push('--sourceisos');
  if (dvd.force) args.push('--force');
  args.push(dvd.stage === 'all' ? '--all-stages' : dvd.stage, '-c', resolve(job.kickstartPath));

  const arch = dvd.sourceisos ? 'source' : basearch(cfg.arch);
  const isodir = join(destdir, dvd.version, dvd.flavor, arch, 'iso');
  const stem = `${dvd.name}-${dvd.version}-${arch}`;
  const dvdIso = join(isodir, `${stem}-DVD.iso`);
  const checksum = join(isodir, `${stem}-CHECKSUM`);
  // Only the CreateISO stage makes images; the netinst link needs BuildInstall in the same run.
  let outputs: string[] = [];
  if (dvd.stage === 'all') outputs = dvd.sourceisos ? [dvdIso, checksum] : [dvdIso, join(isodir, `${stem}-netinst.iso`), checksum];
  else if (dvd.stage === '-I') outputs = [dvdIso, checksum];
  return {
    command: 'pungi',
    args,
    cwd: workDir,
    outputs,
    logs: [join(destdir, 'logs', `${dvd.flavor ? `${dvd.flavor}.` : ''}${arch}.log`)],
    // pungi creates destdir itself; the original removed an old one first.
    cleanDirs: [destdir],
    makeDirs: [],
  };
}

/**
 * livecd-creator (livecd-tools tools/livecd-creator and docs/livecd-creator.pod; optparse, usage
 * errors exit 2): -c KSCFG, -f/--fslabel (at most 32 characters, no spaces), --title, --product,
 * --releasever, -t/--tmpdir (mkdtemp'd into, so it must exist), --cache, --logfile. The image is
 * package(destdir=".") → imgcreate/live.py `self._outdir + "/" + self.name + ".iso"`, and name is
 * the fslabel: `{cwd}/{label}.iso`. So the runner must start it in plan.cwd.
 */
export function livecdPlan(cfg: ImageBuildConfig, job: KickstartJob): ToolPlan & { command: 'livecd-creator' } {
  const live: LiveSettings = section(cfg.live, 'live');
  const workDir = resolve(job.workDir);
  const cwd = join(workDir, 'livecd-out');
  const tmp = join(workDir, 'livecd-tmp');
  const logfile = join(workDir, 'livecd-creator.log');
  return {
    command: 'livecd-creator',
    args: [
      '-c', resolve(job.kickstartPath), '-f', live.label, '--title', live.title, '--product', live.product,
      '--releasever', live.releasever, '-t', tmp, '--cache', live.cachedir, '--logfile', logfile,
    ],
    cwd,
    outputs: [join(cwd, `${live.label}.iso`)],
    logs: [logfile],
    cleanDirs: [cwd, tmp],
    makeDirs: [cwd, tmp],
  };
}

/**
 * livemedia-creator (weldr/lorax src/pylorax/cmdline.py lmc_parser; src/sbin/livemedia-creator):
 * one of --make-iso/--make-disk/… is required (argparse, exit 2); a --resultdir that exists is
 * refused ("should not exist", exit 1) because the results are copytree'd into it. --make-iso
 * leaves `images/boot.iso`; --iso-only moves it to `{resultdir}/{--iso-name}` (creator.py
 * run_creator), and --iso-name means nothing without --iso-only. --volid is at most 32 characters.
 */
export function livemediaPlan(cfg: ImageBuildConfig, job: KickstartJob): ToolPlan & { command: 'livemedia-creator' } {
  const live: LiveSettings = section(cfg.live, 'live');
  const workDir = resolve(job.workDir);
  const resultdir = join(workDir, 'lmc-result');
  const tmp = join(workDir, 'lmc-tmp');
  const logDir = join(workDir, 'lmc-logs');
  const logfile = join(logDir, 'livemedia.log');
  const isoName = live.isoName ?? `${live.label}.iso`;
  return {
    command: 'livemedia-creator',
    args: [
      '--make-iso', '--no-virt', '--ks', resolve(job.kickstartPath), '--resultdir', resultdir,
      '--project', live.product, '--releasever', live.releasever, '--volid', live.volid ?? live.label,
      '--iso-only', '--iso-name', isoName, '--title', live.title, '--tmp', tmp, '--logfile', logfile,
    ],
    cwd: workDir,
    outputs: [join(resultdir, isoName)],
    logs: [logfile],
    cleanDirs: [resultdir, tmp, logDir],
    makeDirs: [tmp, logDir],
  };
}

/**
 * A 32-bit image on an x86_64 host runs under `setarch i686` (util-linux; also on Debian), so
 * that uname -m says i686: yum/dnf, pungi's tree arch, livecd-creator's $basearch and anaconda
 * all take the arch from it. The original instead refused any arch other than the build host's.
 * `machine` is the host's uname -m (os.machine()).
 */
export function withSetarch(plan: ToolPlan, arch: string, machine: string): ToolPlan {
  const persona = setarchFor(arch, machine);
  return persona ? { ...plan, command: 'setarch', args: [persona, plan.command, ...plan.args] } : plan;
}
