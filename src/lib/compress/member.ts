// Synchronous, incremental decoders for one compressed file inside a payload (a kernel module,
// `.ko.xz`, `.ko.zst`, `.ko.gz`), for consumers that are themselves pushed bytes synchronously
// (the cpio parser inside the payload decoder). Each push decodes what it is given and hands the
// output on at once, in pieces; input is cut so that one piece of it cannot expand into more than
// about MAX_BURST of output, so memory stays at the decoder's own state: gzip's 32 KiB window,
// xz's dictionary (refused above MEMLIMIT), zstd's window (libzstd refuses above 128 MiB).
import { createRequire } from 'node:module';
import { Gunzip } from 'minizlib';
import { FormatError } from '../errors.js';
import { sniffCompressor } from './decompress.js';

const require = createRequire(import.meta.url);

export type MemberCompressor = 'gzip' | 'xz' | 'zstd';

/** Output handler: return false to stop (nothing more is decoded, the rest is ignored). */
export type Sink = (piece: Buffer) => boolean;

export interface MemberDecoder {
  /** Decode the next input bytes. False once the sink asked to stop or the data ended. */
  push(input: Buffer, sink: Sink): boolean;
  /** No more input: flush; a FormatError when the compressed data is cut short or damaged. */
  end(sink: Sink): void;
  /** Release native state (also after an error). */
  close(): void;
}

/** The compressor of a member from its first bytes (at least 6), if it is one we open. */
export function memberCompressor(head: Buffer): MemberCompressor | undefined {
  const k = sniffCompressor(head);
  return k === 'gzip' || k === 'xz' || k === 'zstd' ? k : undefined;
}

const MAX_BURST = 4 << 20;
const SLICE = 64 * 1024;
const MIN_SLICE = 256;
/** xz -9 needs 65 MiB; kernel modules are made with a 1 MiB dictionary. */
const MEMLIMIT = 128 << 20;
const ZSTD_OUT = 128 * 1024;

export function openMemberDecoder(kind: MemberCompressor): MemberDecoder {
  switch (kind) {
    case 'gzip': return new Sliced(new GzipCore());
    case 'xz': return new Sliced(new XzCore());
    case 'zstd': return zstdDecoder();
  }
}

/** A decoder that emits everything one input piece yields before it returns. */
interface Core {
  code(input: Buffer | null, out: (b: Buffer) => void): void;
  close(): void;
}

/** Feeds a Core input slices sized from the ratio seen so far (see MAX_BURST). */
class Sliced implements MemberDecoder {
  private in = 0;
  private out = 0;
  private stopped = false;

  constructor(private readonly core: Core) {}

  push(input: Buffer, sink: Sink): boolean {
    for (let o = 0; o < input.length && !this.stopped;) {
      const ratio = this.in > 0 ? Math.max(1, this.out / this.in) : 8192;
      const n = Math.max(MIN_SLICE, Math.min(SLICE, Math.floor(MAX_BURST / ratio)));
      const piece = input.subarray(o, o + n);
      o += piece.length;
      this.in += piece.length;
      this.core.code(piece, (b) => this.emit(b, sink));
    }
    return !this.stopped;
  }

  end(sink: Sink): void {
    if (!this.stopped) this.core.code(null, (b) => this.emit(b, sink));
  }

  close(): void {
    this.core.close();
  }

  private emit(b: Buffer, sink: Sink): void {
    this.out += b.length;
    if (!this.stopped && b.length > 0 && !sink(b)) this.stopped = true;
  }
}

/** gzip through node:zlib, driven synchronously by minizlib (as node-tar does). */
class GzipCore implements Core {
  private z = new Gunzip({});
  private failed?: Error;
  private out?: (b: Buffer) => void;

  constructor() {
    this.z.on('data', (b: Buffer) => this.out?.(b));
    this.z.on('error', (e: unknown) => { this.failed = e instanceof Error ? e : new Error(String(e)); });
  }

  code(input: Buffer | null, out: (b: Buffer) => void): void {
    this.out = out;
    try {
      if (input) this.z.write(input);
      else this.z.end();
    } finally {
      this.out = undefined;
    }
    if (this.failed) throw new FormatError(`gzip data is damaged (${this.failed.message.replace(/^zlib: /, '')})`);
  }

  close(): void {
    this.z.close();
  }
}

interface LzmaStream {
  autoDecoder(o: { memlimit?: number; flags?: number }): void;
  setBufsize(n: number): number;
  code(b: Buffer | null, async: boolean): void;
  resetUnderlying(): void;
  bufferHandler: (buf: Buffer | null | undefined, processed: number | undefined, err: Error | null | undefined) => void;
}

/** xz through liblzma (lzma-native) in its synchronous mode: code() returns with all its output. */
class XzCore implements Core {
  private readonly s: LzmaStream;
  private ended = false;
  private failed?: Error;
  private out?: (b: Buffer) => void;

  constructor() {
    const lz = require('lzma-native') as { Stream: new () => LzmaStream };
    this.s = new lz.Stream();
    this.s.autoDecoder({ memlimit: MEMLIMIT });
    this.s.setBufsize(64 * 1024);
    this.s.bufferHandler = (buf, _processed, err) => {
      if (err) this.failed = err;
      else if (buf === null) this.ended = true;
      else if (buf) this.out?.(buf);
    };
  }

  code(input: Buffer | null, out: (b: Buffer) => void): void {
    if (this.ended) {
      if (input === null) return;
      // Stream padding (zero bytes in fours) may follow; anything else is not one xz stream.
      if (input.every((b) => b === 0)) return;
      throw new FormatError('xz data has bytes after its end');
    }
    this.out = out;
    try {
      this.s.code(input ?? null, false);
    } finally {
      this.out = undefined;
    }
    if (this.failed) throw new FormatError(`xz data is damaged (${this.failed.message.replace(/\.$/, '')})`);
    if (input === null && !this.ended) throw new FormatError('xz data is cut short');
  }

  close(): void {
    this.s.resetUnderlying();
  }
}

interface DCtxLike {
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
}

/** zstd through ZSTD_decompressStream into one reused output buffer (fzstd when the addon is missing). */
function zstdDecoder(): MemberDecoder {
  let dctx: DCtxLike;
  try {
    dctx = new (require('zstd-napi/binding') as { DCtx: new () => DCtxLike }).DCtx();
  } catch {
    return new Sliced(new FzstdCore());
  }
  const out = Buffer.allocUnsafe(ZSTD_OUT);
  const empty = Buffer.alloc(0);
  let pending = 0; // >0: inside a frame (more input expected, or output still held)
  let stopped = false;
  const run = (src: Buffer, sink: Sink): void => {
    const wrap = (e: unknown): FormatError => new FormatError(`zstd data is damaged (${String((e as Error)?.message ?? e)})`);
    for (;;) {
      let r: [number, number, number];
      try {
        r = dctx.decompressStream(out, src);
      } catch (e) {
        throw wrap(e);
      }
      const [left, produced, consumed] = r;
      // No progress: nothing to learn (after a frame's end, libzstd asks for the next header).
      if (produced === 0 && consumed === 0) return;
      pending = left;
      src = src.subarray(consumed);
      if (produced > 0 && !sink(out.subarray(0, produced))) { stopped = true; return; }
      // Call again while input is left, or while output may still be held (a full buffer).
      if (src.length === 0 && (left === 0 || produced < out.length)) return;
    }
  };
  return {
    push(input, sink) {
      if (!stopped && input.length) run(input, sink);
      return !stopped;
    },
    end(sink) {
      if (stopped) return;
      if (pending > 0) run(empty, sink);
      if (!stopped && pending > 0) throw new FormatError('zstd data is cut short');
    },
    close() { /* the context is freed by the garbage collector */ },
  };
}

class FzstdCore implements Core {
  private readonly d: { push(c: Uint8Array, final?: boolean): void };
  private out?: (b: Buffer) => void;

  constructor() {
    const lib = require('fzstd') as { Decompress: new (cb: (c: Uint8Array) => void) => { push(c: Uint8Array, final?: boolean): void } };
    this.d = new lib.Decompress((c) => this.out?.(Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
  }

  code(input: Buffer | null, out: (b: Buffer) => void): void {
    this.out = out;
    try {
      if (input) for (let o = 0; o < input.length; o += 1024) this.d.push(input.subarray(o, o + 1024));
      else this.d.push(new Uint8Array(0), true);
    } catch (e) {
      throw new FormatError(`zstd data is damaged (${String((e as Error)?.message ?? e)})`);
    } finally {
      this.out = undefined;
    }
  }

  close(): void { /* nothing native */ }
}
