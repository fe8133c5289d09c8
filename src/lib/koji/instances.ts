// Koji instances ("profiles"), found where the koji client looks and where darkforge ships
// its own: config/*.conf beside the package, /etc/koji.conf, /etc/koji.conf.d/*.conf,
// ~/.koji/config, then $XDG_CONFIG_HOME/darkforge/*.conf (later files override earlier keys).
// Also reads the original darkproducer's --config file ([darkserver] arch = NAME, url = HUB).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'ini';
import { UserError } from '../errors.js';
import { checkUrl, checkUrlPattern, FETCH_SCHEMES } from '../net/url-policy.js';
import { darkforgeDir } from '../xdg.js';

export interface KojiInstance {
  name: string;
  hub: string;
  topurl: string;
  weburl?: string;
  mirrors: string[];
  retrace: string[];
  /** Where the profile came from, for messages. */
  source: string;
}

export const DEFAULT_INSTANCE = 'koji';

const PACKAGE_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'config');

export function configFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  // imagebuild.conf shares the folder but is not a Koji profile file.
  const inDir = (d: string): string[] => {
    try {
      return readdirSync(d).filter((f) => f.endsWith('.conf') && f !== 'imagebuild.conf').sort().map((f) => join(d, f));
    } catch {
      return [];
    }
  };
  const home = env.HOME || homedir();
  return [
    ...inDir(env.DARKFORGE_CONFIG_DIR || PACKAGE_CONFIG),
    '/etc/koji.conf',
    ...inDir('/etc/koji.conf.d'),
    join(home, '.koji', 'config'),
    ...inDir(darkforgeDir('config', env)),
  ].filter((f) => existsSync(f));
}

type Sections = Record<string, Record<string, string>>;

function readSections(file: string): Sections {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const out: Sections = {};
  for (const [section, body] of Object.entries(parse(text))) {
    if (body && typeof body === 'object') out[section] = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

const list = (v: string | undefined): string[] => (v ?? '').split(/\s+/).filter(Boolean);

/** The hub speaks XML-RPC over HTTP; RPMs come from the package store over http(s) or a local file: tree. */
export const HUB_SCHEMES = ['http', 'https'] as const;
export const TOPURL_SCHEMES = ['http', 'https', 'file'] as const;
/** Mirror and retrace patterns: any download scheme darkserver find can read. */
export const MIRROR_SCHEMES = FETCH_SCHEMES;

function toInstance(name: string, keys: Record<string, string>, source: string): KojiInstance {
  const hub = keys.server;
  if (!hub) throw new UserError(`${source}: profile [${name}] has no "server" key (the Koji hub URL)`);
  checkUrl(hub, `${source}: [${name}] server`, HUB_SCHEMES);
  const topurl = keys.topurl || deriveTopurl(hub);
  checkUrl(topurl, `${source}: [${name}] topurl`, TOPURL_SCHEMES);
  const patterns = (key: 'mirrors' | 'retrace'): string[] =>
    list(keys[key]).map((p) => checkUrlPattern(p, `${source}: [${name}] ${key}`, MIRROR_SCHEMES));
  return { name, hub, topurl, weburl: keys.weburl, mirrors: patterns('mirrors'), retrace: patterns('retrace'), source };
}

/** The instance a command asked for with --instance, --config or --hub/--topurl. */
export function resolveInstance(o: { instance?: string; config?: string; hub?: string; topurl?: string }, env = process.env): KojiInstance {
  if (o.hub) {
    checkUrl(o.hub, '--hub', HUB_SCHEMES);
    if (o.topurl) checkUrl(o.topurl, '--topurl', TOPURL_SCHEMES);
    const name = o.instance ?? new URL(o.hub).host;
    return { name, hub: o.hub, topurl: o.topurl ?? deriveTopurl(o.hub), mirrors: [], retrace: [], source: '--hub' };
  }
  if (o.topurl) throw new UserError('--topurl needs --hub as well');
  if (o.config) {
    const sections = readSections(o.config);
    const dark = sections.darkserver;
    if (dark?.url) {
      // darkproducer's own format: [darkserver] arch = koji|arm|ppc, url = hub
      return toInstance(o.instance ?? dark.arch ?? DEFAULT_INSTANCE, { server: dark.url, topurl: dark.topurl ?? '' }, o.config);
    }
    const names = Object.keys(sections);
    const name = o.instance ?? names[0];
    if (!name || !sections[name]) {
      throw new UserError(`${o.config}: no profile ${o.instance ? `[${o.instance}]` : ''} in it (found: ${names.join(', ') || 'none'})`);
    }
    return toInstance(name, sections[name], o.config);
  }
  const name = o.instance ?? DEFAULT_INSTANCE;
  const merged: Record<string, string> = {};
  const sources: string[] = [];
  const known = new Set<string>();
  for (const f of configFiles(env)) {
    const s = readSections(f);
    Object.entries(s).forEach(([k, v]) => { if (v.server) known.add(k); });
    if (s[name]) { Object.assign(merged, s[name]); sources.push(f); }
  }
  if (!sources.length) {
    throw new UserError(`no Koji profile named "${name}" (known: ${[...known].sort().join(', ') || 'none'}; searched config/, /etc/koji.conf, /etc/koji.conf.d, ~/.koji/config, $XDG_CONFIG_HOME/darkforge)`);
  }
  return toInstance(name, merged, sources[sources.length - 1]);
}

/** Koji's usual layout when no topurl is given: files beside the hub, under /kojifiles. */
function deriveTopurl(hub: string): string {
  const u = new URL(hub);
  return `${u.protocol}//${u.host}/kojifiles`;
}
