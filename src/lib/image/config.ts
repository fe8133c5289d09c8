// Loads the image builder's configuration from either layout of the original service and
// reduces it to ImageBuildConfig:
//  - single file (the original's final form): [DEFAULT] + [boot]/[dvd]/[live] (+ [smtp]);
//  - split files (its early form): imagebuild.conf beside boot.conf, pungi.conf, live.conf and
//    repoinfo.conf, all keys in [DEFAULT].
// The layout is told by content: a [boot], [dvd] or [live] section means single file.
// Command-line flags override keys. Every problem is collected and returned at once, with
// the validation problems of validate.ts, so a user fixes everything in one pass.
import { hostMachine } from '../proc/machine.js';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigEntry, ConfigFile, DEFAULT_SECTION, InterpolationError, readConfigFile } from './configparser.js';
import type { BackendChoice, BootSettings, DvdFormat, ConfigProblem, DvdSettings, ImageBuildConfig, ImageType, LiveSettings, RepoSpec, SmtpSettings, ValueOrigin } from './types.js';
import { IMAGE_TYPES } from './types.js';
import { redactUrl } from '../net/url-policy.js';
import { basearch, BOOLEAN_WORDS, BuildHost, COMMAND_LINE, hostArches, parseBoolean, validate } from './validate.js';

export { formatProblem } from './validate.js';

export const DEFAULT_CONFIG_FILE = 'config/imagebuild.conf';
/** The split layout's file for each image type (the original's names). */
export const SPLIT_FILES: Record<ImageType, string> = { boot: 'boot.conf', dvd: 'pungi.conf', live: 'live.conf' };

export interface ConfigOverrides {
  arch?: string;
  release?: string;
  /** 'N-V-R;N-V-R' */
  nvr?: string;
  /** 'ID;ID' */
  bid?: string;
  staging?: string;
  email?: string;
  /** Koji instance profile */
  instance?: string;
  backend?: string;
  /** dvd: iso, tar.gz or tar.zst (builtin backend) */
  format?: string;
  /** dvd: a lorax boot.iso to make the DVD bootable (builtin backend) */
  bootIso?: string;
}

export interface LoadOptions {
  type?: ImageType;
  configFile?: string;
  overrides?: ConfigOverrides;
  /** The build host, for the arch check (default: this machine, for a job run here). */
  host?: BuildHost;
}

/** Where a key is looked up, first match wins: (file, section) pairs. */
type Scope = Array<[ConfigFile, string]>;

/** `config` is set exactly when `problems` is empty. */
export function loadImageConfig(opts: LoadOptions): { config?: ImageBuildConfig; problems: ConfigProblem[] } {
  const r = load(opts);
  return r.problems.length ? { problems: r.problems.map(redactProblem) } : r;
}

/**
 * Problems quote values; a password (an [smtp] password, or one inside a staging URL) is shown
 * as "***" wherever it would appear, also in a syntax error's quoted line.
 */
function redactProblem(p: ConfigProblem): ConfigProblem {
  let { value, message } = p;
  if ((p.key ?? '').toLowerCase() === 'password') {
    const v = value ?? '';
    if (v) message = message.split(v).join('***');
    // An interpolation error quotes pieces of the value ("bad reference …", "%(name)s").
    const piece = (x: string): boolean => x.length >= 3 && v.includes(x);
    message = message.replace(/"([^"]*)"/g, (m, x: string) => (piece(x) ? '"***"' : m)).replace(/%\(([^)]*)\)s/g, (m, x: string) => (piece(`%(${x}`) ? '%(***)s' : m));
    value = value === undefined ? undefined : '***';
  } else if (value !== undefined && redactUrl(value) !== value) {
    const shown = redactUrl(value);
    message = message.split(value).join(shown);
    value = shown;
  }
  // A syntax error quotes its line.
  message = message.replace(/(\("\s*password\b).*("\))$/i, '$1 ***$2').replace(/([a-z][a-z0-9+.-]*:\/\/[^/@:\s"]*):[^/@\s"]*@/gi, '$1:***@');
  return { ...p, value, message };
}

function load(opts: LoadOptions): { config?: ImageBuildConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const ov = opts.overrides ?? {};
  const host = opts.host ?? { machine: hostMachine() };
  const file = opts.configFile ?? DEFAULT_CONFIG_FILE;
  const dir = dirname(file);
  const files: string[] = [];
  const origins: Record<string, ValueOrigin> = {};
  const flag = (name: string): ValueOrigin => ({ file: COMMAND_LINE, section: '', key: `--${name}` });

  const open = (path: string, missing?: string): ConfigFile | undefined => {
    if (!existsSync(path)) {
      problems.push({ file: path, message: missing ?? 'file not found' });
      return undefined;
    }
    try {
      const cf = readConfigFile(path);
      files.push(path);
      for (const e of cf.errors) problems.push({ file: e.file, message: `line ${e.line}: ${e.message} ("${e.text.trim()}")` });
      return cf;
    } catch (e) {
      problems.push({ file: path, message: (e as Error).message.replace(`${path}: `, '') });
      return undefined;
    }
  };

  // Flag overrides are interpolation vars too, so `%(arch)s` in a URL follows --arch.
  // darkforge also offers %(basearch)s (i386 for any 32-bit x86), set once the arch is known.
  const vars: Record<string, string> = {};
  if (ov.arch) vars.arch = ov.arch;
  if (ov.release) vars.release = ov.release;

  const readIn = (cf: ConfigFile, section: string, key: string, v = vars): ConfigEntry | undefined => {
    try {
      return cf.get(section, key, v);
    } catch (e) {
      if (!(e instanceof InterpolationError)) throw e;
      problems.push({ ...e.origin, value: e.value, message: e.reason });
      return undefined;
    }
  };

  const main = open(file);
  if (!main) return { problems };
  const single = IMAGE_TYPES.some((t) => main.hasSection(t));

  // The image type: the command's, else `type =`.
  const typeEntry = readIn(main, DEFAULT_SECTION, 'type');
  const type = (opts.type ?? typeEntry?.value) as ImageType | undefined;
  if (!type || !IMAGE_TYPES.includes(type)) {
    problems.push({
      ...(typeEntry ? typeEntry.origin : { file, section: DEFAULT_SECTION, key: 'type' }), value: type,
      message: type ? 'unknown image type' : 'no image type (give one on the command line or as type =)', allowed: IMAGE_TYPES.join(', '),
    });
    return { problems };
  }
  origins.type = opts.type ? { file: COMMAND_LINE, section: '', key: 'imagebuild TYPE' } : typeEntry!.origin;

  // Where this type's keys live.
  let scope: Scope | undefined;
  if (single) {
    if (main.hasSection(type)) scope = [[main, type]];
    else problems.push({ file, section: type, message: `no [${type}] section, which a ${type} image needs` });
  } else {
    const sub = open(join(dir, SPLIT_FILES[type]),
      `not found: a ${type} image needs a [${type}] section in ${file} or ${SPLIT_FILES[type]} beside it`);
    if (sub) scope = [[sub, DEFAULT_SECTION], [main, DEFAULT_SECTION]];
  }
  const look: Scope = scope ?? [[main, DEFAULT_SECTION]];
  const getIn = (where: Scope, key: string, origin: string): string | undefined => {
    for (const [cf, section] of where) {
      if (!cf.raw(section, key)) continue;
      const e = readIn(cf, section, key);
      if (!e) return undefined;
      origins[origin] = e.origin;
      return e.value;
    }
    return undefined;
  };
  const get = (key: string, origin = key): string | undefined => getIn(look, key, origin);
  const pick = (name: keyof ConfigOverrides, key: string, flagName: string = name): string | undefined => {
    const v = ov[name];
    if (v !== undefined) {
      origins[key] = flag(flagName);
      return v;
    }
    return get(key) || undefined;
  };
  const bool = (key: string, origin: string, dflt: boolean, where = look): boolean => {
    const v = getIn(where, key, origin);
    if (v === undefined || v === '') return dflt;
    const b = parseBoolean(v);
    if (b === undefined) problems.push({ ...origins[origin], value: v, message: 'not a yes/no value', allowed: BOOLEAN_WORDS });
    return b ?? dflt;
  };

  const arch = pick('arch', 'arch') ?? hostArches(host.machine)[0];
  vars.basearch = basearch(arch);
  const release = releaseOf(type, ov.release, get) ?? '';
  if (ov.release) origins.release = flag('release');
  if (!release) origins.release = { file: look[0][0].file, section: look[0][1], key: 'release' };
  const backend = (pick('backend', 'backend') ?? 'auto') as BackendChoice;
  const nvr = splitList(pick('nvr', 'nvr'));
  const bid = splitList(pick('bid', 'bid')).flatMap((b) => {
    if (/^\d+$/.test(b)) return [Number(b)];
    problems.push({ ...origins.bid, value: b, message: 'not a Koji build id', allowed: 'numbers separated by ";"' });
    return [];
  });

  const config: ImageBuildConfig = { type, arch, release, koji: pick('instance', 'koji') ?? 'koji', nvr, bid, backend, files, origins };
  const staging = pick('staging', 'staging');
  const email = pick('email', 'email');
  if (staging) config.staging = staging;
  if (email) config.email = email;
  const smtp = readSmtp(main, readIn, origins, problems);
  if (smtp) config.smtp = smtp;

  if (scope) {
    const text = (key: string, dflt: string): string => get(key, `${type}.${key}`) || dflt;
    const kickstart = (): string => {
      const v = get('config', `${type}.kickstart`) ?? '';
      if (!v || /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(v)) return v;
      return resolve(dirname(origins[`${type}.kickstart`].file), v);
    };
    if (type === 'boot') {
      const boot: BootSettings = {
        product: text('product', 'fedora'),
        version: ov.release ?? (get('version', 'boot.version') || release),
        release,
        repos: [],
        outdir: text('outdir', '/tmp/lorax_op'),
        workdir: text('workdir', '/tmp/lorax_work'),
      };
      const proxy = get('proxy', 'boot.proxy');
      if (proxy) boot.proxy = proxy;
      // The split layout keeps updates / updates-testing in repoinfo.conf (per release or in
      // its [DEFAULT]); boot.conf or imagebuild.conf may set them too, and win.
      const repoinfo = single ? undefined
        : open(join(dir, 'repoinfo.conf'), `not found: a boot image in the split layout needs repoinfo.conf beside ${file}`);
      const where: Scope = repoinfo ? [...look, [repoinfo, repoinfo.hasSection(release) ? release : DEFAULT_SECTION]] : look;
      const updates = bool('updates', 'boot.updates', false, where);
      const testing = bool('updates-testing', 'boot.updates-testing', false, where);
      if (single) boot.repos = singleRepos(release, updates, testing, get, origins, problems, file);
      // The original injected arch into repoinfo.conf, with Fedora's i386 for every 32-bit x86.
      else if (repoinfo) boot.repos = splitRepos(repoinfo, release, { ...vars, arch: basearch(arch) }, updates, testing, readIn, origins, problems);
      config.boot = boot;
    } else if (type === 'dvd') {
      const dvd: DvdSettings = {
        name: text('name', 'Fedora'),
        version: release,
        flavor: text('flavor', 'Desktop'),
        destdir: text('destdir', '/tmp/pungi_op'),
        cachedir: text('cachedir', '/var/cache/pungi'),
        workdir: text('workdir', '/tmp/pungi_work'),
        bugurl: text('bugurl', 'http://bugzilla.redhat.com'),
        nosource: bool('nosource', 'dvd.nosource', true),
        sourceisos: bool('sourceisos', 'dvd.sourceisos', false),
        force: bool('force', 'dvd.force', true),
        stage: text('stage', 'all') as DvdSettings['stage'],
        kickstart: kickstart(),
        format: (pick('format', 'format') ?? 'iso') as DvdFormat,
      };
      const volid = get('volid', 'dvd.volid');
      if (volid) dvd.volid = volid;
      const bootIso = pick('bootIso', 'bootiso', 'boot-iso');
      if (bootIso) dvd.bootIso = /^file:\/\//.test(bootIso) ? bootIso.slice(7) : resolve(origins.bootiso?.file === COMMAND_LINE ? '.' : dirname(origins.bootiso?.file ?? file), bootIso);
      config.dvd = dvd;
    } else {
      const live: LiveSettings = {
        label: text('label', 'Fedora-Live'),
        title: text('title', 'Fedora'),
        product: text('product', 'Fedora'),
        releasever: release,
        tmpdir: text('tmpdir', '/tmp/liveimage'),
        cachedir: text('cachedir', '/var/cache/liveimage'),
        logfile: text('logfile', '/tmp/liveimage.log'),
        kickstart: kickstart(),
      };
      const volid = get('volid', 'live.volid');
      const isoName = get('iso_name', 'live.isoName');
      if (volid) live.volid = volid;
      if (isoName) live.isoName = isoName;
      config.live = live;
    }
  }

  // Without the type's section or file there is no release to check; that absence is reported.
  problems.push(...validate(config, host).filter((p) => scope || p.key !== 'release'));
  return problems.length ? { problems } : { config, problems };
}

/** The release an image is for: --release, else the type's own key, else `release =`. */
function releaseOf(type: ImageType, flag: string | undefined, get: (key: string, origin?: string) => string | undefined): string | undefined {
  if (flag) return flag;
  const own = type === 'boot' ? ['release', 'version'] : type === 'dvd' ? ['version', 'ver', 'release'] : ['releasever', 'release'];
  for (const k of own) {
    const v = get(k, 'release');
    if (v) return v;
  }
  return undefined;
}

/** 'a; b;;c' -> ['a', 'b', 'c'], as the original split nvr and bid. */
export function splitList(v: string | undefined): string[] {
  return (v ?? '').split(';').map((s) => s.trim()).filter(Boolean);
}

type Reader = (cf: ConfigFile, section: string, key: string, vars?: Record<string, string>) => ConfigEntry | undefined;

/** Names of the repositories a boot image uses: the release, then its updates if asked for. */
function repoNames(release: string, updates: boolean, testing: boolean): { name: string; optional: boolean }[] {
  // rawhide has no updates repositories; asking for them there is not an error.
  const optional = release === 'rawhide';
  return [
    { name: release, optional: false },
    ...(updates ? [{ name: `${release}-updates`, optional }] : []),
    ...(testing ? [{ name: `${release}-updates-testing`, optional }] : []),
  ];
}

/** Single layout: `{name}_url` and `{name}_mirror` keys in [boot]. */
function singleRepos(release: string, updates: boolean, testing: boolean, get: (key: string, origin: string) => string | undefined,
  origins: Record<string, ValueOrigin>, problems: ConfigProblem[], file: string): RepoSpec[] {
  origins['boot.repos'] = { file, section: 'boot', key: `${release}_url` };
  const repos: RepoSpec[] = [];
  for (const { name, optional } of repoNames(release, updates, testing)) {
    const url = get(`${name}_url`, `boot.repo.${name}`);
    const mirror = get(`${name}_mirror`, `boot.mirror.${name}`);
    if (url) repos.push(mirror ? { name, url, mirror } : { name, url });
    else if (name !== release && !optional) {
      problems.push({ file, section: 'boot', key: `${name}_url`, message: `not set, but ${name.slice(release.length + 1)} = 1 asks for it`,
        allowed: `${name}_url = URL, or ${name.slice(release.length + 1)} = 0` });
    }
  }
  return repos;
}

/** Split layout: sections [17], [17-updates], [17-updates-testing] of repoinfo.conf. */
function splitRepos(repoinfo: ConfigFile, release: string, vars: Record<string, string>, updates: boolean, testing: boolean,
  read: Reader, origins: Record<string, ValueOrigin>, problems: ConfigProblem[]): RepoSpec[] {
  origins['boot.repos'] = { file: repoinfo.file, section: release, key: 'url' };
  const repos: RepoSpec[] = [];
  for (const { name, optional } of repoNames(release, updates, testing)) {
    if (!repoinfo.hasSection(name)) {
      if (name !== release && !optional) {
        const what = name.slice(release.length + 1);
        problems.push({ file: repoinfo.file, section: name, message: `no [${name}] section, but ${what} = 1 asks for it`, allowed: `a [${name}] section, or ${what} = 0` });
      }
      continue;
    }
    const url = read(repoinfo, name, 'url', vars);
    const mirror = read(repoinfo, name, 'mirror', vars);
    if (url) origins[`boot.repo.${name}`] = url.origin;
    if (mirror) origins[`boot.mirror.${name}`] = mirror.origin;
    if (url?.value) repos.push(mirror?.value ? { name, url: url.value, mirror: mirror.value } : { name, url: url.value });
  }
  return repos;
}

/** [smtp] (or the original deploy.conf's [SMTP] with server/login) of the main file. */
function readSmtp(main: ConfigFile, read: Reader, origins: Record<string, ValueOrigin>, problems: ConfigProblem[]): SmtpSettings | undefined {
  const section = ['smtp', 'SMTP'].find((s) => main.hasSection(s));
  if (!section) return undefined;
  const get = (keys: string[], origin: string): string | undefined => {
    for (const k of keys) {
      if (!main.raw(section, k)) continue;
      const e = read(main, section, k, {});
      if (e) origins[origin] = e.origin;
      return e?.value;
    }
    return undefined;
  };
  const host = get(['host', 'server'], 'smtp.host') ?? '';
  // validate() checks the form of a host that is there; here only its absence.
  if (!host) problems.push({ file: main.file, section, key: 'host', message: 'no mail server host', allowed: 'host = smtp.example.org' });
  const portText = get(['port'], 'smtp.port') || '587';
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (Number.isNaN(port)) problems.push({ ...origins['smtp.port'], value: portText, message: 'not a port number', allowed: '1-65535, usually 587 or 25' });
  const tls = get(['starttls'], 'smtp.starttls');
  const starttls = tls ? parseBoolean(tls) : true;
  if (starttls === undefined) problems.push({ ...origins['smtp.starttls'], value: tls, message: 'not a yes/no value', allowed: BOOLEAN_WORDS });
  const user = get(['user', 'login'], 'smtp.user') || undefined;
  const password = get(['password'], 'smtp.password') || undefined;
  const from = get(['from'], 'smtp.from') || (user?.includes('@') ? user : 'imagebuild@localhost');
  const smtp: SmtpSettings = { host, port: Number.isNaN(port) ? 587 : port, starttls: starttls ?? true, from };
  if (user) smtp.user = user;
  if (password) smtp.password = password;
  return smtp;
}

/** The passwords a machine's own imagebuild.conf holds, for the jobs it runs (`imagebuild worker --config`). */
export interface Credentials {
  smtp?: { host: string; user?: string; password?: string };
  /** Every staging URL of the file (its [DEFAULT] and each image type's), with its password. */
  staging: string[];
}

/**
 * The SMTP login and staging URLs of a .conf file (either layout; the split layout's type files
 * beside it too), read without the checks a build needs: a worker uses the file for its
 * passwords only. A file that cannot be read at all is one UserError-worthy problem, returned.
 */
export function loadCredentials(file: string): { credentials: Credentials; problem?: string } {
  let main: ConfigFile;
  try {
    main = readConfigFile(file);
  } catch (e) {
    return { credentials: { staging: [] }, problem: (e as Error).message };
  }
  const value = (cf: ConfigFile, section: string, key: string, vars?: Record<string, string>): ConfigEntry | undefined => {
    try {
      return cf.raw(section, key) ? cf.get(section, key, vars ?? {}) : undefined;
    } catch {
      return undefined; // an interpolation that needs a build's values (%(arch)s): not a password's place
    }
  };
  const staging = new Set<string>();
  const files = [main, ...IMAGE_TYPES.map((t) => join(dirname(file), SPLIT_FILES[t])).filter((f) => existsSync(f)).flatMap((f) => {
    try { return [readConfigFile(f)]; } catch { return []; }
  })];
  for (const cf of files) {
    for (const section of [DEFAULT_SECTION, ...IMAGE_TYPES]) {
      const v = value(cf, section, 'staging')?.value;
      if (v) staging.add(v);
    }
  }
  const smtp = readSmtp(main, value, {}, []);
  return { credentials: { smtp: smtp && { host: smtp.host, user: smtp.user, password: smtp.password }, staging: [...staging] } };
}
