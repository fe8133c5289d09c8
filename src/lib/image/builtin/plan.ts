// What the builtin backend will do for a job, decided before anything runs: folders, dnf
// configuration and command lines, outputs. Pure, so --dry-run shows it and tests check it.
import { join, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import type { KickstartSummary } from '../kickstart.js';
import type { DvdFormat, ImageBuildConfig } from '../types.js';
import { basearch } from '../validate.js';
import { DnfRepo, dnfRepos, DnfTarget, downloadArgs, installArgs, packageSet, PackageSet } from './dnf.js';
import { defaultVolumeId, mkisofsArgs } from './iso.js';

export interface BuiltinPlan {
  type: 'dvd' | 'live';
  /** The backend's own folder inside the job's work folder. */
  dir: string;
  repos: DnfRepo[];
  dnf: DnfTarget;
  /** The package set before comps are read (they may add @core and -@group exclusions). */
  packages: PackageSet;
  /** Images (and the DVD's CHECKSUM) a successful build leaves. */
  outputs: string[];
  logs: string[];
  /** Each step as --dry-run prints it. */
  steps: string[];
  dvd?: {
    format: DvdFormat;
    volid: string;
    bootIso?: string;
    name: string;
    version: string;
    variant: string;
    /** NAME-VERSION-BASEARCH: the archive's top folder and the CHECKSUM's stem */
    stem: string;
    download: string;
    tree: string;
    image: string;
    checksum: string;
  };
  live?: {
    label: string;
    title: string;
    root: string;
    /** HOME for dnf: its .rpmmacros puts the rpmdb where Fedora's rpm looks for it. */
    home: string;
    isoDir: string;
    image: string;
  };
}

const LIVE_ROOT_NEEDED = 'a builtin live image is installed into a scratch root with dnf and chroot, which needs root: run imagebuild live as root (for example with sudo)';

/** Refuses a live build without root before any work starts. */
export function checkPrivileges(type: string, uid: number | undefined = process.getuid?.()): void {
  if (type === 'live' && uid !== 0) throw new UserError(LIVE_ROOT_NEEDED, 2);
}

/** `kickstart` is the flattened kickstart's summary (kept out of the plan: it may hold rootpw). */
export function planBuiltin(cfg: ImageBuildConfig, kickstart: KickstartSummary, workDir: string): BuiltinPlan {
  if (cfg.type === 'boot') throw new UserError('the builtin backend builds dvd and live images; a boot.iso needs lorax', 2);
  const dir = join(resolve(workDir), 'builtin');
  const repos = dnfRepos(kickstart.repos);
  const packages = packageSet(kickstart.packages);
  const release = cfg.release;
  const arch = basearch(cfg.arch);
  const base = { type: cfg.type, dir, repos, packages, logs: [] as string[] };
  if (cfg.type === 'dvd') {
    const d = cfg.dvd;
    if (!d) throw new UserError('The configuration has no [dvd] section', 2);
    const dnf: DnfTarget = { conf: join(dir, 'dnf.conf'), installroot: join(dir, 'dnf-root'), releasever: release, arch: cfg.arch };
    const stem = `${d.name}-${d.version}-${arch}`;
    const out = join(dir, 'out');
    const image = join(out, d.format === 'iso' ? `${stem}-DVD.iso` : `${stem}-DVD.${d.format}`);
    const checksum = join(out, `${stem}-CHECKSUM`);
    const tree = join(dir, 'tree');
    const volid = d.volid ?? defaultVolumeId(d.name, d.version, cfg.arch);
    const download = join(dir, 'download');
    const steps = [
      `dnf ${downloadArgs(dnf, packages, download).join(' ')}   (plus @core and -@group members, from the repositories' comps)`,
      `lay out ${tree}: Packages/<letter>/, .discinfo, .treeinfo, media.repo`,
      `createrepo_c --quiet --no-database [-g comps.xml] ${tree}`,
    ];
    if (d.format === 'iso') {
      steps.push(d.bootIso
        ? `xorriso -indev ${d.bootIso} -outdev ${image} … -boot_image any replay -map ${tree} / -commit   (boot.iso's boot loader and images/ kept)`
        : `xorriso ${mkisofsArgs({ dir: tree, out: image, volid }).join(' ')}`, `implantisomd5 --force ${image}`);
    } else {
      steps.push(`${d.format} archive of ${tree} as ${stem}/: ${image}`);
    }
    steps.push(`SHA256 CHECKSUM: ${checksum}`);
    return {
      ...base, dnf, steps, outputs: [image, checksum],
      dvd: { format: d.format, volid, bootIso: d.bootIso, name: d.name, version: d.version, variant: d.flavor, stem, download, tree, image, checksum },
    };
  }
  const l = cfg.live;
  if (!l) throw new UserError('The configuration has no [live] section', 2);
  const root = join(dir, 'root');
  const dnf: DnfTarget = { conf: join(dir, 'dnf.conf'), installroot: root, releasever: release, arch: cfg.arch };
  const isoDir = join(dir, 'iso');
  const image = join(dir, 'out', `${l.label}.iso`);
  const volid = l.volid ?? l.label;
  return {
    ...base, dnf, outputs: [image],
    steps: [
      `dnf ${installArgs(dnf, packages).join(' ')}   (plus @core and -@group members, from the repositories' comps)`,
      'lang, keyboard, timezone, rootpw, services; then each %post (in the root with chroot, or --nochroot on this host)',
      `initramfs with the image's dracut (dmsquash-live), kernel, grub.cfg and isolinux into ${isoDir} when the image has a kernel`,
      `mksquashfs ${root} ${join(isoDir, 'LiveOS', 'squashfs.img')} -comp xz -noappend -no-progress`,
      `xorriso ${mkisofsArgs({ dir: isoDir, out: image, volid }).join(' ')}`,
      `implantisomd5 --force ${image}`,
    ],
    live: { label: volid, title: l.title, root, home: join(dir, 'home'), isoDir, image },
  };
}
