// dnf as the builtin backend's package source. dnf gets a private dnf.conf that holds only the
// kickstart's repositories (never the host's /etc/yum.repos.d), and the argv of the two things it
// does for us: depsolve and download a DVD's package set into a folder, or install a live
// image's root. The kickstart's %packages section becomes dnf arguments here.
import { UserError } from '../../errors.js';
import type { KickstartRepo, KickstartSummary } from '../kickstart.js';

export interface DnfRepo extends KickstartRepo {
  /** dnf's section name: the kickstart name made safe and unique. */
  id: string;
}

/** Kickstart repos as dnf repos; one without any URL is an error that names it. */
export function dnfRepos(repos: KickstartRepo[]): DnfRepo[] {
  if (!repos.length) throw new UserError('the kickstart has no repo lines; the builtin backend installs only from the kickstart\'s repositories');
  const seen = new Set<string>();
  return repos.map((r, i) => {
    if (!r.baseurl && !r.mirrorlist && !r.metalink) throw new UserError(`kickstart repo "${r.name}" has no --baseurl, --mirrorlist or --metalink`);
    let id = r.name.replace(/[^A-Za-z0-9_.:-]/g, '_') || `repo${i + 1}`;
    while (seen.has(id)) id += '_';
    seen.add(id);
    return { ...r, id };
  });
}

/** dnf's $basearch for an image arch (every 32-bit x86 is i386; armhfp is armhfp). */
export function forceArch(arch: string): string {
  return arch === 'armhfp' ? 'armv7hl' : arch;
}

/** Replaces dnf's $releasever, $basearch and $arch (also ${name}) the way dnf would. */
export function substitute(url: string, vars: { releasever: string; basearch: string; arch: string }): string {
  return url.replace(/\$(?:\{(\w+)\}|(\w+))/g, (m, a: string | undefined, b: string | undefined) => {
    const k = (a ?? b) as keyof typeof vars;
    return Object.hasOwn(vars, k) ? vars[k] : m;
  });
}

export interface DnfConfOptions {
  /** An empty folder: dnf reads *.repo files from it, so none of the host's. */
  reposdir: string;
  weakDeps: boolean;
}

/**
 * The dnf.conf text. gpgcheck is off because Fedora's signing keys are not on a Debian host;
 * every package is still checked against the sha256 in its repository's metadata, and TLS
 * certificates are verified. A repository that cannot be reached fails the build.
 */
export function dnfConfig(repos: DnfRepo[], o: DnfConfOptions): string {
  const main = [
    '[main]', 'gpgcheck=0', 'repo_gpgcheck=0', `reposdir=${o.reposdir}`, 'max_parallel_downloads=10',
    `install_weak_deps=${o.weakDeps ? 'True' : 'False'}`, 'skip_if_unavailable=False', 'sslverify=True', 'keepcache=True',
  ];
  const sections = repos.map((r) => {
    const lines = [`[${r.id}]`, `name=${oneLine(r.name || r.id)}`];
    if (r.baseurl) lines.push(`baseurl=${oneLine(r.baseurl)}`);
    if (r.mirrorlist) lines.push(`mirrorlist=${oneLine(r.mirrorlist)}`);
    if (r.metalink) lines.push(`metalink=${oneLine(r.metalink)}`);
    if (r.excludes?.length) lines.push(`excludepkgs=${r.excludes.map(oneLine).join(',')}`);
    if (r.includepkgs?.length) lines.push(`includepkgs=${r.includepkgs.map(oneLine).join(',')}`);
    lines.push('enabled=1');
    return lines.join('\n');
  });
  return `${[main.join('\n'), ...sections].join('\n\n')}\n`;
}

// A value with a line break would start a new key in dnf.conf.
function oneLine(v: string): string {
  if (/[\r\n]/.test(v)) throw new UserError(`kickstart repo value ${JSON.stringify(v)} spans lines`);
  return v;
}

export interface PackageSet {
  install: string[];
  exclude: string[];
  /** --setopt=… from %packages options */
  setopts: string[];
  weakDeps: boolean;
}

/**
 * %packages as dnf sees it. Anaconda adds @core unless --nocore; we do the same when a
 * repository's comps defines core (`hasCore`). `-@group` removes the group's mandatory and
 * default packages (`groupPackages` from comps); unknown groups are reported by dnf itself.
 */
export function packageSet(p: KickstartSummary['packages'], o: { hasCore?: boolean; groupPackages?: (id: string) => string[] | undefined } = {}): PackageSet {
  const has = (opt: string): boolean => p.options.some((x) => x.toLowerCase() === opt.toLowerCase());
  const groups = p.groups.map((g) => `@${g}`);
  if (o.hasCore && !has('--nocore') && !p.groups.includes('core')) groups.unshift('@core');
  const exclude = [...p.exclude];
  for (const g of p.excludedGroups) exclude.push(...(o.groupPackages?.(g) ?? []));
  const setopts: string[] = [];
  if (has('--ignoremissing')) setopts.push('--setopt=strict=False');
  if (has('--excludedocs')) setopts.push('--setopt=tsflags=nodocs');
  if (has('--multilib')) setopts.push('--setopt=multilib_policy=all');
  const install = [...p.include, ...groups];
  if (!install.length) throw new UserError('the kickstart\'s %packages section lists no packages or groups');
  return { install, exclude: [...new Set(exclude)], setopts, weakDeps: !has('--excludeWeakdeps') && !has('--exclude-weakdeps') };
}

export interface DnfTarget {
  conf: string;
  installroot: string;
  releasever: string;
  arch: string;
}

/**
 * Everything before the dnf command: config, scratch root, release, arch. No plugins: the
 * host's (Debian loads "local", which feeds every installed package back as a repository)
 * must not change what an image holds. dnf keeps its cache inside the root (/var/cache/dnf).
 */
function common(t: DnfTarget): string[] {
  return ['-y', '--noplugins', '--config', t.conf, '--installroot', t.installroot, '--releasever', t.releasever, '--forcearch', forceArch(t.arch)];
}

const excludes = (s: PackageSet): string[] => s.exclude.map((x) => `--exclude=${x}`);

/** Depsolve from an empty root and download the whole transaction into `destdir`. */
export function downloadArgs(t: DnfTarget, s: PackageSet, destdir: string): string[] {
  return [...common(t), ...s.setopts, ...excludes(s), 'install', '--downloadonly', `--destdir=${destdir}`, '--', ...s.install];
}

/** Install the package set into the root. */
export function installArgs(t: DnfTarget, s: PackageSet): string[] {
  return [...common(t), ...s.setopts, ...excludes(s), 'install', '--', ...s.install];
}
