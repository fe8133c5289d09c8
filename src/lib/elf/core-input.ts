// A core dump as users hand it over: a plain file; a file as systemd-coredump stores them
// (/var/lib/systemd/coredump/core.NAME.UID.BOOTID.PID.TIME.zst, also .xz, .lz4) or compressed
// some other way (gzip, bzip2); or "-", standard input (`coredumpctl dump PID | darkserver query
// --core -`), also a pipe given as a path (`--core <(coredumpctl dump PID)`). Reading a core needs
// random access, so anything but a plain regular file is copied into a private temporary file
// first (decompressed as a stream, memory bounded, runs of zero pages left as holes), in the
// folder coredumpctl uses ($TMPDIR, else /var/tmp: a core may be larger than a tmpfs /tmp).
// The copy is removed by cleanup(), and also when the process exits or is killed by SIGINT,
// SIGTERM or SIGHUP before that. Compression is recognised by its magic, not by the file name.
import { accessSync, closeSync, constants, createReadStream, fstatSync, openSync, readlinkSync, readSync, rmSync, statSync, type Stats } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePayload, sniffCompressor } from '../compress/decompress.js';
import { decodeLz4, isLz4 } from '../compress/lz4.js';
import { FormatError, UserError, ioMessage } from '../errors.js';
import { isElf } from './header.js';

export type CoreCompression = 'zstd' | 'xz' | 'lz4' | 'gzip' | 'bzip2';

export interface CoreInput {
  /** A regular file holding the core: the argument itself, or the private decompressed or spooled copy. */
  path: string;
  /** How messages name the core: the argument, or "standard input". */
  name: string;
  /** The compression its magic showed, if any. */
  compression?: CoreCompression;
  /** Whether `path` is a temporary copy. */
  temporary: boolean;
  /** Remove the temporary copy; safe to call more than once, and for a plain file it does nothing. */
  cleanup(): Promise<void>;
}

export interface CoreInputOptions {
  /** Where the temporary copy goes (default: $TMPDIR, $TEMP, $TMP, else /var/tmp, else the OS temp folder). */
  tmpDir?: string;
  /** File descriptor read for "-" (default 0: standard input). */
  stdinFd?: number;
}

const STDIN_NAME = 'standard input';
const PAGE = 4096;
const ZERO_PAGE = Buffer.alloc(PAGE);
const EXTENSIONS: Record<string, CoreCompression> = { '.zst': 'zstd', '.xz': 'xz', '.lz4': 'lz4', '.gz': 'gzip', '.bz2': 'bzip2' };

/** The compression these first bytes show, or undefined for anything else (an ELF core, or not a core). */
export function sniffCoreCompression(head: Buffer): CoreCompression | undefined {
  if (isLz4(head)) return 'lz4';
  const kind = sniffCompressor(head);
  return kind === 'zstd' || kind === 'xz' || kind === 'gzip' || kind === 'bzip2' ? kind : undefined;
}

/**
 * Open the core named by `arg` ("-" for standard input) for random access. Errors are one
 * sentence naming the input (UserError, exit 2; exit 1 when the temporary folder is full).
 */
export async function openCoreInput(arg: string, opts: CoreInputOptions = {}): Promise<CoreInput> {
  if (arg === '-') return fromStream(STDIN_NAME, opts.stdinFd ?? 0, opts, true);
  let st;
  try {
    st = statSync(arg);
  } catch (e) {
    throw new UserError(`${arg}: ${ioMessage(e)}`, 2);
  }
  if (st.isFIFO() || st.isCharacterDevice() || st.isSocket()) {
    let fd: number;
    try {
      fd = openSync(arg, 'r');
    } catch (e) {
      throw new UserError(`${arg}: ${ioMessage(e)}`, 2);
    }
    try {
      return await fromStream(arg, fd, opts, false);
    } finally {
      closeSync(fd);
    }
  }
  if (!st.isFile()) throw new UserError(`${arg}: not a regular file`, 2);
  const head = readHead(arg);
  const kind = sniffCoreCompression(head);
  if (!kind) {
    const claimed = Object.entries(EXTENSIONS).find(([ext]) => arg.endsWith(ext));
    if (claimed && head.length && !isElf(head)) {
      throw new UserError(`${arg}: neither ${claimed[1]}-compressed (as its name says) nor an ELF core dump`, 2);
    }
    return { path: arg, name: arg, temporary: false, cleanup: async () => undefined };
  }
  return decompressInto(arg, kind, createReadStream(arg, { highWaterMark: 256 * 1024 }), opts);
}

function readHead(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new UserError(`${path}: ${ioMessage(e)}`, 2);
  }
  try {
    const b = Buffer.alloc(16);
    return b.subarray(0, readSync(fd, b, 0, 16, 0));
  } catch (e) {
    throw new UserError(`${path}: ${ioMessage(e)}`, 2);
  } finally {
    closeSync(fd);
  }
}

/** A core on a file descriptor read as a stream (standard input, a pipe, a character device). */
async function fromStream(name: string, fd: number, opts: CoreInputOptions, isStdin: boolean): Promise<CoreInput> {
  let st;
  try {
    st = fstatSync(fd);
  } catch (e) {
    throw new UserError(`${name}: ${ioMessage(e)}`, 2);
  }
  if (isStdin && st.isCharacterDevice() && process.stdin.isTTY && fd === 0) {
    throw new UserError(`${name} is a terminal: pipe a core dump into it (coredumpctl dump PID | darkserver query --core -)`, 2);
  }
  if (isStdin && st.isFile()) {
    // `< core`: a regular file already, read from its start. A plain core is used where it is
    // (by its path, which a debugger started on it can open too), else copied.
    const b = Buffer.alloc(16);
    const head = b.subarray(0, readSync(fd, b, 0, 16, 0));
    const kind = sniffCoreCompression(head);
    const whole = (): AsyncIterable<Buffer> => createReadStream('', { fd, start: 0, autoClose: false, highWaterMark: 256 * 1024 });
    if (kind) return decompressInto(name, kind, whole(), opts);
    if (!isElf(head)) throw new UserError(`${name}: not an ELF core dump, nor zstd-, xz- or lz4-compressed`, 2);
    const path = pathOfFd(fd, st);
    return path ? { path, name, temporary: false, cleanup: async () => undefined } : spoolInto(name, undefined, whole(), opts);
  }
  const stream = createReadStream('', { fd, autoClose: false, highWaterMark: 256 * 1024 });
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Look at the first bytes to tell compressed from plain, then hand everything on.
  const parts: Buffer[] = [];
  let have = 0;
  let ended = false;
  try {
    while (have < 16) {
      const r = await it.next();
      if (r.done) { ended = true; break; }
      parts.push(r.value);
      have += r.value.length;
    }
  } catch (e) {
    stream.destroy();
    throw new UserError(`${name}: ${ioMessage(e)}`, 2);
  }
  if (have === 0) throw new UserError(`${name}: empty, not a core dump`, 2);
  const head = Buffer.concat(parts);
  const rest = (async function* () {
    yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  const kind = sniffCoreCompression(head);
  const abandon = (): void => { stream.destroy(); };
  if (kind) return decompressInto(name, kind, rest, opts, abandon);
  if (!isElf(head)) {
    abandon();
    throw new UserError(`${name}: not an ELF core dump, nor zstd-, xz- or lz4-compressed`, 2);
  }
  return spoolInto(name, undefined, rest, opts, abandon);
}

/** The path of the file open on fd, when that path still names the same file. */
function pathOfFd(fd: number, st: Stats): string | undefined {
  try {
    const path = readlinkSync(`/proc/self/fd/${fd}`);
    const now = statSync(path);
    return path.startsWith('/') && now.dev === st.dev && now.ino === st.ino ? path : undefined;
  } catch {
    return undefined;
  }
}

function decompressInto(name: string, kind: CoreCompression, raw: AsyncIterable<Buffer>, opts: CoreInputOptions, abandon?: () => void): Promise<CoreInput> {
  const data = kind === 'lz4' ? decodeLz4(raw) : decodePayload(raw, kind);
  return spoolInto(name, kind, data, opts, abandon);
}

// ---------------------------------------------------------------------------------------------
// The temporary copy

/** Where coredumpctl puts its decompressed cores: $TMPDIR, $TEMP, $TMP, else /var/tmp. */
export function coreTempDir(): string {
  for (const v of ['TMPDIR', 'TEMP', 'TMP']) {
    const d = process.env[v];
    if (d && d.startsWith('/')) return d;
  }
  try {
    accessSync('/var/tmp', constants.W_OK | constants.X_OK);
    return '/var/tmp';
  } catch {
    return tmpdir();
  }
}

const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function removeAllSync(): void {
  for (const d of live) rmSync(d, { recursive: true, force: true });
  live.clear();
}

/**
 * On a signal nobody else handles: remove the copies, then let the signal do what it would have
 * done. A command that listens for the signal itself (to stop in order, or to let a debugger
 * running on the copy have Ctrl-C) keeps the copy: its cleanup() or its exit removes it.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  removeAllSync();
  untrackAll();
  process.kill(process.pid, signal);
}

function track(dir: string): void {
  if (!live.size) {
    process.on('exit', removeAllSync);
    for (const s of SIGNALS) process.on(s, onSignal);
  }
  live.add(dir);
}

function untrackAll(): void {
  process.off('exit', removeAllSync);
  for (const s of SIGNALS) process.off(s, onSignal);
}

function untrack(dir: string): void {
  live.delete(dir);
  if (!live.size) untrackAll();
}

async function spoolInto(name: string, kind: CoreCompression | undefined, data: AsyncIterable<Buffer>, opts: CoreInputOptions,
  abandon?: () => void): Promise<CoreInput> {
  const base = opts.tmpDir ?? coreTempDir();
  let dir: string;
  try {
    dir = await mkdtemp(join(base, 'darkforge-core-'));
  } catch (e) {
    abandon?.();
    throw new UserError(`${name}: cannot make a temporary folder in ${base} (${ioMessage(e)}); set TMPDIR to a writable folder`, 2);
  }
  track(dir);
  const path = join(dir, 'core');
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await rm(dir, { recursive: true, force: true });
    untrack(dir);
  };
  try {
    const fh = await open(path, 'wx', 0o600);
    // Decompressed data that is not ELF is refused at its first bytes, not after gigabytes.
    let head = Buffer.alloc(0);
    const notCore = (): UserError => new UserError(`${name}: ${kind ? `its ${kind}-decompressed data is` : 'it is'} not an ELF core dump`, 2);
    const check = (b: Buffer): void => {
      if (head.length >= 4) return;
      head = Buffer.concat([head, b.subarray(0, 4)]);
      if (head.length >= 4 && !isElf(head)) throw notCore();
    };
    try {
      const size = await writeSparse(fh, data, name, base, check);
      if (size === 0) throw new UserError(`${name}: decompresses (${kind}) to nothing`, 2);
      if (head.length < 4) throw notCore();
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
    return { path, name, compression: kind, temporary: true, cleanup };
  } catch (e) {
    abandon?.();
    await cleanup();
    if (e instanceof UserError) throw e;
    if (e instanceof FormatError) {
      // decodePayload speaks of an RPM payload; the lz4 decoder gives the reason alone.
      const why = kind === 'lz4' ? `compressed core does not decompress as lz4 (${e.message})` : e.message.replace(/^payload /, 'compressed core ');
      throw new UserError(`${name}: ${why}`, 2);
    }
    throw new UserError(`${name}: ${ioMessage(e)}`, 2);
  }
}

/**
 * Write the stream to the file, leaving page-aligned runs of zeros as holes (cores are mostly
 * zeros: the copy takes the disk space the data needs). Returns the size written.
 */
async function writeSparse(fh: FileHandle, data: AsyncIterable<Buffer>, name: string, where: string, peek: (b: Buffer) => void): Promise<number> {
  let pos = 0;
  for await (const chunk of data) {
    if (!chunk.length) continue;
    peek(chunk);
    let o = 0;
    while (o < chunk.length) {
      // Pages of the output file: a partial first page, then whole ones.
      const pageEnd = Math.min(chunk.length, o + (PAGE - ((pos + o) % PAGE)));
      const zero = pageEnd - o === PAGE ? chunk.subarray(o, pageEnd).equals(ZERO_PAGE) : isZero(chunk, o, pageEnd);
      if (zero) { o = pageEnd; continue; }
      let end = pageEnd;
      while (end < chunk.length) {
        const next = Math.min(chunk.length, end + PAGE);
        if (next - end === PAGE ? chunk.subarray(end, next).equals(ZERO_PAGE) : isZero(chunk, end, next)) break;
        end = next;
      }
      try {
        await fh.write(chunk, o, end - o, pos + o);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
          throw new UserError(`${name}: no space left in ${where} for the decompressed core (${pos + o} bytes written); set TMPDIR to a folder with room`, 1);
        }
        throw e;
      }
      o = end;
    }
    pos += chunk.length;
  }
  return pos;
}

function isZero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}
