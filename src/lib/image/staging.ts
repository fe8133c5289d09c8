// Staging: where finished images and logs go (the original's transfer.py). One value names the
// place: file:///dir, an scp target, an ftp:// URL, or the original service's bare FTP host.
// Images are renamed {stem}-{arch}-{timestamp}{ext} so builds never overwrite each other, and a
// Fedora-style CHECKSUM file travels with them.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Client } from 'basic-ftp';
import { execa } from 'execa';
import { UserError } from '../errors.js';
import { ftpFailure, isTransientFtp } from '../net/ftp-source.js';
import { OutageLog } from '../net/outages.js';
import { RetryOptions, withRetries } from '../net/retry.js';
import { redactUrl } from '../net/url-policy.js';

export type StagingTarget =
  | { kind: 'file'; dir: string }
  /** path '' is the remote login directory, as with scp's `host:` */
  | { kind: 'scp'; host: string; user?: string; port?: number; path: string }
  | { kind: 'ftp'; host: string; port: number; user: string; password: string; path: string };

export interface StageArtifact {
  path: string;
  kind: 'image' | 'log';
}

/** Runs a program without a shell; rejects with a one-line reason. Injected by tests. */
export type ExecFn = (file: string, args: string[]) => Promise<void>;

export interface StageOptions {
  arch: string;
  when?: Date;
  log?: (line: string) => void;
  exec?: ExecFn;
  /** Retry budget and outage lines for FTP (default: the default budget, said in `log`). */
  retry?: RetryOptions;
}

const FORMS =
  'file:///dir, scp://[user@]host[:port]/path, [user@]host:/path, ftp://[user[:pass]@]host[:port]/path, ' +
  'or a bare FTP host such as 10.0.0.27 (uploads to ftp://host/pub/)';
// Labels may hold "_" because ssh config aliases do; nothing may start with "-" (scp would
// read it as an option).
const HOST = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;
const USER = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;
// Legacy scp hands the remote path to a shell; keep it to characters no shell treats specially.
const SCP_PATH = /^[A-Za-z0-9._~/+@%=,:-]*$/;

/** A staging value that cannot be used; `why` is the reason alone, for config validation. */
export class StagingError extends UserError {
  constructor(shown: string, readonly why: string) {
    super(`Staging target "${shown}" is not usable: ${why}; use ${FORMS}`, 2);
    this.name = 'StagingError';
  }
}

export function parseStaging(value: string): StagingTarget {
  const v = value.trim();
  const bad = (why: string): never => {
    // Never echo an FTP password back into logs.
    throw new StagingError(redactUrl(v), why);
  };
  if (!v) bad('it is empty');

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(v)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      return bad('it is not a valid URL');
    }
    if (url.search || url.hash) bad('a query or fragment has no meaning here');
    if (scheme === 'file') {
      let dir: string;
      try {
        dir = fileURLToPath(url);
      } catch {
        return bad('a file URL names a local folder with three slashes, e.g. file:///srv/images');
      }
      return { kind: 'file', dir };
    }
    if (scheme !== 'scp' && scheme !== 'ftp') bad(`the scheme ${scheme}:// is not supported`);
    const host = checkHost(url.hostname, bad);
    const decode = (part: string): string => {
      try {
        return decodeURIComponent(part);
      } catch {
        return bad(`"${part}" has a broken %-escape`);
      }
    };
    const user = url.username ? decode(url.username) : undefined;
    if (user !== undefined && !USER.test(user)) bad(`"${user}" is not a user name`);
    const path = decode(url.pathname);
    if (scheme === 'ftp') {
      return {
        kind: 'ftp', host, port: url.port ? Number(url.port) : 21,
        user: user ?? 'anonymous',
        password: user !== undefined ? decode(url.password) : 'darkforge@',
        path: path || '/',
      };
    }
    if (url.password) bad('scp URLs take no password (scp runs in batch mode with keys)');
    // scp://host/~/dir means the home folder, everything else is taken as absolute.
    const scpPath = path.startsWith('/~') ? path.slice(1) : path;
    if (!SCP_PATH.test(scpPath)) bad('scp paths may hold only letters, digits and ._~/+@%=,:-');
    return { kind: 'scp', host, ...(user !== undefined && { user }), ...(url.port && { port: Number(url.port) }), path: scpPath };
  }

  if (v.startsWith('/') || v.startsWith('.')) bad(`a local folder is written as a URL, e.g. file://${resolve(v)}`);
  // scp shorthand, as the original README: [user@]host:path
  const m = /^(?:([^@:/\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^@:/\s[\]]+):(.*)$/.exec(v);
  if (m) {
    const [, user, rawHost, path] = m as unknown as [string, string | undefined, string, string];
    if (user !== undefined && !USER.test(user)) bad(`"${user}" is not a user name`);
    const host = checkHost(rawHost, bad);
    if (!SCP_PATH.test(path)) bad('scp paths may hold only letters, digits and ._~/+@%=,:-');
    return { kind: 'scp', host, ...(user !== undefined && { user }), path };
  }
  if (HOST.test(v)) return { kind: 'ftp', host: v, port: 21, user: 'anonymous', password: 'darkforge@', path: '/pub/' };
  return bad('it is neither a URL, an scp target nor a host name');
}

function checkHost(raw: string, bad: (why: string) => never): string {
  const h = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIPv6(h) || HOST.test(h)) return h;
  return bad(raw ? `"${raw}" is not a host name` : 'the host is missing');
}

/** Why a staging value is not usable (the reason parseStaging would give), or undefined. */
export function stagingProblem(value: string): string | undefined {
  try {
    parseStaging(value);
    return undefined;
  } catch (e) {
    if (!(e instanceof StagingError)) throw e;
    return e.why;
  }
}

/** The target as a user would write it, without any password. */
export function describeStaging(t: StagingTarget): string {
  if (t.kind === 'file') return `file://${t.dir}`;
  return t.kind === 'ftp' ? ftpBase(t) : scpLocation(t);
}

function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function ftpBase(t: Extract<StagingTarget, { kind: 'ftp' }>): string {
  const who = t.user === 'anonymous' ? '' : `${encodeURIComponent(t.user)}@`;
  const path = encodeURI(t.path.startsWith('/') ? t.path : `/${t.path}`);
  return `ftp://${who}${bracket(t.host)}${t.port === 21 ? '' : `:${t.port}`}${path}`;
}

/** user@host:path[/name], or the scp:// URL when a port must be kept (only URLs carry one). */
function scpLocation(t: Extract<StagingTarget, { kind: 'scp' }>, name?: string): string {
  const sep = !name || t.path === '' || t.path.endsWith('/') ? '' : '/';
  const path = `${t.path}${sep}${name ?? ''}`;
  const who = t.user ? `${t.user}@` : '';
  if (!t.port) return `${who}${bracket(t.host)}:${path}`;
  return `scp://${who}${bracket(t.host)}:${t.port}${path && !path.startsWith('/') ? '/' : ''}${path}`;
}

// Longest first, so "x.tar.gz" splits as x + .tar.gz.
const EXTS = ['.tar.gz', '.tar.zst', '.tar.xz', '.tar.bz2'];

function splitName(name: string): [stem: string, ext: string] {
  const multi = EXTS.find((e) => name.endsWith(e) && name.length > e.length);
  if (multi) return [name.slice(0, -multi.length), multi];
  const dot = name.lastIndexOf('.');
  return dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
}

/** 2026-01-21T10:15:00.123Z -> 20260121T101500Z (UTC, sortable, no characters FTP or shells mind). */
export function stagingTimestamp(when: Date): string {
  return when.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** boot.iso, x86_64 -> boot-x86_64-20260121T101500Z.iso (for images; logs keep their names). */
export function stagedName(file: string, arch: string, when: Date): string {
  const [stem, ext] = splitName(basename(file));
  return `${stem}-${arch}-${stagingTimestamp(when)}${ext}`;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Writes dir/name listing each file by its base name the way Fedora's CHECKSUM files do
 * (`# name: N bytes` then `SHA256 (name) = hex`), which `sha256sum -c` checks as it is.
 */
export async function writeChecksumFile(dir: string, files: string[], name = 'CHECKSUM'): Promise<string> {
  const lines: string[] = [];
  for (const f of files) {
    const { size } = await stat(f);
    lines.push(`# ${basename(f)}: ${size} bytes`, `SHA256 (${basename(f)}) = ${await sha256File(f)}`);
  }
  const out = join(dir, name);
  await writeFile(out, lines.map((l) => `${l}\n`).join(''));
  return out;
}

/**
 * Renames images, writes their CHECKSUM and sends images, CHECKSUM and logs to the target.
 * The renaming happens through symlinks in a private temporary folder, so the build's own
 * output is left as it was (a retried staging does not rename twice).
 */
export async function stageArtifacts(
  target: StagingTarget,
  artifacts: StageArtifact[],
  opts: StageOptions,
): Promise<{ staged: string[]; checksum: string }> {
  const when = opts.when ?? new Date();
  const where = describeStaging(target);
  const work = await mkdtemp(join(tmpdir(), 'darkforge-stage-'));
  try {
    const images: string[] = [];
    const logs: string[] = [];
    for (const a of artifacts) {
      const st = await stat(a.path).catch(() => undefined);
      if (!st?.isFile()) throw new UserError(`Cannot stage ${a.path} to ${where}: it is not a file`, 1);
      const name = a.kind === 'image' ? stagedName(a.path, opts.arch, when) : basename(a.path);
      const link = join(work, name);
      await symlink(resolve(a.path), link).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EEXIST') throw new UserError(`Cannot stage ${a.path} to ${where}: another artifact is also named ${name}`, 1);
        throw e;
      });
      (a.kind === 'image' ? images : logs).push(link);
    }
    const first = images[0] ? splitName(basename(images[0]))[0] : `darkforge-${opts.arch}-${stagingTimestamp(when)}`;
    opts.log?.(`Computing SHA256 of ${images.length} image(s)`);
    const checksum = await writeChecksumFile(work, images, `${first}-CHECKSUM`);
    const files = [...images, checksum, ...logs];
    let staged: string[];
    try {
      staged = await transfer(target, files, opts);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`Could not stage to ${where}: ${reason(e)}${(e as { retried?: string }).retried ?? ''}`, 1);
    }
    opts.log?.(`Image(s) and logs available at ${where}`);
    return { staged, checksum: staged[images.length]! };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // ssh puts the cause first ("Connection refused") and scp's summary last; keep both.
  const lines = msg.split('\n').map((l) => l.trim().replace(/\.$/, '')).filter(Boolean);
  return lines.join('; ') || 'unknown error';
}

async function transfer(t: StagingTarget, files: string[], opts: StageOptions): Promise<string[]> {
  if (t.kind === 'file') return copyLocal(t.dir, files, opts.log);
  if (t.kind === 'scp') return scpUpload(t, files, opts.exec ?? runQuiet, opts.log);
  return ftpUpload(t, files, opts);
}

async function copyLocal(dir: string, files: string[], log?: (line: string) => void): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (const f of files) {
    const dest = join(dir, basename(f));
    log?.(`Copying ${basename(f)} to ${dir}`);
    // Through a .part name: readers never see half a file, and a log staged into its own
    // folder is not truncated while it is read.
    await pipeline(createReadStream(f), createWriteStream(`${dest}.part`));
    await rename(`${dest}.part`, dest);
    out.push(dest);
  }
  return out;
}

/** scp argv for a set of local files; exported so the argument list can be checked. */
export function scpArgs(t: Extract<StagingTarget, { kind: 'scp' }>, files: string[]): string[] {
  const dest = `${t.user ? `${t.user}@` : ''}${bracket(t.host)}:${t.path}`;
  // -B: never prompt (no terminal in a job); "--" ends options before the local names. No -q:
  // it would silence ssh's own reason ("Connection refused"), and with stdout not a terminal
  // scp shows no progress meter anyway.
  return ['-B', ...(t.port ? ['-P', String(t.port)] : []), '--', ...files, dest];
}

async function scpUpload(t: Extract<StagingTarget, { kind: 'scp' }>, files: string[], exec: ExecFn, log?: (line: string) => void) {
  log?.(`Copying ${files.length} file(s) with scp`);
  await exec('scp', scpArgs(t, files));
  return files.map((f) => scpLocation(t, basename(f)));
}

async function runQuiet(file: string, args: string[]): Promise<void> {
  const r = await execa(file, args, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', reject: false });
  if (r.code === 'ENOENT') throw new Error(`${file} is not installed (Debian: openssh-client)`);
  if (r.failed) throw new Error(String(r.stderr ?? '').trim() || r.shortMessage);
}

/** Each file in one STOR; a connection lost or refused, or a 4xx reply, is retried (the file sent again whole). */
async function ftpUpload(t: Extract<StagingTarget, { kind: 'ftp' }>, files: string[], opts: StageOptions) {
  const base = ftpBase(t).replace(/\/?$/, '/');
  const retry: RetryOptions = { outages: new OutageLog(opts.log), ...opts.retry };
  const source = `FTP server ftp://${bracket(t.host)}${t.port === 21 ? '' : `:${t.port}`}`;
  let client: Client | undefined;
  const connected = async (): Promise<Client> => {
    if (client) return client;
    const c = new Client(30_000);
    client = c;
    await c.access({ host: t.host, port: t.port, user: t.user, password: t.password, secure: false });
    await c.ensureDir(t.path);
    return c;
  };
  try {
    const out: string[] = [];
    for (const f of files) {
      opts.log?.(`Uploading ${basename(f)} to ${base}`);
      await withRetries(source, retry, async () => {
        try {
          await (await connected()).uploadFrom(f, basename(f));
        } catch (e) {
          client?.close();
          client = undefined;
          throw e;
        }
      }, { transient: isTransientFtp, reason: (e) => ftpFailure(e) });
      out.push(base + encodeURIComponent(basename(f)));
    }
    return out;
  } finally {
    client?.close();
  }
}
