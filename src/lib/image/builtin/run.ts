// Runs a builtin plan: dnf, createrepo_c, xorriso, implantisomd5 and mksquashfs, each through
// the job's exec (own process group, output in the job log, cancel and timeout), with the
// in-process steps (tree layout, kickstart settings, archive, CHECKSUM) in between.
import { lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KickstartSummary } from '../kickstart.js';
import { writeChecksumFile } from '../staging.js';
import { basearch } from '../validate.js';
import { writeArchive } from './archive.js';
import { Comps, fetchComps, groupPackages } from './comps.js';
import { OutageLog } from '../../net/outages.js';
import { dnfConfig, downloadArgs, installArgs, packageSet, PackageSet, substitute } from './dnf.js';
import { extractArgs, graftArgs, mkisofsArgs } from './iso.js';
import { applySettings, Exec, makeBootable, runPosts } from './live.js';
import { unmountUnder, withApiFilesystems } from './mounts.js';
import { BuiltinPlan, checkPrivileges } from './plan.js';
import { discinfo, layoutPackages, mediaRepo, treeinfo, TreeInfo } from './tree.js';

export interface BuiltinContext {
  exec: Exec;
  log: (line: string) => void;
  /** Throws when the job was canceled between two steps. */
  checkCanceled: () => void;
}

/** `kickstart`: the summary of the flattened kickstart the plan was made from. */
export async function runBuiltin(plan: BuiltinPlan, kickstart: KickstartSummary, c: BuiltinContext): Promise<void> {
  checkPrivileges(plan.type);
  await unmountUnder(plan.dir, c.log);
  await rm(plan.dir, { recursive: true, force: true });
  const reposdir = join(plan.dir, 'repos.d');
  await mkdir(reposdir, { recursive: true });
  // comps, dnf, then dvd: layout, createrepo_c, xorriso + implantisomd5 or the archive, CHECKSUM;
  // live: settings, boot files, mksquashfs, xorriso, implantisomd5.
  const steps = plan.dvd ? (plan.dvd.format === 'iso' ? 7 : 6) : 7;
  let n = 0;
  const step = (title: string): void => {
    c.checkCanceled();
    c.log(`step ${++n}/${steps}: ${title}`);
  };

  step('reading the repositories\' comps');
  const comps = await readComps(plan, c.log);
  const packages = withComps(plan.packages, kickstart, comps);
  await writeFile(plan.dnf.conf, dnfConfig(plan.repos, { reposdir, weakDeps: packages.weakDeps }));
  if (comps) await writeFile(join(plan.dir, 'comps.xml'), comps.xml);

  if (plan.dvd) await buildDvd(plan, packages, comps !== undefined, c, step);
  else await buildLive(plan, kickstart, packages, c, step);
}

async function readComps(plan: BuiltinPlan, log: (line: string) => void): Promise<Comps | undefined> {
  const vars = { releasever: plan.dnf.releasever, basearch: basearch(plan.dnf.arch), arch: plan.dnf.arch };
  const direct = plan.repos.filter((r) => r.baseurl).map((r) => ({ name: r.name, baseurl: substitute(r.baseurl!, vars) }));
  const skipped = plan.repos.filter((r) => !r.baseurl).map((r) => r.name);
  if (skipped.length) log(`comps not read from ${skipped.join(', ')} (mirrorlist or metalink only); dnf still resolves their groups`);
  // A mirror that is down is waited for, and the job log says so, once per outage.
  const { comps, without } = await fetchComps(direct, { retry: { outages: new OutageLog(log) } });
  if (without.length) log(`no comps in ${without.join(', ')}`);
  return comps;
}

function withComps(base: PackageSet, kickstart: KickstartSummary, comps: Comps | undefined): PackageSet {
  if (!comps) return base;
  return packageSet(kickstart.packages, { hasCore: comps.groups.has('core'), groupPackages: (id) => groupPackages(comps, id) });
}

async function buildDvd(plan: BuiltinPlan, packages: PackageSet, hasComps: boolean, c: BuiltinContext, step: (t: string) => void): Promise<void> {
  const d = plan.dvd!;
  step('depsolving and downloading the packages with dnf');
  await mkdir(d.download, { recursive: true });
  await c.exec(['dnf', ...downloadArgs(plan.dnf, packages, d.download)]);

  step(`laying out the tree in ${d.tree}`);
  const count = await layoutPackages(d.download, d.tree);
  c.log(`${count} packages in ${join(d.tree, 'Packages')}`);
  const info: TreeInfo = { family: d.name, version: d.version, arch: basearch(plan.dnf.arch), variant: d.variant, timestamp: Math.floor(Date.now() / 1000) };
  let bootTreeinfo: string | undefined;
  if (d.bootIso) {
    const out = join(plan.dir, 'boot.treeinfo');
    await c.exec(['xorriso', ...extractArgs(d.bootIso, '/.treeinfo', out)]).then(
      async () => {
        // xorriso recreates a symlink as a symlink: reading through it would copy a host file
        // into the DVD. Only a regular file is the boot.iso's own .treeinfo.
        if ((await lstat(out)).isFile()) bootTreeinfo = await readFile(out, 'utf8');
        else c.log(`${d.bootIso}: /.treeinfo is not a regular file; ignored`);
      },
      () => c.log(`${d.bootIso} has no .treeinfo; its images are grafted without one`),
    );
  }
  await writeFile(join(d.tree, '.discinfo'), discinfo(info));
  await writeFile(join(d.tree, '.treeinfo'), treeinfo(info, bootTreeinfo));
  await writeFile(join(d.tree, 'media.repo'), mediaRepo(info));

  step('creating the repository metadata with createrepo_c');
  await c.exec(['createrepo_c', '--quiet', '--no-database', ...(hasComps ? ['-g', join(plan.dir, 'comps.xml')] : []), d.tree]);

  await mkdir(dirname(d.image), { recursive: true });
  if (d.format === 'iso') {
    step(`making ${d.image} with xorriso`);
    await c.exec(['xorriso', ...(d.bootIso ? graftArgs({ bootIso: d.bootIso, dir: d.tree, out: d.image, volid: d.volid }) : mkisofsArgs({ dir: d.tree, out: d.image, volid: d.volid }))]);
    step('implanting the media checksum');
    await c.exec(['implantisomd5', '--force', d.image]);
  } else {
    step(`writing ${d.image}`);
    await writeArchive(d.tree, d.image, d.format, d.stem);
  }
  step('writing the CHECKSUM');
  await writeChecksumFile(dirname(d.checksum), [d.image], d.checksum.slice(dirname(d.checksum).length + 1));
}

async function buildLive(plan: BuiltinPlan, kickstart: KickstartSummary, packages: PackageSet, c: BuiltinContext, step: (t: string) => void): Promise<void> {
  const l = plan.live!;
  step(`installing the packages into ${l.root} with dnf`);
  await mkdir(l.home, { recursive: true });
  await writeFile(join(l.home, '.rpmmacros'), '%_dbpath /usr/lib/sysimage/rpm\n');
  await c.exec(['dnf', ...installArgs(plan.dnf, packages)], { env: { HOME: l.home } });
  // What dnf downloaded is not part of the image.
  await rm(join(l.root, 'var', 'cache', 'dnf'), { recursive: true, force: true });

  const ctx = { root: l.root, exec: c.exec, log: c.log, workDir: plan.dir };
  // %post and dracut get /proc, /sys and /dev; they are unmounted before the root is squashed.
  const boot = await withApiFilesystems(l.root, c.log, async () => {
    step('applying the kickstart\'s settings and %post scripts');
    await applySettings(kickstart, ctx);
    await runPosts(kickstart, ctx);
    step('making the image bootable');
    return makeBootable(ctx, l.isoDir, l.label, l.title);
  });
  if (boot.notBootable) c.log(`the image will not be bootable: ${boot.notBootable}`);

  step('making LiveOS/squashfs.img with mksquashfs');
  await mkdir(join(l.isoDir, 'LiveOS'), { recursive: true });
  await c.exec(['mksquashfs', l.root, join(l.isoDir, 'LiveOS', 'squashfs.img'), '-comp', 'xz', '-noappend', '-no-progress']);

  step(`making ${l.image} with xorriso`);
  await mkdir(dirname(l.image), { recursive: true });
  await c.exec(['xorriso', ...mkisofsArgs({ dir: l.isoDir, out: l.image, volid: l.label, bios: boot.bios })]);
  step('implanting the media checksum');
  await c.exec(['implantisomd5', '--force', l.image]);
}

