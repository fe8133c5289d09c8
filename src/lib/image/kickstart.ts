// Kickstart files without pykickstart: fetch (path, http(s), ftp, file:), flatten %include and
// %ksappend the way ksflatten did for the original service, add the side repository, read the
// few settings the builtin backend needs, and diff two versions for --dry-run.
// Text is handled line by line, so what we do not understand passes through untouched.
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { httpGetBounded } from '../net/http-get.js';
import { errorCode, failureReason, isRetryable, type RetryOptions, sourceOfUrl, withRetries } from '../net/retry.js';

export interface LoadOptions {
  /** Folder that a relative local location is taken from (default: the current directory). */
  baseDir?: string;
  /** Per source: the whole fetch must finish in this time (default 30000). */
  timeoutMs?: number;
  /** Per source (default 8 MiB; real kickstarts are a few KB). */
  maxBytes?: number;
  /** Retry budget and outage lines for an http(s) or FTP server that is down (default: the default budget, said nowhere). */
  retry?: RetryOptions;
}

export interface FlattenOptions {
  /** Where `text` came from (path or URL): relative includes start from its folder, messages name it. */
  origin: string;
  baseDir?: string;
  /** Reads an absolute path or URL; default readKickstartSource. */
  fetch?: (loc: string) => Promise<string>;
}

export interface KickstartRepo {
  name: string;
  baseurl?: string;
  mirrorlist?: string;
  metalink?: string;
  excludes?: string[];
  includepkgs?: string[];
}

export interface KickstartSummary {
  repos: KickstartRepo[];
  /** groups: names without "@" ("^name" for environments); options: the %packages header flags. */
  packages: { include: string[]; exclude: string[]; groups: string[]; excludedGroups: string[]; options: string[] };
  lang?: string;
  keyboard?: string;
  timezone?: string;
  rootpw?: { value?: string; iscrypted: boolean; lock: boolean };
  services?: { enabled: string[]; disabled: string[] };
  posts: { interpreter?: string; nochroot: boolean; erroronfail: boolean; body: string }[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
const MAX_DEPTH = 16;
// A file that includes another many times, nested, multiplies: these bound the flattened result.
const MAX_INCLUDES = 256;
const MAX_FLAT_CHARS = 64 * 1024 * 1024;

// Sections whose bodies are scripts or addon data: anaconda hands them over verbatim, so an
// "%include" line in them is the script's business, not ours.
const RAW_SECTIONS = new Set(['%pre', '%pre-install', '%post', '%onerror', '%traceback', '%addon']);
// %packages and %anaconda bodies are parsed line by line by pykickstart, which follows %include there.
const SECTIONS = new Set([...RAW_SECTIONS, '%packages', '%anaconda']);

const isUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const joinLines = (lines: string[]): string => (lines.length ? `${lines.join('\n')}\n` : '');

const firstWord = (line: string): string => line.trim().split(/\s+/, 1)[0] ?? '';

/** Shell-like words (pykickstart uses shlex): quotes, backslashes, "#" at a word start ends the line. */
export function kickstartWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      cur += end < 0 ? line.slice(i + 1) : line.slice(i + 1, end);
      i = end < 0 ? line.length : end;
      inWord = true;
    } else if (c === '"') {
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
        cur += line[i];
      }
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

type Role = 'command' | 'header' | 'body' | 'end';

/** Where each line stands; a new section header also ends an unterminated one (pre-F8 kickstarts). */
function classify(lines: string[]): { role: Role; section?: string }[] {
  let section: string | undefined;
  return lines.map((line) => {
    const w = firstWord(line);
    if (SECTIONS.has(w)) return { role: 'header', section: (section = w) };
    if (w === '%end' && section) {
      const s = section;
      section = undefined;
      return { role: 'end', section: s };
    }
    return section ? { role: 'body', section } : { role: 'command' };
  });
}

// ---------------------------------------------------------------------------------------------
// Reading one source

function shown(loc: string): string {
  if (isUrl(loc)) return loc;
  const rel = path.relative(process.cwd(), loc);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : loc;
}

/** The text of one kickstart, not flattened. `loc` is an absolute path or a URL. */
export async function readKickstartSource(loc: string, opts: LoadOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let buf: Buffer;
  if (!isUrl(loc) || /^file:/i.test(loc)) {
    buf = await readLocal(isUrl(loc) ? fileURLToPath(loc) : path.resolve(opts.baseDir ?? '.', loc), maxBytes);
  } else {
    let url: URL;
    try {
      url = new URL(loc);
    } catch {
      throw new UserError(`${loc} is not a valid URL`);
    }
    if (url.protocol === 'http:' || url.protocol === 'https:') buf = await httpGet(url, timeoutMs, maxBytes, opts.retry);
    else if (url.protocol === 'ftp:') buf = await ftpRetried(url, timeoutMs, maxBytes, opts.retry);
    else throw new UserError(`${loc}: kickstarts can be read from files and http, https or ftp URLs, not ${url.protocol}`);
  }
  return buf.toString('utf8');
}

async function readLocal(file: string, maxBytes: number): Promise<Buffer> {
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new UserError(`kickstart ${shown(file)} is a directory`);
    if (st.size > maxBytes) throw new UserError(`kickstart ${shown(file)} is ${st.size} bytes, more than the ${maxBytes} allowed`);
    return await readFile(file);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UserError(`kickstart ${shown(file)} does not exist`);
    throw new UserError(`cannot read kickstart ${shown(file)}: ${code ?? (e as Error).message}`);
  }
}

async function httpGet(url: URL, timeoutMs: number, maxBytes: number, retry?: RetryOptions): Promise<Buffer> {
  const got = await httpGetBounded(url, { timeoutMs, maxBytes, what: `kickstart ${url.href}`, accept: 'text/plain, */*', retry });
  if ('missing' in got) throw new UserError(`kickstart ${url.href} not found (HTTP ${got.missing})`);
  return got.body;
}

const tooBig = (loc: string, max: number): UserError => new UserError(`kickstart ${loc} is larger than the ${max} bytes allowed`);

interface FtpReply { code: number; text: string }

/** The control connection: replies in order, multi-line ones ("230-...", "230 ...") joined. */
function ftpControl(sock: net.Socket) {
  const replies: FtpReply[] = [];
  let pending = '';
  let lines: string[] = [];
  let multi: string | undefined;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    pending += d;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl).replace(/\r$/, '');
      pending = pending.slice(nl + 1);
      lines.push(line);
      if (multi === undefined && /^\d{3}-/.test(line)) multi = line.slice(0, 3);
      else if (multi === undefined ? /^\d{3}( |$)/.test(line) : line.startsWith(`${multi} `)) {
        replies.push({ code: Number(line.slice(0, 3)), text: lines.join(' ').trim() });
        lines = [];
        multi = undefined;
      }
    }
    wake?.();
  });
  sock.on('error', (e) => { failure ??= e; wake?.(); });
  sock.on('close', () => { failure ??= new Error('the server closed the connection'); wake?.(); });
  const next = async (): Promise<FtpReply> => {
    while (!replies.length) {
      if (failure) throw failure;
      await new Promise<void>((r) => { wake = r; });
      wake = undefined;
    }
    return replies.shift()!;
  };
  const send = (cmd: string): Promise<FtpReply> => { sock.write(`${cmd}\r\n`); return next(); };
  return { next, send };
}

/** RETR over passive mode (EPSV, then PASV), anonymous unless the URL has credentials. */
/** A failure of an FTP fetch that may pass: a 4xx reply (421 too many users, 425/426 data connection), a lost or refused connection, a timeout. */
class FtpPassing extends UserError {
  constructor(message: string, readonly reason: string) {
    super(message, 1);
  }
}

/** ftpGet, asked again within the retry budget while it fails for a passing reason. */
async function ftpRetried(url: URL, timeoutMs: number, maxBytes: number, retry: RetryOptions = {}): Promise<Buffer> {
  try {
    return await withRetries(sourceOfUrl(url), retry, () => ftpGet(url, timeoutMs, maxBytes),
      { transient: (e) => e instanceof FtpPassing, reason: (e) => (e as FtpPassing).reason });
  } catch (e) {
    const retried = (e as { retried?: string }).retried;
    if (e instanceof FtpPassing && retried) throw new UserError(`${e.message}${retried}`, 1);
    throw e;
  }
}

async function ftpGet(url: URL, timeoutMs: number, maxBytes: number): Promise<Buffer> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 21);
  const file = decodeURIComponent(url.pathname).replace(/^\//, '');
  // Decoded %0D%0A would otherwise smuggle commands onto the control connection.
  if (/[\r\n]/.test(file + decodeURIComponent(url.username + url.password))) throw new UserError(`${url.href}: line breaks in an FTP URL`);
  const sockets: net.Socket[] = [];
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; for (const s of sockets) s.destroy(); }, timeoutMs);
  const fail = (r: FtpReply): UserError => (r.code >= 400 && r.code < 500
    ? new FtpPassing(`kickstart ${url.href}: the FTP server answered "${r.text}"`, `FTP ${r.text}`)
    : new UserError(r.code === 550 ? `kickstart ${url.href} not found (FTP ${r.text})` : `kickstart ${url.href}: the FTP server answered "${r.text}"`));
  try {
    const ctl = net.connect({ host, port });
    sockets.push(ctl);
    const { next, send } = ftpControl(ctl);
    let r = await next();
    if (r.code !== 220) throw fail(r);
    r = await send(`USER ${url.username ? decodeURIComponent(url.username) : 'anonymous'}`);
    if (r.code === 331) r = await send(`PASS ${url.password ? decodeURIComponent(url.password) : 'anonymous@'}`);
    if (r.code !== 230 && r.code !== 202) throw fail(r);
    if ((r = await send('TYPE I')).code !== 200) throw fail(r);
    // The data connection goes to the control host: a PASV address is often a private one behind NAT.
    let dataPort: number;
    r = await send('EPSV');
    const ep = r.code === 229 ? /\(\|\|\|(\d+)\|\)/.exec(r.text) : null;
    if (ep) dataPort = Number(ep[1]);
    else {
      r = await send('PASV');
      const pv = r.code === 227 ? /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(r.text) : null;
      if (!pv) throw fail(r);
      dataPort = Number(pv[5]) * 256 + Number(pv[6]);
    }
    const data = net.connect({ host: ctl.remoteAddress ?? host, port: dataPort });
    sockets.push(data);
    const parts: Buffer[] = [];
    let size = 0;
    const received = new Promise<void>((resolve, reject) => {
      data.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) { data.destroy(); reject(tooBig(url.href, maxBytes)); } else parts.push(c);
      });
      data.on('end', resolve);
      data.on('error', reject);
      data.on('close', () => (timedOut ? reject(new Error('timeout')) : resolve()));
    });
    received.catch(() => {}); // observed below; avoids an unhandled rejection if RETR fails first
    r = await send(`RETR ${file}`);
    if (r.code !== 125 && r.code !== 150) throw fail(r);
    await received;
    if ((r = await next()).code !== 226 && r.code !== 250) throw fail(r);
    ctl.end('QUIT\r\n');
    setTimeout(() => ctl.destroy(), 1000).unref(); // in case the server does not hang up
    return Buffer.concat(parts);
  } catch (e) {
    sockets[0]?.destroy();
    if (timedOut) throw new FtpPassing(`kickstart ${url.href}: no complete answer within ${timeoutMs / 1000} s`, `no complete answer within ${timeoutMs / 1000} s`);
    if (e instanceof UserError) throw e;
    const reason = failureReason(e);
    if (isRetryable(e)) throw new FtpPassing(`cannot fetch kickstart ${url.href}: ${reason}`, reason);
    throw new UserError(`cannot fetch kickstart ${url.href}: ${errorCode(e) ?? (e as Error).message}`);
  } finally {
    clearTimeout(timer);
    sockets[1]?.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Flattening

/** Reads `location` and everything it includes; `sources` lists each path or URL read, in order. */
export async function loadKickstart(location: string, opts: LoadOptions = {}): Promise<{ text: string; sources: string[] }> {
  const sources: string[] = [];
  const fetch = async (loc: string): Promise<string> => {
    const text = await readKickstartSource(loc, opts);
    sources.push(loc);
    return text;
  };
  const top = isUrl(location) ? location : path.resolve(opts.baseDir ?? '.', location);
  const text = await flattenKickstart(await fetch(top), { origin: top, fetch });
  return { text, sources };
}

function resolveFrom(ref: string, origin: string): string {
  if (isUrl(ref)) return ref;
  if (isUrl(origin)) return new URL(ref, origin).href;
  return path.resolve(path.dirname(origin), ref);
}

/**
 * Inlines %include and %ksappend outside script bodies, recursively; everything else is kept
 * line for line (line endings become \n). State carries across files, as in pykickstart, so an
 * included file may hold just package names for the %packages section it is included from.
 * Relative references start from the URL as written, not where it redirected (as pykickstart).
 */
export async function flattenKickstart(text: string, opts: FlattenOptions): Promise<string> {
  const fetch = opts.fetch ?? ((loc: string) => readKickstartSource(loc));
  const top = isUrl(opts.origin) ? opts.origin : path.resolve(opts.baseDir ?? '.', opts.origin);
  const out: string[] = [];
  let section: string | undefined;
  let includes = 0;
  let chars = 0;

  const walk = async (src: string, loc: string, stack: string[], sites: string[]): Promise<void> => {
    const lines = splitLines(src);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const w = firstWord(line);
      if (SECTIONS.has(w)) section = w;
      else if (w === '%end') section = undefined;
      else if ((w === '%include' || w === '%ksappend') && !(section && RAW_SECTIONS.has(section))) {
        const site = `${shown(loc)}:${i + 1}`;
        const chain = sites.length > 4 ? [...sites.slice(0, 2), '…', sites[sites.length - 1]] : sites;
        const from = sites.length ? ` (${shown(loc)} is included from ${chain.join(', from ')})` : '';
        const ref = kickstartWords(line)[1];
        if (!ref) throw new UserError(`${site}: ${w} needs a file or URL${from}`);
        let target: string;
        let key: string;
        try {
          target = resolveFrom(ref, loc);
          key = isUrl(target) ? new URL(target).href : target;
        } catch {
          throw new UserError(`${site}: ${w} ${ref}: not a valid URL${from}`);
        }
        if (stack.includes(key)) {
          throw new UserError(`${site}: ${w} loop: ${[...stack.slice(stack.indexOf(key)), key].map(shown).join(' -> ')}`);
        }
        if (stack.length > MAX_DEPTH) throw new UserError(`${site}: ${w} nested more than ${MAX_DEPTH} deep${from}`);
        if (++includes > MAX_INCLUDES) throw new UserError(`${site}: more than ${MAX_INCLUDES} %include and %ksappend lines in all${from}`);
        let body: string;
        try {
          body = await fetch(target);
        } catch (e) {
          throw new UserError(`${site}: cannot ${w} ${ref}: ${(e as Error).message}${from}`, e instanceof UserError ? e.exitCode : 2);
        }
        await walk(body, key, [...stack, key], [site, ...sites]);
        continue;
      }
      chars += line.length + 1;
      if (chars > MAX_FLAT_CHARS) throw new UserError(`${shown(top)}: the flattened kickstart is larger than ${MAX_FLAT_CHARS} characters`);
      out.push(line);
    }
  };
  await walk(text, top, [top], []);
  return joinLines(out);
}

// ---------------------------------------------------------------------------------------------
// Editing and reading

interface Parsed { opts: Map<string, string | true>; args: string[] }

/** --opt=value, --opt value (for options in `valued`), flags, and positional words. */
function parseArgs(words: string[], valued: string[] = []): Parsed {
  const opts = new Map<string, string | true>();
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const m = /^--?([^=]+)(?:=(.*))?$/s.exec(words[i]);
    if (!m) args.push(words[i]);
    else if (m[2] !== undefined) opts.set(m[1], m[2]);
    else if (valued.includes(m[1]) && i + 1 < words.length) opts.set(m[1], words[++i]);
    else opts.set(m[1], true);
  }
  return { opts, args };
}

const str = (v: string | true | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: string | true | undefined): string[] => (str(v) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const REPO_VALUED = ['name', 'baseurl', 'mirrorlist', 'metalink', 'cost', 'excludepkgs', 'includepkgs', 'proxy', 'sslcacert', 'sslclientcert', 'sslclientkey'];

function quoteWord(s: string): string {
  return /[\s"'\\]|^#/.test(s) || s === '' ? `"${s.replace(/["\\]/g, '\\$&')}"` : s;
}

/**
 * Adds `repo --name=NAME --baseurl=URL` after the last top-level repo line, or else after the
 * last command before the first section. pykickstart's str(handler) put it among the commands too.
 */
export function addRepo(text: string, repo: { name: string; baseurl: string }): string {
  if (!repo.name || /[\n\r]/.test(repo.name)) throw new UserError(`repository name ${JSON.stringify(repo.name)} cannot be used in a kickstart`);
  if (!repo.baseurl || /\s/.test(repo.baseurl)) throw new UserError(`repository URL ${JSON.stringify(repo.baseurl)} cannot be used in a kickstart`);
  const lines = splitLines(text);
  const roles = classify(lines);
  let lastRepo = -1;
  let lastCommand = -1;
  let firstSection = -1;
  roles.forEach(({ role }, i) => {
    if (role === 'header' && firstSection < 0) firstSection = i;
    if (role !== 'command') return;
    const words = kickstartWords(lines[i]);
    if (!words.length) return;
    if (firstSection < 0) lastCommand = i;
    if (words[0] !== 'repo') return;
    lastRepo = i;
    if (str(parseArgs(words.slice(1), REPO_VALUED).opts.get('name')) === repo.name) {
      throw new UserError(`the kickstart already has a repo named "${repo.name}" (line ${i + 1}); pick another name`);
    }
  });
  const at = lastRepo >= 0 ? lastRepo + 1 : lastCommand >= 0 ? lastCommand + 1 : firstSection >= 0 ? firstSection : lines.length;
  lines.splice(at, 0, `repo --name=${quoteWord(repo.name)} --baseurl=${quoteWord(repo.baseurl)}`);
  return joinLines(lines);
}

/** The settings the builtin backend needs, from a flattened kickstart. */
export function parseKickstartSummary(text: string): KickstartSummary {
  const lines = splitLines(text);
  const sum: KickstartSummary = {
    repos: [], packages: { include: [], exclude: [], groups: [], excludedGroups: [], options: [] }, posts: [],
  };
  let post: KickstartSummary['posts'][number] | undefined;
  classify(lines).forEach(({ role, section }, i) => {
    const line = lines[i];
    if (role === 'header') {
      const words = kickstartWords(line).slice(1);
      post = undefined;
      if (section === '%packages') sum.packages.options.push(...words);
      if (section === '%post') {
        const { opts } = parseArgs(words, ['interpreter', 'log']);
        sum.posts.push(post = { nochroot: opts.has('nochroot'), erroronfail: opts.has('erroronfail'), body: '' });
        if (str(opts.get('interpreter'))) post.interpreter = str(opts.get('interpreter'));
      }
    } else if (role === 'end') {
      post = undefined;
    } else if (role === 'body') {
      if (post) post.body += `${line}\n`;
      if (section !== '%packages') return;
      // One entry a line; pykickstart drops what follows "#", and group options ("@core --nodefaults").
      const item = line.split('#', 1)[0].trim().split(/\s+/, 1)[0];
      if (!item) return;
      if (item.startsWith('-@')) sum.packages.excludedGroups.push(item.slice(2));
      else if (item.startsWith('@')) sum.packages.groups.push(item.slice(1));
      else if (item.startsWith('-')) sum.packages.exclude.push(item.slice(1));
      else sum.packages.include.push(item);
    } else {
      const [cmd, ...words] = kickstartWords(line);
      if (cmd === 'repo') {
        const { opts } = parseArgs(words, REPO_VALUED);
        const r: KickstartRepo = { name: str(opts.get('name')) ?? '' };
        for (const k of ['baseurl', 'mirrorlist', 'metalink'] as const) if (str(opts.get(k))) r[k] = str(opts.get(k));
        if (opts.has('excludepkgs')) r.excludes = list(opts.get('excludepkgs'));
        if (opts.has('includepkgs')) r.includepkgs = list(opts.get('includepkgs'));
        sum.repos.push(r);
      } else if (cmd === 'lang' || cmd === 'timezone') {
        const v = parseArgs(words, cmd === 'lang' ? ['addsupport'] : ['ntpservers']).args[0];
        if (v) sum[cmd] = v;
      } else if (cmd === 'keyboard') {
        const { opts, args } = parseArgs(words, ['vckeymap', 'xlayouts', 'switch']);
        const v = args[0] ?? str(opts.get('vckeymap')) ?? list(opts.get('xlayouts'))[0];
        if (v) sum.keyboard = v;
      } else if (cmd === 'rootpw') {
        const { opts, args } = parseArgs(words);
        sum.rootpw = { iscrypted: opts.has('iscrypted'), lock: opts.has('lock') };
        if (args[0] !== undefined) sum.rootpw.value = args[0];
      } else if (cmd === 'services') {
        const { opts } = parseArgs(words, ['enabled', 'disabled']);
        sum.services ??= { enabled: [], disabled: [] };
        sum.services.enabled.push(...list(opts.get('enabled')));
        sum.services.disabled.push(...list(opts.get('disabled')));
      }
    }
  });
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Diff

type Op = { t: ' ' | '-' | '+'; line: string; a: number; b: number };

/** Line operations: LCS on what lies between the common head and tail; very large middles are replaced wholesale. */
function diffOps(a: string[], b: string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const n = a.length - head - tail;
  const m = b.length - head - tail;
  const ops: Op[] = [];
  for (let i = 0; i < head; i++) ops.push({ t: ' ', line: a[i], a: i, b: i });
  if (n * m <= 16_000_000) {
    // lcs[i][j]: length of the LCS of a[head+i..] and b[head+j..] within the middle.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = a[head + i] === b[head + j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[head + i] === b[head + j]) { ops.push({ t: ' ', line: a[head + i], a: head + i, b: head + j }); i++; j++; }
      // On a tie, delete first: "-old" then "+new" reads like diff(1).
      else if (i < n && (j === m || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) { ops.push({ t: '-', line: a[head + i], a: head + i, b: head + j }); i++; }
      else { ops.push({ t: '+', line: b[head + j], a: head + i, b: head + j }); j++; }
    }
  } else {
    for (let i = 0; i < n; i++) ops.push({ t: '-', line: a[head + i], a: head + i, b: head });
    for (let j = 0; j < m; j++) ops.push({ t: '+', line: b[head + j], a: head + n, b: head + j });
  }
  for (let i = 0; i < tail; i++) ops.push({ t: ' ', line: a[head + n + i], a: head + n + i, b: head + m + i });
  return ops;
}

/** GNU-style unified diff with 3 lines of context; "" when the texts are equal. */
export function unifiedDiff(oldText: string, newText: string, oldName: string, newName: string): string {
  const split = (t: string): string[] => {
    const lines = t.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    else lines[lines.length - 1] += '\n\\ No newline at end of file';
    return lines;
  };
  const ops = diffOps(split(oldText), split(newText));
  const changed = ops.flatMap((o, k) => (o.t === ' ' ? [] : [k]));
  if (!changed.length) return '';
  const CONTEXT = 3;
  const out = [`--- ${oldName}`, `+++ ${newName}`];
  const range = (start: number, count: number): string => (count === 1 ? `${start + 1}` : `${count ? start + 1 : start},${count}`);
  for (let c = 0; c < changed.length;) {
    let last = c;
    while (last + 1 < changed.length && changed[last + 1] - changed[last] <= 2 * CONTEXT + 1) last++;
    const from = Math.max(0, changed[c] - CONTEXT);
    const to = Math.min(ops.length, changed[last] + CONTEXT + 1);
    const hunk = ops.slice(from, to);
    const aCount = hunk.filter((o) => o.t !== '+').length;
    const bCount = hunk.filter((o) => o.t !== '-').length;
    out.push(`@@ -${range(ops[from].a, aCount)} +${range(ops[from].b, bCount)} @@`, ...hunk.map((o) => o.t + o.line));
    c = last + 1;
  }
  return `${out.join('\n')}\n`;
}
