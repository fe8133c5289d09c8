// Decompress an RPM payload as a stream, so memory stays bounded whatever the ratio:
// zstd is driven through ZSTD_decompressStream into a fixed output buffer; xz, lzma and bzip2
// go through a system decoder (`zstd -dc`, `xz -dc`, `bzip2 -dc`) when one is installed (3-10x
// faster than the npm decoders here, and a pipe gives natural backpressure), else through
// liblzma via lzma-native or unbzip2-stream with small input slices; gzip through node:zlib. The compressor is recognised
// from the payload's magic, as rpm's own gzdio does for plain data, and the header's
// PAYLOADCOMPRESSOR is only the fallback.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { DownloadError, FormatError } from '../errors.js';

const require = createRequire(import.meta.url);

export const COMPRESSORS = ['gzip', 'bzip2', 'xz', 'lzma', 'zstd', 'uncompressed'] as const;

/** Input slices fed to the npm stream decoders (see slices()). */
const SLICE = 64 * 1024;
const MIN_SLICE = 256;
const MAX_BURST = 8 << 20;
const MAX_RATIO_GUESS = 8192;
/** zstd output buffer (reused when the consumer allows it). */
const OUT_BUF = 256 * 1024;
/** A synchronous decode loop gives the event loop a turn after this much output. */
const YIELD_EVERY = 64 << 20;

export function sniffCompressor(b: Buffer): string | undefined {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 3 && b.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (b.length >= 6 && /^07070[12X]$/.test(b.toString('latin1', 0, 6))) return 'uncompressed';
  // Legacy .lzma ("alone") has no magic: properties byte 0x5d is what every lzma -0..-9 writes.
  if (b.length >= 13 && b[0] === 0x5d && b[1] === 0 && b[2] === 0) return 'lzma';
  return undefined;
}

/**
 * The decompressed payload as an async stream of buffers the consumer may keep. A consumer that
 * stops early must close the generator (return(); `for await` + break does) so that a decoder
 * process is ended.
 */
export async function* decodePayload(raw: AsyncIterable<Buffer>, claimed: string): AsyncGenerator<Buffer> {
  const { kind, input } = await sniffInput(raw, claimed);
  if (kind === 'uncompressed') { yield* input; return; }
  try {
    if (kind === 'zstd') yield* zstd(input, false);
    else yield* decoded(kind, input);
  } catch (e) {
    throw decodeError(kind, e);
  }
}

/**
 * Decompress the payload and hand each piece of output to `sink` synchronously, as it comes.
 * The buffer given to sink is only valid until sink returns (it may be reused), so nothing is
 * copied that the consumer does not keep. Resolves with the compressor found once the whole
 * input has been read and decoded; an error thrown by sink ends the decoding and comes out as is.
 */
export async function decodePayloadInto(raw: AsyncIterable<Buffer>, claimed: string, sink: (chunk: Buffer) => void,
  opts: { expectedSize?: number } = {}): Promise<string> {
  const { kind, input } = await sniffInput(raw, claimed);
  let sinkError: { e: unknown } | undefined;
  const guarded = (b: Buffer): void => {
    try {
      sink(b);
    } catch (e) {
      sinkError = { e };
      throw e;
    }
  };
  try {
    if (kind === 'uncompressed') for await (const c of input) guarded(c);
    else if (kind === 'zstd') for await (const c of zstd(input, true)) guarded(c);
    else for await (const c of decoded(kind, input, opts.expectedSize)) guarded(c);
  } catch (e) {
    if (sinkError && e === sinkError.e) throw e;
    throw decodeError(kind, e);
  }
  return kind;
}

async function sniffInput(raw: AsyncIterable<Buffer>, claimed: string): Promise<{ kind: string; input: AsyncGenerator<Buffer> }> {
  const it = raw[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  let ended = false;
  while (head.length < 13) {
    const r = await it.next();
    if (r.done) { ended = true; break; }
    head = head.length ? Buffer.concat([head, r.value]) : r.value;
  }
  const kind = sniffCompressor(head) ?? (claimed || 'gzip');
  if (!(COMPRESSORS as readonly string[]).includes(kind)) {
    throw new FormatError(`unsupported payload compressor "${kind}" (supported: ${COMPRESSORS.join(', ')})`);
  }
  const input = (async function* () {
    try {
      if (head.length) yield head;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      if (!ended) await it.return?.();
    }
  })();
  return { kind, input };
}

/** Read errors of the source (a file, a download) pass through; anything a decoder says means bad data. */
function decodeError(kind: string, e: unknown): unknown {
  if (e instanceof FormatError || e instanceof DownloadError || (e as NodeJS.ErrnoException)?.syscall) return e;
  return new FormatError(`payload does not decompress as ${kind} (${String((e as Error)?.message ?? e).replace(/\.$/, '')})`);
}

/**
 * Below this decompressed size (as the header announces it), xz and lzma are decoded in process:
 * starting a decoder process costs about 5 ms, more than liblzma takes for such a payload here.
 */
const SPAWN_MIN = 128 * 1024;

function decoded(kind: string, input: AsyncGenerator<Buffer>, expectedSize?: number): AsyncGenerator<Buffer> {
  const small = expectedSize !== undefined && expectedSize < SPAWN_MIN && (kind === 'xz' || kind === 'lzma');
  const tool = small ? undefined : externalDecoder(kind);
  if (tool) return spawned(tool, kind, input);
  if (kind === 'xz' || kind === 'lzma') return liblzma(input);
  return throughTransform(input, openTransform(kind));
}

interface LzmaNative {
  Stream: new () => {
    autoDecoder(o: { flags?: number }): void;
    setBufsize(n: number): number;
    code(b: Buffer | null, async: boolean): void;
    resetUnderlying(): void;
    bufferHandler: (buf: Buffer | null | undefined, processed: number | undefined, err: Error | null | undefined) => void;
  };
  CONCATENATED: number;
}

/**
 * xz and legacy .lzma through liblzma (lzma-native), driven synchronously: one small input slice
 * per call, its output collected and handed on before the next. Its stream wrapper hops to the
 * thread pool and back per slice and buffers freely; this is faster and keeps memory flat.
 */
async function* liblzma(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const lz = require('lzma-native') as LzmaNative;
  const s = new lz.Stream();
  s.autoDecoder({ flags: lz.CONCATENATED }); // like xz -dc: concatenated streams and stream padding
  s.setBufsize(128 * 1024);
  let ready: Buffer[] = [];
  let failed: Error | undefined;
  s.bufferHandler = (buf, _processed, err) => {
    if (err) failed = err;
    else if (buf) ready.push(buf);
  };
  const flow: Flow = { in: 0, out: 0 };
  const take = function* (): Generator<Buffer> {
    if (failed) throw failed;
    for (const b of ready) flow.out += b.length;
    const out = ready;
    ready = [];
    yield* out;
  };
  try {
    for await (const slice of slices(input, flow)) {
      s.code(slice, false);
      yield* take();
    }
    s.code(null, false);
    yield* take();
  } finally {
    s.resetUnderlying();
  }
}

interface Tool {
  file: string;
  args: string[];
  /** Turns the tool's last stderr line into the reason given to the user. */
  why: (stderr: string) => string;
}

const LZMA_ERRORS: Record<string, string> = {
  5: 'not enough memory', 6: 'memory limit reached', 7: 'file format not recognized', 8: 'unsupported options',
  9: 'compressed data is corrupt', 10: 'unexpected end of input',
};

/**
 * The system decoder for `kind`, when one is installed: for xz and lzma the zstd command when
 * it was built with liblzma (same decoder as xz, but it writes 128 KiB at a time where xz writes
 * 8 KiB, which costs the reading side far less), else xz; for bzip2, bzip2.
 * DARKFORGE_EXTERNAL_DECODERS lists the tools allowed (default "zstd,xz,bzip2"; "0": none).
 */
export function externalDecoder(kind: string): Tool | undefined {
  const allowed = (process.env.DARKFORGE_EXTERNAL_DECODERS ?? 'zstd,xz,bzip2').split(',').map((t) => t.trim());
  const lastLine = (stderr: string): string => stderr.trim().split('\n').pop() ?? '';
  if (kind === 'xz' || kind === 'lzma') {
    const zstd = allowed.includes('zstd') ? findOnPath('zstd') : undefined;
    if (zstd && zstdSupports(zstd).includes(kind)) {
      return {
        file: zstd, args: ['-dcq'],
        why: (e) => lastLine(e).replace(/^zstd: .*?: /, '').replace(/^lzma_code decoding error (\d+)\s*$/, (m, n) => LZMA_ERRORS[n] ?? m)
          .replace(/^premature lzma end$/, 'unexpected end of input'),
      };
    }
    const xz = allowed.includes('xz') ? findOnPath('xz') : undefined;
    if (xz) return { file: xz, args: ['-dcq', '-T1', `--format=${kind}`], why: (e) => lastLine(e).replace(/^[^:]*: \(stdin\): /, '') };
    return undefined;
  }
  if (kind === 'bzip2') {
    const bzip2 = allowed.includes('bzip2') ? findOnPath('bzip2') : undefined;
    if (bzip2) return { file: bzip2, args: ['-dcq'], why: (e) => lastLine(e).replace(/^bzip2: /, '') };
  }
  return undefined;
}

const toolCache = new Map<string, string | null>();

function findOnPath(name: string): string | undefined {
  let hit = toolCache.get(name);
  if (hit === undefined) {
    hit = null;
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (!dir) continue;
      try {
        accessSync(join(dir, name), constants.X_OK);
        hit = join(dir, name);
        break;
      } catch { /* not here */ }
    }
    toolCache.set(name, hit);
  }
  return hit ?? undefined;
}

const zstdFormats = new Map<string, string[]>();

/** The formats a zstd binary decodes, from `zstd -vV` ("*** supports: zstd, ..., lzma, xz"). */
function zstdSupports(file: string): string[] {
  let formats = zstdFormats.get(file);
  if (!formats) {
    const r = spawnSync(file, ['-vV'], { encoding: 'utf8', timeout: 5000, env: { ...process.env, LC_ALL: 'C' } });
    const line = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => /supports:/.test(l)) ?? '';
    formats = line.replace(/.*supports:/, '').split(',').map((f) => f.trim().split(/\s+/)[0]).filter(Boolean);
    zstdFormats.set(file, formats);
  }
  return formats;
}

/**
 * Pipe the input through a decoder process (an argument array, no shell); its stdout comes back
 * as it is produced. node:child_process rather than execa: importing execa costs 80-250 ms in
 * every scan thread, more than decoding a typical payload.
 */
async function* spawned(tool: Tool, kind: string, input: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  const child = spawn(tool.file, tool.args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let spawnError: Error | undefined;
  child.on('error', (e) => { spawnError = e; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => res({ code, signal }));
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => { if (stderr.length < 64 * 1024) stderr += s; });
  const stdin = child.stdin;
  stdin.on('error', () => undefined); // EPIPE when the decoder stops early: its exit status says why
  let inputError: { e: unknown } | undefined;
  const pump = (async () => {
    try {
      for await (const chunk of input) {
        if (stdin.destroyed) break;
        if (!stdin.write(chunk)) {
          await new Promise<void>((res) => {
            const done = (): void => { stdin.off('drain', done); stdin.off('close', done); res(); };
            stdin.on('drain', done);
            stdin.on('close', done);
          });
        }
      }
    } catch (e) {
      inputError = { e };
      child.kill();
    } finally {
      stdin.end();
    }
  })();
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    await pump;
    if (inputError) throw inputError.e;
    const { code, signal } = await exited;
    if (spawnError) throw spawnError;
    if (code !== 0) {
      const why = tool.why(stderr).trim() || `${tool.file} exited with ${code ?? signal}`;
      throw new FormatError(`payload does not decompress as ${kind} (${why.replace(/\.$/, '')})`);
    }
    finished = true;
  } finally {
    if (!finished) {
      child.kill();
      await exited;
      await pump.catch(() => undefined);
      await input.return(undefined).catch(() => undefined);
    }
  }
}

function openTransform(kind: string): Transform {
  switch (kind) {
    case 'gzip':
      return createGunzip({ chunkSize: 128 * 1024 });
    case 'bzip2': {
      const unbzip2 = require('unbzip2-stream') as () => Transform;
      return unbzip2();
    }
    default:
      throw new Error(`no stream decoder for ${kind}`);
  }
}

interface Flow {
  in: number;
  out: number;
}

/**
 * Input for a stream decoder, cut so that one slice cannot expand into more than about MAX_BURST
 * of output: these decoders emit everything one input slice yields before they look at
 * backpressure, and xz turns 10 KB of zeros into 50 MB. Slices start small and grow while the
 * ratio seen so far allows.
 */
async function* slices(input: AsyncIterable<Buffer>, flow: Flow): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    for (let o = 0; o < chunk.length;) {
      const ratio = flow.in > 0 ? Math.max(1, flow.out / flow.in) : MAX_RATIO_GUESS;
      const n = Math.max(MIN_SLICE, Math.min(SLICE, Math.floor(MAX_BURST / ratio)));
      const piece = chunk.subarray(o, o + n);
      o += piece.length;
      flow.in += piece.length;
      yield piece;
    }
  }
}

async function* throughTransform(input: AsyncIterable<Buffer>, t: Transform): AsyncGenerator<Buffer> {
  // unbzip2-stream is an old-style through stream: give it a modern readable side.
  const out = typeof (t as Partial<Readable>)[Symbol.asyncIterator] === 'function' ? t : t.pipe(new PassThrough());
  if (out !== t) t.on('error', (e) => out.destroy(e));
  const flow: Flow = { in: 0, out: 0 };
  const src = Readable.from(slices(input, flow), { objectMode: false, highWaterMark: MIN_SLICE });
  pipeline(src, t, () => undefined);
  try {
    for await (const chunk of out) {
      flow.out += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  } finally {
    src.destroy();
    t.destroy();
  }
}

interface DCtxLike {
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
}

/**
 * zstd through zstd-napi's ZSTD_decompressStream into one output buffer. With `reuse`, every
 * piece yielded is a view of that buffer, valid until the consumer asks for the next one.
 */
async function* zstd(input: AsyncIterable<Buffer>, reuse: boolean): AsyncGenerator<Buffer> {
  let dctx: DCtxLike;
  try {
    const binding = require('zstd-napi/binding') as { DCtx: new () => DCtxLike };
    dctx = new binding.DCtx();
  } catch {
    yield* fzstd(input);
    return;
  }
  const out = Buffer.allocUnsafe(OUT_BUF);
  const empty = Buffer.alloc(0);
  let pending = 0; // >0: the decoder still holds output or expects more input for this frame
  let sinceYield = 0;
  const piece = (n: number): Buffer => (reuse ? out.subarray(0, n) : Buffer.from(out.subarray(0, n)));
  for await (const chunk of input) {
    let src = chunk;
    while (src.length > 0) {
      const [left, produced, consumed] = dctx.decompressStream(out, src);
      pending = left;
      src = src.subarray(consumed);
      if (produced > 0) yield piece(produced);
      if (produced === 0 && consumed === 0) break;
      sinceYield += produced;
      if (sinceYield >= YIELD_EVERY) { sinceYield = 0; await yieldToLoop(); }
    }
    // Flush what the decoder buffered while the output buffer was full.
    while (pending > 0) {
      const [left, produced] = dctx.decompressStream(out, empty);
      pending = left;
      if (produced === 0) break;
      yield piece(produced);
      sinceYield += produced;
      if (sinceYield >= YIELD_EVERY) { sinceYield = 0; await yieldToLoop(); }
    }
  }
  if (pending > 0) throw new FormatError('payload ends inside a zstd frame');
}

async function* fzstd(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const lib = require('fzstd') as {
    Decompress: new (cb: (chunk: Uint8Array, final: boolean) => void) => { push(c: Uint8Array, final?: boolean): void };
  };
  let ready: Buffer[] = [];
  const d = new lib.Decompress((c) => ready.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
  for await (const chunk of input) {
    // Small slices keep one push from expanding into gigabytes.
    for (let o = 0; o < chunk.length; o += 1024) {
      d.push(chunk.subarray(o, o + 1024));
      if (ready.length) { yield* ready; ready = []; }
    }
  }
  d.push(new Uint8Array(0), true);
  yield* ready;
}
