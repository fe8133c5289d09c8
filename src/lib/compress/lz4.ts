// A streaming decoder for the LZ4 frame format (lz4 CLI, liblz4's LZ4F, systemd-coredump's .lz4
// cores) and the legacy frame `lz4 -l` writes: concatenated and skippable frames, linked and
// independent blocks, uncompressed blocks, block and content checksums (xxHash32), content size.
// Memory stays bounded whatever the ratio: one block of input (at most 4 MiB) and one block of
// output plus the 64 KiB window linked blocks may refer back to.
// No npm package does this as a stream with bounded memory: lz4 (node-lz4) is an unmaintained
// native addon, lz4-napi and lz4js decode whole buffers.
import { FormatError } from '../errors.js';

const FRAME_MAGIC = 0x184d2204;
const LEGACY_MAGIC = 0x184c2102;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const WINDOW = 64 * 1024;
const LEGACY_BLOCK = 8 * 1024 * 1024;
const BLOCK_MAX: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

/** Whether the bytes start like LZ4 data (a frame, a legacy frame, or a skippable frame). */
export function isLz4(b: Buffer): boolean {
  if (b.length < 4) return false;
  const m = b.readUInt32LE(0);
  return m === FRAME_MAGIC || m === LEGACY_MAGIC || (m & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC;
}

// ---------------------------------------------------------------------------------------------
// xxHash32

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;
const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const round = (acc: number, lane: number): number => Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);
const u32le = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);

/** xxHash32 (seed 0), fed in pieces. */
export class XXH32 {
  private v1 = (P1 + P2) | 0;
  private v2 = P2 | 0;
  private v3 = 0;
  private v4 = -P1 | 0;
  private total = 0;
  private readonly mem = Buffer.alloc(16);
  private memLen = 0;

  update(b: Uint8Array): this {
    let o = 0;
    this.total += b.length;
    if (this.memLen) {
      const n = Math.min(16 - this.memLen, b.length);
      this.mem.set(b.subarray(0, n), this.memLen);
      this.memLen += n;
      o = n;
      if (this.memLen < 16) return this;
      this.stripes(this.mem, 0, 16);
      this.memLen = 0;
    }
    const end = o + ((b.length - o) & ~15);
    this.stripes(b, o, end);
    if (end < b.length) {
      this.mem.set(b.subarray(end), 0);
      this.memLen = b.length - end;
    }
    return this;
  }

  private stripes(b: Uint8Array, from: number, to: number): void {
    let { v1, v2, v3, v4 } = this;
    for (let o = from; o < to; o += 16) {
      v1 = round(v1, u32le(b, o));
      v2 = round(v2, u32le(b, o + 4));
      v3 = round(v3, u32le(b, o + 8));
      v4 = round(v4, u32le(b, o + 12));
    }
    this.v1 = v1; this.v2 = v2; this.v3 = v3; this.v4 = v4;
  }

  digest(): number {
    let h = this.total >= 16
      ? (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0
      : (this.v3 + P5) | 0;
    h = (h + (this.total >>> 0)) | 0; // the length mod 2^32
    let o = 0;
    for (; o + 4 <= this.memLen; o += 4) h = Math.imul(rotl((h + Math.imul(u32le(this.mem, o), P3)) | 0, 17), P4);
    for (; o < this.memLen; o++) h = Math.imul(rotl((h + Math.imul(this.mem[o], P5)) | 0, 11), P1);
    h ^= h >>> 15; h = Math.imul(h, P2);
    h ^= h >>> 13; h = Math.imul(h, P3);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

export const xxh32 = (b: Uint8Array): number => new XXH32().update(b).digest();

// ---------------------------------------------------------------------------------------------
// Input

/** Bytes pulled from an async source as the decoder asks for them; `pos` counts what was consumed. */
class Input {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private have = 0;
  private ended = false;
  pos = 0;

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Make `n` bytes available; false when the input ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.have < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) { this.ended = true; break; }
      if (r.value.length) { this.chunks.push(r.value); this.have += r.value.length; }
    }
    return this.have >= n;
  }

  /** Whether the input has ended with nothing left to consume. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) { this.chunks.shift(); this.head = 0; }
      this.have -= n; this.pos += n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length - this.head, n - got);
      c.copy(out, got, this.head, this.head + k);
      got += k;
      this.head += k;
      if (this.head === c.length) { this.chunks.shift(); this.head = 0; }
    }
    this.have -= n; this.pos += n;
    return out;
  }

  /** Put back bytes just taken. */
  unread(b: Buffer): void {
    if (this.head) { this.chunks[0] = this.chunks[0].subarray(this.head); this.head = 0; }
    this.chunks.unshift(b);
    this.have += b.length; this.pos -= b.length;
  }

  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      if (!(await this.fill(1))) return false;
      const k = Math.min(n, this.have);
      const c = this.chunks[0];
      const inFirst = Math.min(k, c.length - this.head);
      this.take(inFirst);
      n -= inFirst;
    }
    return true;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

const bad = (why: string): FormatError => new FormatError(why);

// ---------------------------------------------------------------------------------------------
// Blocks

/**
 * Decode one LZ4 block from src into out starting at `op`; matches may reach back to `floor`
 * (the start of the window). Returns the end of the output. Throws for anything out of bounds.
 */
export function decodeBlock(src: Buffer, out: Buffer, op: number, floor: number, limit: number): number {
  let ip = 0;
  const end = src.length;
  for (;;) {
    if (ip >= end) throw bad('a block ends before its last literals');
    const token = src[ip++];
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= end) throw bad('a literal length runs past the end of its block');
        b = src[ip++];
        lit += b;
      } while (b === 255);
    }
    if (ip + lit > end || op + lit > limit) throw bad('literals run past the end of their block');
    // Short copies byte by byte: a native copy call costs more than it saves below ~32 bytes.
    if (lit < 32) for (let k = 0; k < lit; k++) out[op + k] = src[ip + k];
    else src.copy(out, op, ip, ip + lit);
    ip += lit;
    op += lit;
    if (ip === end) return op; // the last sequence has literals only
    if (ip + 2 > end) throw bad('a match offset is cut off');
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    const from = op - offset;
    if (offset === 0 || from < floor) throw bad(`a match refers ${offset} bytes back, before the data decoded so far`);
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (ip >= end) throw bad('a match length runs past the end of its block');
        b = src[ip++];
        len += b;
      } while (b === 255);
    }
    if (op + len > limit) throw bad('a block decodes to more than its maximum size');
    if (len < 32) for (let k = 0; k < len; k++) out[op + k] = out[from + k]; // forward: overlap repeats as it must
    else if (offset >= len) out.copyWithin(op, from, from + len);
    else {
      // Overlapping: the output repeats with period `offset`; copy it in doubling runs.
      let done = 0;
      while (done < len) {
        const n = Math.min(len - done, offset + done);
        out.copyWithin(op + done, from, from + n);
        done += n;
      }
    }
    op += len;
  }
}

// ---------------------------------------------------------------------------------------------
// Frames

/**
 * The decompressed bytes of LZ4 input: frames, legacy frames and skippable frames, one after
 * another, as `lz4 -d` reads them. Each buffer yielded may be kept by the consumer.
 * Throws FormatError (a short phrase) for damaged or truncated input.
 */
export async function* decodeLz4(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const input = new Input(source[Symbol.asyncIterator]());
  try {
    let frames = 0;
    while (!(await input.atEnd())) {
      if (!(await input.fill(4))) throw bad(`${frames ? 'data after the last frame' : 'input'} too short for a frame header`);
      const magic = input.take(4).readUInt32LE(0);
      if (magic === FRAME_MAGIC) yield* frame(input);
      else if (magic === LEGACY_MAGIC) yield* legacy(input);
      else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
        if (!(await input.fill(4))) throw bad('a skippable frame is cut off');
        const size = input.take(4).readUInt32LE(0);
        if (!(await input.skip(size))) throw bad('a skippable frame is cut off');
      } else {
        throw bad(`${frames ? 'data after the last frame' : 'input'} does not start with an LZ4 frame (magic 0x${magic.toString(16).padStart(8, '0')})`);
      }
      frames++;
    }
    if (!frames) throw bad('empty input');
  } finally {
    await input.close();
  }
}

async function* frame(input: Input): AsyncGenerator<Buffer> {
  if (!(await input.fill(2))) throw bad('the frame header is cut off');
  const flgBd = input.take(2);
  const flg = flgBd[0];
  const bd = flgBd[1];
  if (flg >>> 6 !== 1) throw bad(`unsupported frame version ${flg >>> 6}`);
  if (flg & 0x02 || bd & 0x8f) throw bad('reserved bits are set in the frame header');
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const hasDict = (flg & 0x01) !== 0;
  const blockMax = BLOCK_MAX[(bd >>> 4) & 7];
  if (!blockMax) throw bad(`unsupported block size id ${(bd >>> 4) & 7}`);
  const rest = (hasSize ? 8 : 0) + (hasDict ? 4 : 0) + 1;
  if (!(await input.fill(rest))) throw bad('the frame header is cut off');
  const tail = input.take(rest);
  const descriptor = Buffer.concat([flgBd, tail.subarray(0, rest - 1)]);
  if (((xxh32(descriptor) >>> 8) & 0xff) !== tail[rest - 1]) throw bad('the frame header checksum does not match');
  if (hasDict) throw bad('the frame needs a dictionary, which this decoder does not have');
  const expected = hasSize ? tail.readBigUInt64LE(0) : undefined;

  // Output: the window of earlier output (linked blocks refer back into it), then this block.
  const out = Buffer.allocUnsafe(WINDOW + blockMax);
  let kept = 0; // bytes of history at the front of out
  const hash = contentChecksum ? new XXH32() : undefined;
  let total = 0n;
  for (;;) {
    if (!(await input.fill(4))) throw bad('ends inside a frame, before its end mark');
    const word = input.take(4).readUInt32LE(0);
    if (word === 0) break; // end mark
    const size = word & 0x7fffffff;
    const stored = (word & 0x80000000) !== 0;
    if (size > blockMax) throw bad(`a block of ${size} bytes exceeds the frame's ${blockMax}-byte maximum`);
    if (!(await input.fill(size + (blockChecksum ? 4 : 0)))) throw bad('ends inside a block');
    const data = input.take(size);
    if (blockChecksum && xxh32(data) !== input.take(4).readUInt32LE(0)) throw bad(`a block checksum does not match (at byte ${input.pos})`);
    const start = independent ? 0 : kept;
    let end: number;
    if (stored) {
      data.copy(out, start);
      end = start + size;
    } else {
      end = decodeBlock(data, out, start, independent ? start : 0, start + blockMax);
    }
    const piece = Buffer.from(out.subarray(start, end));
    hash?.update(piece);
    total += BigInt(piece.length);
    if (piece.length) yield piece;
    if (!independent) {
      // Keep the last 64 KiB as the window for the next block.
      const keep = Math.min(WINDOW, end);
      out.copyWithin(0, end - keep, end);
      kept = keep;
    }
  }
  if (contentChecksum) {
    if (!(await input.fill(4))) throw bad('the content checksum is cut off');
    if (hash!.digest() !== input.take(4).readUInt32LE(0)) throw bad('the content checksum does not match');
  }
  if (expected !== undefined && expected !== total) throw bad(`the frame holds ${total} bytes, its header says ${expected}`);
}

/**
 * The legacy frame: independent blocks of up to 8 MiB, each after its compressed size, until the
 * input ends or a word too large for a block size (the magic of the next frame: `cat a.lz4 b.lz4`).
 */
async function* legacy(input: Input): AsyncGenerator<Buffer> {
  const out = Buffer.allocUnsafe(LEGACY_BLOCK);
  const maxIn = LEGACY_BLOCK + Math.ceil(LEGACY_BLOCK / 255) + 16; // LZ4_compressBound
  for (;;) {
    if (await input.atEnd()) return;
    if (!(await input.fill(4))) throw bad('a legacy block size is cut off');
    const word = input.take(4);
    const size = word.readUInt32LE(0);
    if (size > maxIn) { input.unread(word); return; }
    if (size === 0) throw bad('a legacy block of 0 bytes is not possible');
    if (!(await input.fill(size))) throw bad('ends inside a block');
    const end = decodeBlock(input.take(size), out, 0, 0, LEGACY_BLOCK);
    yield Buffer.from(out.subarray(0, end));
  }
}
