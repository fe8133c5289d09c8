// Streaming reader for rpm payload archives: SVR4 "newc" cpio (070701/070702) and rpm's stripped
// large-file form (07070X: magic + 8-hex file index; name, mode and size come from the header).
// Entry bodies are read lazily; whatever a consumer leaves unread is skipped, never buffered.
import { FormatError, inputText } from '../errors.js';

export interface CpioEntry {
  /** Path as in the package, always starting with "/". */
  path: string;
  mode: number;
  size: number;
  nlink: number;
  /** Identifies a hard-link set inside this archive. */
  linkKey: string;
  /** Header file index (stripped form only). */
  fileIndex?: number;
}

export interface StrippedInfo {
  path: string;
  mode: number;
  size: number;
  nlink: number;
  linkKey: string;
}

const NEWC_HEADER = 110;
const MAX_NAME = 64 * 1024;

export class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  private ended = false;
  /** Bytes consumed from the stream. */
  position = 0;

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) { this.ended = true; return false; }
    const rest = this.buf.length - this.off;
    this.buf = rest > 0 ? Buffer.concat([this.buf.subarray(this.off), r.value]) : r.value;
    this.off = 0;
    return true;
  }

  /** Exactly n bytes, or undefined at a clean end of stream (nothing read). */
  async read(n: number, what: string): Promise<Buffer | undefined> {
    while (this.buf.length - this.off < n) {
      if (!(await this.fill())) {
        if (this.buf.length - this.off === 0) return undefined;
        throw new FormatError(`payload ends inside the ${what} at archive byte ${this.position + this.buf.length - this.off}`);
      }
    }
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.position += n;
    return out;
  }

  async readExact(n: number, what: string): Promise<Buffer> {
    const b = await this.read(n, what);
    if (!b) throw new FormatError(`payload ends before the ${what} at archive byte ${this.position}`);
    return b;
  }

  /** Yield the next n bytes as they arrive. */
  async *take(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.off >= this.buf.length && !(await this.fill())) {
        throw new FormatError(`payload ends inside ${what} at archive byte ${this.position} (${left} bytes missing)`);
      }
      const k = Math.min(left, this.buf.length - this.off);
      const chunk = this.buf.subarray(this.off, this.off + k);
      this.off += k;
      this.position += k;
      left -= k;
      yield chunk;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.take(n, what)) { /* discard */ }
  }

  /** Stop reading: the source is told (a decoder process, say, is ended). */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.buf = Buffer.alloc(0);
    this.off = 0;
    await this.it.return?.();
  }

  /** Read to the end of the stream; returns how many bytes were left. */
  async drain(): Promise<number> {
    let n = this.buf.length - this.off;
    this.off = this.buf.length;
    for (;;) {
      if (this.ended) break;
      const r = await this.it.next();
      if (r.done) { this.ended = true; break; }
      n += r.value.length;
    }
    this.position += n;
    return n;
  }
}

export interface CpioOptions {
  /** Resolves a stripped entry's file index through the package header. */
  stripped?: (fileIndex: number) => StrippedInfo | undefined;
}

export class CpioArchive {
  private pendingBody = 0;
  private pendingWhat = '';

  constructor(private readonly r: ChunkReader, private readonly opts: CpioOptions = {}) {}

  /** The next entry, or undefined after the trailer. Unread body bytes of the previous entry are skipped. */
  async next(): Promise<CpioEntry | undefined> {
    await this.finishBody();
    const r = this.r;
    await this.align();
    const at = r.position;
    const magicBuf = await r.read(6, 'cpio header');
    if (!magicBuf) throw new FormatError(`payload ends at archive byte ${at} without a cpio trailer`);
    const magic = magicBuf.toString('latin1');
    if (magic === '070701' || magic === '070702') {
      const h = parseNewc(await r.readExact(NEWC_HEADER - 6, 'cpio header'), 0, at);
      const nameBuf = await r.readExact(h.namesize, 'cpio file name');
      const name = memberName(nameBuf, 0, h.namesize);
      await this.align();
      if (name === 'TRAILER!!!') return undefined;
      this.pendingBody = h.size;
      this.pendingWhat = `cpio member ${inputText(name)}`;
      return newcEntry(h, name);
    }
    if (magic === '07070X') {
      const e = strippedEntry(await r.readExact(8, 'stripped cpio header'), 0, at, this.opts);
      await this.align();
      this.pendingBody = e.size;
      this.pendingWhat = `cpio member ${inputText(e.path)}`;
      return e;
    }
    throw new FormatError(`bad cpio magic "${printable(magicBuf)}" at archive byte ${at}`);
  }

  /** Stop reading the archive (what is left is not decoded). */
  close(): Promise<void> {
    return this.r.close();
  }

  /** Body of the entry returned last; may be abandoned part way. */
  async *body(): AsyncGenerator<Buffer> {
    for await (const chunk of this.r.take(this.pendingBody, this.pendingWhat)) {
      this.pendingBody -= chunk.length;
      yield chunk;
    }
  }

  private async finishBody(): Promise<void> {
    if (this.pendingBody > 0) {
      const n = this.pendingBody;
      this.pendingBody = 0;
      await this.r.skip(n, this.pendingWhat);
    }
  }

  private async align(): Promise<void> {
    const pad = (4 - (this.r.position % 4)) % 4;
    if (pad) await this.r.readExact(pad, 'cpio padding');
  }
}

interface NewcHeader {
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  devMajor: number;
  devMinor: number;
  namesize: number;
}

/** The 104 bytes after a newc magic, from b[o]; `at` (archive offset of the magic) is for messages. */
function parseNewc(b: Buffer, o: number, at: number): NewcHeader {
  const field = (i: number): number => {
    const s = b.toString('latin1', o + i * 8, o + i * 8 + 8);
    if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new FormatError(`cpio header at archive byte ${at} has a bad field "${inputText(s)}"`);
    return parseInt(s, 16);
  };
  const h = {
    ino: field(0), mode: field(1), nlink: field(4), size: field(6), devMajor: field(7), devMinor: field(8), namesize: field(11),
  };
  if (h.namesize === 0 || h.namesize > MAX_NAME) throw new FormatError(`cpio header at archive byte ${at} claims a ${h.namesize}-byte name`);
  return h;
}

function memberName(b: Buffer, o: number, namesize: number): string {
  return b.toString('utf8', o, o + (b[o + namesize - 1] === 0 ? namesize - 1 : namesize));
}

function newcEntry(h: NewcHeader, name: string): CpioEntry {
  return { path: normalizePath(name), mode: h.mode, size: h.size, nlink: h.nlink, linkKey: `${h.devMajor}:${h.devMinor}:${h.ino}` };
}

/** The 8-hex file index after a 07070X magic, resolved through the package header. */
function strippedEntry(b: Buffer, o: number, at: number, opts: CpioOptions): CpioEntry {
  const fxs = b.toString('latin1', o, o + 8);
  if (!/^[0-9a-fA-F]{8}$/.test(fxs)) throw new FormatError(`stripped cpio header at archive byte ${at} has a bad file index "${inputText(fxs)}"`);
  const fx = parseInt(fxs, 16);
  const info = opts.stripped?.(fx);
  if (!info) throw new FormatError(`stripped cpio header at archive byte ${at} names file ${fx}, which the package header does not list`);
  return { ...info, fileIndex: fx };
}

/** Receives one member's body from CpioParser; push returns true once it wants no more of it. */
export interface CpioBodySink {
  push(chunk: Buffer): boolean;
}

export interface CpioHandler {
  /** A member's header; return a sink to be given its body (else the body is skipped). */
  entry(e: CpioEntry): CpioBodySink | undefined;
  /** The member's body has gone by (read or skipped). */
  end?(e: CpioEntry): void;
}

const enum St { Magic, Newc, Stripped, Name, PadBody, Body, Pad, Done }

/**
 * The same archive format as CpioArchive, parsed by a synchronous state machine that is pushed
 * the decompressed bytes as they come. Nothing is kept from a chunk after push returns except
 * the few bytes of a header that straddles two chunks, so the caller may reuse its buffer.
 * Bytes after the trailer are counted (they are part of the signed payload) and ignored.
 */
export class CpioParser {
  /** Archive bytes consumed. */
  position = 0;
  private st = St.Magic;
  /** Bytes still needed to complete the current state. */
  private need = 6;
  /** Header bytes collected across chunks. */
  private acc: Buffer = Buffer.allocUnsafe(NEWC_HEADER + 512);
  private accLen = 0;
  private at = 0;
  private newc?: NewcHeader;
  private entry?: CpioEntry;
  private bodySize = 0;
  private sink?: CpioBodySink;

  constructor(private readonly handler: CpioHandler, private readonly opts: CpioOptions = {}) {}

  /** True once the trailer has been read. */
  get done(): boolean {
    return this.st === St.Done;
  }

  push(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      const avail = len - off;
      const st = this.st;
      if (st === St.Done) {
        this.position += avail;
        return;
      }
      if (st === St.Body) {
        const k = avail < this.need ? avail : this.need;
        if (this.sink && this.sink.push(k === len ? chunk : chunk.subarray(off, off + k))) this.sink = undefined;
        off += k;
        this.position += k;
        this.need -= k;
        if (this.need === 0) this.endMember();
        continue;
      }
      if (st === St.Pad || st === St.PadBody) {
        const k = avail < this.need ? avail : this.need;
        off += k;
        this.position += k;
        this.need -= k;
        if (this.need === 0) {
          if (st === St.PadBody) this.startBody();
          else this.expectMagic();
        }
        continue;
      }
      // A header piece: `need` bytes, straight from the chunk when they are all there, else collected.
      const n = this.need;
      if (this.accLen === 0 && avail >= n) {
        off += n;
        this.position += n;
        this.header(chunk, off - n);
        continue;
      }
      const k = Math.min(avail, n - this.accLen);
      if (this.acc.length < n) {
        const bigger = Buffer.allocUnsafe(n);
        this.acc.copy(bigger, 0, 0, this.accLen);
        this.acc = bigger;
      }
      chunk.copy(this.acc, this.accLen, off, off + k);
      this.accLen += k;
      off += k;
      this.position += k;
      if (this.accLen === n) {
        this.accLen = 0;
        this.header(this.acc, 0);
      }
    }
  }

  /** At the end of the decompressed stream: throws unless the trailer was seen and the last member is whole. */
  end(): void {
    const at = this.position;
    switch (this.st) {
      case St.Done:
        return;
      case St.Magic:
        if (this.accLen === 0) throw new FormatError(`payload ends at archive byte ${at} without a cpio trailer`);
        throw new FormatError(`payload ends inside the cpio header at archive byte ${at}`);
      case St.Newc:
        throw new FormatError(`payload ends inside the cpio header at archive byte ${at}`);
      case St.Stripped:
        throw new FormatError(`payload ends inside the stripped cpio header at archive byte ${at}`);
      case St.Name:
        throw new FormatError(`payload ends inside the cpio file name at archive byte ${at}`);
      case St.Body:
        throw new FormatError(`payload ends inside cpio member ${inputText(this.entry!.path)} at archive byte ${at} (${this.need} bytes missing)`);
      case St.PadBody:
      case St.Pad:
        throw new FormatError(`payload ends inside the cpio padding at archive byte ${at}`);
    }
  }

  /** A header piece is complete in b[o .. o+n) and position is past it. */
  private header(b: Buffer, o: number): void {
    switch (this.st) {
      case St.Magic: {
        this.at = this.position - 6;
        const magic = b.toString('latin1', o, o + 6);
        if (magic === '070701' || magic === '070702') { this.st = St.Newc; this.need = NEWC_HEADER - 6; return; }
        if (magic === '07070X') { this.st = St.Stripped; this.need = 8; return; }
        throw new FormatError(`bad cpio magic "${printable(b.subarray(o, o + 6))}" at archive byte ${this.at}`);
      }
      case St.Newc:
        this.newc = parseNewc(b, o, this.at);
        this.st = St.Name;
        this.need = this.newc.namesize;
        return;
      case St.Name: {
        const name = memberName(b, o, this.newc!.namesize);
        if (name === 'TRAILER!!!') { this.st = St.Done; this.need = 0; return; }
        return this.startMember(newcEntry(this.newc!, name));
      }
      case St.Stripped:
        return this.startMember(strippedEntry(b, o, this.at, this.opts));
    }
  }

  private startMember(e: CpioEntry): void {
    this.entry = e;
    this.bodySize = e.size;
    this.sink = this.handler.entry(e);
    const pad = (4 - (this.position % 4)) % 4; // the body starts on a 4-byte boundary
    if (pad) { this.st = St.PadBody; this.need = pad; return; }
    this.startBody();
  }

  private startBody(): void {
    if (this.bodySize === 0) return this.endMember();
    this.st = St.Body;
    this.need = this.bodySize;
  }

  private endMember(): void {
    const e = this.entry!;
    this.entry = undefined;
    this.sink = undefined;
    this.handler.end?.(e);
    const pad = (4 - (this.position % 4)) % 4;
    if (pad) { this.st = St.Pad; this.need = pad; return; }
    this.expectMagic();
  }

  private expectMagic(): void {
    this.st = St.Magic;
    this.need = 6;
  }
}

function normalizePath(name: string): string {
  let p = name;
  if (p.startsWith('./')) p = p.slice(1);
  else if (p === '.') p = '/';
  else if (!p.startsWith('/')) p = '/' + p;
  return p;
}

function printable(b: Buffer): string {
  return [...b].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
}
