// Decompress an RPM payload as a pull stream, so memory stays bounded whatever the ratio:
// zstd is driven through ZSTD_decompressStream into a fixed output buffer; the other decoders
// (zlib, liblzma via lzma-native, unbzip2-stream) get small input slices and Node's stream
// backpressure. The compressor is recognised from the payload's magic, as rpm's own gzdio
// does for plain data, and the header's PAYLOADCOMPRESSOR is only the fallback.
import { createRequire } from 'node:module';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FormatError } from '../errors.js';

const require = createRequire(import.meta.url);

export const COMPRESSORS = ['gzip', 'bzip2', 'xz', 'lzma', 'zstd', 'uncompressed'] as const;

/** Input slice fed to stream decoders: output per slice is bounded by slice x max ratio. */
const SLICE = 16 * 1024;
const OUT_BUF = 128 * 1024;

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

export async function* decodePayload(raw: AsyncIterable<Buffer>, claimed: string): AsyncGenerator<Buffer> {
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
    if (head.length) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  if (kind === 'uncompressed') { yield* input; return; }
  try {
    if (kind === 'zstd') yield* zstd(input);
    else yield* throughTransform(input, openTransform(kind));
  } catch (e) {
    // Read errors of the source pass through; anything a decoder says means bad data.
    if (e instanceof FormatError || (e as NodeJS.ErrnoException).syscall) throw e;
    throw new FormatError(`payload does not decompress as ${kind} (${String((e as Error)?.message ?? e).replace(/\.$/, '')})`);
  }
}

function openTransform(kind: string): Transform {
  switch (kind) {
    case 'gzip':
      return createGunzip({ chunkSize: 64 * 1024 });
    case 'bzip2': {
      const unbzip2 = require('unbzip2-stream') as () => Transform;
      return unbzip2();
    }
    default: {
      // autoDecoder reads .xz (single- and multi-block) and legacy .lzma ("alone") streams.
      const lzma = require('lzma-native') as { createStream(kind: string, opts?: object): Transform };
      return lzma.createStream('autoDecoder', { threads: 1 });
    }
  }
}

async function* slices(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    for (let o = 0; o < chunk.length; o += SLICE) yield chunk.subarray(o, o + SLICE);
  }
}

async function* throughTransform(input: AsyncIterable<Buffer>, t: Transform): AsyncGenerator<Buffer> {
  // unbzip2-stream is an old-style through stream: give it a modern readable side.
  const out = typeof (t as Partial<Readable>)[Symbol.asyncIterator] === 'function' ? t : t.pipe(new PassThrough());
  if (out !== t) t.on('error', (e) => out.destroy(e));
  const src = Readable.from(slices(input), { objectMode: false, highWaterMark: SLICE });
  pipeline(src, t, () => undefined);
  try {
    for await (const chunk of out) yield chunk as Buffer;
  } finally {
    src.destroy();
    t.destroy();
  }
}

interface DCtxLike {
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
}

async function* zstd(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let dctx: DCtxLike;
  try {
    const binding = require('zstd-napi/binding') as { DCtx: new () => DCtxLike };
    dctx = new binding.DCtx();
  } catch {
    yield* fzstd(input);
    return;
  }
  const out = Buffer.allocUnsafe(OUT_BUF);
  let pending = 0; // >0: the decoder still holds output or expects more input for this frame
  for await (const chunk of input) {
    let src = chunk;
    while (src.length > 0) {
      const [left, produced, consumed] = dctx.decompressStream(out, src);
      pending = left;
      src = src.subarray(consumed);
      if (produced > 0) yield Buffer.from(out.subarray(0, produced));
      if (produced === 0 && consumed === 0) break;
    }
    // Flush what the decoder buffered while the output buffer was full.
    while (pending > 0) {
      const [left, produced] = dctx.decompressStream(out, Buffer.alloc(0));
      pending = left;
      if (produced === 0) break;
      yield Buffer.from(out.subarray(0, produced));
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
