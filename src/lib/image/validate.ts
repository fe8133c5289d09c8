// Checks on a normalized image configuration, so every bad value is reported before anything
// runs, each naming the file, section and key it came from and what would be accepted.
// Parsing problems (syntax, interpolation, booleans, numbers) are found by config.ts; this
// module checks meaning: names, arches, URLs, addresses, files.
import { existsSync, statSync } from 'node:fs';
import { UserError } from '../errors.js';
import { FETCH_SCHEMES, isAllowedUrl, redactUrl } from '../net/url-policy.js';
import type { KickstartRepo } from './kickstart.js';
import { stagingProblem } from './staging.js';
import type { BackendName, ConfigProblem, DvdSettings, ImageBuildConfig, ImageType, ValueOrigin } from './types.js';
import { DVD_FORMATS, IMAGE_TYPES } from './types.js';

/** The origin given to values that came from command-line flags. */
export const COMMAND_LINE = 'command line';

export const ARCHES = ['i386', 'i486', 'i586', 'i686', 'x86_64', 'aarch64', 'armhfp', 'armv7hl', 'ppc', 'ppc64', 'ppc64le', 's390', 's390x'];
export const STAGES = ['all', '-G', '-C', '-B', '-I'];
export const BACKENDS: BackendName[] = ['lorax', 'pungi', 'livecd-creator', 'livemedia-creator', 'builtin'];
/** Which image types each backend can make. */
export const BACKEND_TYPES: Record<BackendName, ImageType[]> = {
  lorax: ['boot'], pungi: ['dvd'], 'livecd-creator': ['live'], 'livemedia-creator': ['live'], builtin: ['dvd', 'live'],
};

const BOOLEANS: Record<string, boolean> = { 1: true, yes: true, true: true, on: true, 0: false, no: false, false: false, off: false };
export const BOOLEAN_WORDS = '0, 1, yes, no, true, false, on, off';

/** ConfigParser.getboolean's words; undefined for anything else. */
export function parseBoolean(v: string): boolean | undefined {
  return BOOLEANS[v.trim().toLowerCase()];
}

const X86_32 = ['i386', 'i486', 'i586', 'i686'];

/**
 * The arches a host of this os.machine() can build. The original refused any arch but the
 * build node's own; darkforge also allows the 32-bit personality of a 64-bit host (through
 * setarch), since its tools run such images natively.
 */
export function hostArches(machine: string): string[] {
  const m = ({ amd64: 'x86_64', arm64: 'aarch64', armv7l: 'armv7hl', armv8l: 'armv7hl' } as Record<string, string>)[machine] ?? machine;
  if (m === 'x86_64') return ['x86_64', ...X86_32];
  if (X86_32.includes(m)) return X86_32;
  if (m === 'aarch64') return ['aarch64', 'armhfp', 'armv7hl'];
  if (m === 'armv7hl') return ['armhfp', 'armv7hl'];
  if (m === 'ppc64') return ['ppc64', 'ppc'];
  if (m === 's390x') return ['s390x', 's390'];
  return [m];
}

/** The `setarch` personality a build of `arch` needs on this host, if it is not the host's own. */
export function setarchFor(arch: string, machine: string): string | undefined {
  const own = hostArches(machine)[0];
  if (X86_32.includes(arch)) return own === 'x86_64' ? 'i686' : undefined;
  const narrow: Record<string, string> = { armhfp: 'aarch64', armv7hl: 'aarch64', ppc: 'ppc64', s390: 's390x' };
  return narrow[arch] === own ? 'linux32' : undefined;
}

/** Fedora's directory name for an arch: i386 for every 32-bit x86 (repoinfo.conf, pungi output). */
export function basearch(arch: string): string {
  return X86_32.includes(arch) ? 'i386' : arch;
}

export function isNvr(s: string): boolean {
  return /^[A-Za-z0-9_+.][^\s/;]*-[^\s/;-]+-[^\s/;-]+$/.test(s);
}

function urlWith(s: string, schemes: string[]): URL | undefined {
  try {
    const u = new URL(s);
    return schemes.includes(u.protocol.slice(0, -1)) && (u.protocol === 'file:' || u.hostname) ? u : undefined;
  } catch {
    return undefined;
  }
}

export const isUrl = (s: string, schemes: string[]): boolean => urlWith(s, schemes) !== undefined;

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

export const STAGING_FORMS = 'file:///DIR, scp://[USER@]HOST/PATH, [USER@]HOST:PATH, ftp://[USER[:PASS]@]HOST/PATH, or a bare FTP host name or IP';

/** The staging forms the original understood (scp target, file:///, bare FTP host) plus URLs. */
export function isStaging(s: string): boolean {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(s)) {
    if (s.startsWith('file://')) return /^file:\/\/\/./.test(s);
    const u = urlWith(s, ['scp', 'ftp']);
    return !!u && (u.protocol === 'ftp:' || u.pathname.length > 1);
  }
  const scp = /^(?:([^@\s:/]+)@)?([^@\s:/]+|\[[^\]]+\]):(.*)$/.exec(s);
  if (scp) return HOST.test(scp[2]);
  return HOST.test(s);
}

/** One address, bare or as `Name <addr>`. */
export function isAddress(s: string): boolean {
  const m = /^[^<>]*<([^<>]+)>$/.exec(s.trim());
  return /^[^\s@<>(),;:"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(m ? m[1] : s.trim());
}

/** Where a kickstart is wrong: missing, a URL of the wrong kind, or a local file that is not there. */
export function kickstartProblem(ks: string): { message: string; allowed: string } | undefined {
  const allowed = 'a local file (relative to the .conf file) or an http, https or ftp URL';
  if (!ks) return { message: 'no kickstart given (config = FILE or URL)', allowed };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(ks)) {
    return isUrl(ks, ['http', 'https', 'ftp']) ? undefined : { message: 'kickstart URL must be http, https or ftp', allowed };
  }
  if (!existsSync(ks)) return { message: `kickstart file ${ks} does not exist`, allowed };
  if (!statSync(ks).isFile()) return { message: `kickstart ${ks} is not a file`, allowed };
  return undefined;
}

/**
 * The kickstart's repo lines name what dnf, pungi or the live tools download from: http, https,
 * ftp or file URLs only ($releasever and the like stand in for a word while checking).
 */
export function checkKickstartRepos(repos: KickstartRepo[]): void {
  for (const r of repos) {
    for (const key of ['baseurl', 'mirrorlist', 'metalink'] as const) {
      const v = r[key];
      if (v === undefined) continue;
      if (!isAllowedUrl(v.replace(/\$\{?\w+\}?/g, 'x'))) {
        throw new UserError(`repo --name=${r.name}: --${key}=${redactUrl(v)} is not a URL darkforge downloads from (allowed: ${FETCH_SCHEMES.join(', ')})`, 2);
      }
    }
  }
}

/**
 * The machine a configuration is checked for. `workers`: the job may go to an `imagebuild worker`
 * on another machine (a store shared with other machines), so any arch darkforge knows is
 * accepted; `queue`: --queue was asked for (an arch this host cannot build then says why no
 * worker can take it).
 */
export interface BuildHost {
  machine: string;
  workers?: boolean;
  queue?: boolean;
}

export function validate(config: ImageBuildConfig, host: BuildHost): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const at = (key: string): Partial<ValueOrigin> => {
    const o = config.origins[key];
    return o ? { file: o.file, section: o.section, key: o.key } : { key: key.split('.').pop() };
  };
  const add = (key: string, value: string | undefined, message: string, allowed?: string) =>
    out.push({ ...at(key), value, message, ...(allowed ? { allowed } : {}) });

  if (!IMAGE_TYPES.includes(config.type)) add('type', config.type, 'unknown image type', IMAGE_TYPES.join(', '));
  if (!ARCHES.includes(config.arch)) {
    add('arch', config.arch, 'unknown arch', ARCHES.join(' '));
  } else if (!hostArches(host.machine).includes(config.arch) && !host.workers) {
    add('arch', config.arch, host.queue
      ? `this ${host.machine} host cannot build ${config.arch} images, and no worker of another machine can take it from an SQLite store (one machine's file): queue it in a PostgreSQL store (--db postgresql://…) that a ${config.arch} worker shares`
      : `this ${host.machine} host cannot build ${config.arch} images (the image arch must be the build host's)`,
    hostArches(host.machine).join(', '));
  }
  if (!config.release) add('release', '', 'no release set', 'a Fedora release such as 40, or rawhide');
  for (const n of config.nvr) if (!isNvr(n)) add('nvr', n, 'not a package N-V-R', 'NAME-VERSION-RELEASE, e.g. wget-1.21.4-1.fc40, separated by ";"');
  for (const b of config.bid) if (!Number.isInteger(b) || b <= 0) add('bid', String(b), 'not a Koji build id', 'positive numbers separated by ";"');
  // A staging URL may hold an FTP password: never echo it. A target that looks right but that
  // staging would refuse (an scp path with shell characters) is refused here, before the build.
  if (config.staging !== undefined) {
    const why = isStaging(config.staging) ? stagingProblem(config.staging) : 'not a staging target';
    if (why) add('staging', redactUrl(config.staging), why, STAGING_FORMS);
  }
  if (config.email !== undefined && !isAddress(config.email)) add('email', config.email, 'not an e-mail address', 'user@example.org');
  checkBackend(config, add);

  if (config.smtp) {
    const s = config.smtp;
    if (s.host && !HOST.test(s.host)) add('smtp.host', s.host, 'not a mail server host name', 'a host name or IP');
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) add('smtp.port', String(s.port), 'not a port number', '1-65535, usually 587 or 25');
    if (!isAddress(s.from)) add('smtp.from', s.from, 'not an e-mail address', 'user@example.org or Name <user@example.org>');
  }
  if (config.boot) {
    const b = config.boot;
    if (b.release && !b.repos.some((r) => r.name === b.release)) {
      add('boot.repos', undefined, `no repository for release ${b.release}`,
        config.origins['boot.repos']?.section === 'boot'
          ? `${b.release}_url (and ${b.release}_mirror) in [boot]` : `a [${b.release}] section with url (and mirror)`);
    }
    b.repos.forEach((r) => {
      if (!isUrl(r.url, ['http', 'https', 'ftp', 'file'])) add(`boot.repo.${r.name}`, r.url, 'not a repository URL', 'an http, https, ftp or file URL');
      if (r.mirror !== undefined && !isUrl(r.mirror, ['http', 'https'])) add(`boot.mirror.${r.name}`, r.mirror, 'not a metalink or mirrorlist URL', 'an http or https URL');
    });
    if (b.proxy !== undefined && !isUrl(b.proxy, ['http', 'https', 'socks5', 'socks4'])) add('boot.proxy', b.proxy, 'not a proxy URL', 'http://HOST:PORT');
  }
  if (config.dvd) {
    if (!STAGES.includes(config.dvd.stage)) add('dvd.stage', config.dvd.stage, 'unknown pungi stage', STAGES.join(', '));
    const p = kickstartProblem(config.dvd.kickstart);
    if (p) add('dvd.kickstart', config.dvd.kickstart, p.message, p.allowed);
    checkBuiltinDvd(config, config.dvd, add);
  }
  if (config.live) {
    const p = kickstartProblem(config.live.kickstart);
    if (p) add('live.kickstart', config.live.kickstart, p.message, p.allowed);
    // The volume id is how the booted image finds itself (root=live:CDLABEL=…).
    const [key, volid] = config.live.volid !== undefined ? ['live.volid', config.live.volid] : ['live.label', config.live.label];
    if (!VOLID.test(volid)) add(key, volid, 'not usable as the live ISO volume id', '1-32 characters: letters, digits, - _ .');
  }
  return out;
}

/** The keys only the builtin backend reads: pungi makes ISOs only and takes no boot.iso. */
function checkBuiltinDvd(config: ImageBuildConfig, dvd: DvdSettings, add: (key: string, value: string | undefined, message: string, allowed?: string) => void): void {
  if (!DVD_FORMATS.includes(dvd.format)) add('format', dvd.format, 'unknown DVD format', DVD_FORMATS.join(', '));
  const other = config.backend !== 'auto' && config.backend !== 'builtin' ? config.backend : undefined;
  if (other && dvd.format !== 'iso') add('format', dvd.format, `${other} makes ISO images only; archives need the builtin backend`, 'iso, or backend builtin');
  if (dvd.bootIso !== undefined) {
    if (other) add('bootiso', dvd.bootIso, `${other} makes its own boot images; a boot.iso is grafted by the builtin backend only`, 'backend builtin or auto');
    if (dvd.format !== 'iso') add('bootiso', dvd.bootIso, `a ${dvd.format} archive cannot boot`, 'format iso');
    if (!existsSync(dvd.bootIso)) add('bootiso', dvd.bootIso, 'boot.iso not found', 'a lorax boot.iso file');
    else if (!statSync(dvd.bootIso).isFile()) add('bootiso', dvd.bootIso, 'not a file', 'a lorax boot.iso file');
  }
  if (dvd.volid !== undefined && !VOLID.test(dvd.volid)) add('dvd.volid', dvd.volid, 'not an ISO volume id', '1-32 characters: letters, digits, - _ .');
}

/** What xorriso and Fedora's CDLABEL= boot argument accept without quoting. */
export const VOLID = /^[A-Za-z0-9_.-]{1,32}$/;

function checkBackend(config: ImageBuildConfig, add: (key: string, value: string, message: string, allowed?: string) => void): void {
  const b = config.backend;
  if (b === 'auto') return;
  if (!BACKENDS.includes(b)) {
    add('backend', b, 'unknown backend', ['auto', ...BACKENDS].join(', '));
  } else if (IMAGE_TYPES.includes(config.type) && !BACKEND_TYPES[b].includes(config.type)) {
    const fit = BACKENDS.filter((n) => BACKEND_TYPES[n].includes(config.type));
    add('backend', b, `${b} cannot build ${config.type} images`, ['auto', ...fit].join(', '));
  }
}

/** One line: `FILE [SECTION] KEY = "VALUE": MESSAGE (allowed: …)`; flags print as `--arch "VALUE"`. */
export function formatProblem(p: ConfigProblem): string {
  const value = p.value !== undefined ? `"${p.value}"` : undefined;
  let head: string;
  if (p.file === COMMAND_LINE) {
    head = [p.key, value].filter(Boolean).join(' ');
  } else {
    const key = p.key && value !== undefined ? `${p.key} = ${value}` : p.key ?? value;
    head = [p.file, p.section ? `[${p.section}]` : undefined, key].filter(Boolean).join(' ');
  }
  const tail = p.allowed ? ` (allowed: ${p.allowed})` : '';
  // A value continued over several lines (and messages quoting it) is shown with "\n": one line.
  return (head ? `${head}: ${p.message}${tail}` : `${p.message}${tail}`).replace(/\r?\n/g, '\\n');
}
