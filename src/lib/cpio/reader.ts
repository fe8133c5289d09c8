// Streaming reader for rpm payload archives: SVR4 "newc" cpio (070701/070702) and rpm's stripped
// large-file form (07070X: magic + 8-hex file index; name, mode and size come from the header).
// Entry bodies are read lazily; whatever a consumer leaves unread is skipped, never buffered.
import { FormatError } from '../errors.js';

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
      const h = await r.readExact(NEWC_HEADER - 6, 'cpio header');
      const field = (i: number): number => {
        const s = h.toString('latin1', i * 8, i * 8 + 8);
        if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new FormatError(`cpio header at archive byte ${at} has a bad field "${s}"`);
        return parseInt(s, 16);
      };
      const ino = field(0), mode = field(1), nlink = field(4), size = field(6);
      const devMajor = field(7), devMinor = field(8), namesize = field(11);
      if (namesize === 0 || namesize > MAX_NAME) throw new FormatError(`cpio header at archive byte ${at} claims a ${namesize}-byte name`);
      const nameBuf = await r.readExact(namesize, 'cpio file name');
      const name = nameBuf.toString('utf8', 0, nameBuf[namesize - 1] === 0 ? namesize - 1 : namesize);
      await this.align();
      if (name === 'TRAILER!!!') return undefined;
      this.pendingBody = size;
      this.pendingWhat = `cpio member ${name}`;
      return { path: normalizePath(name), mode, size, nlink, linkKey: `${devMajor}:${devMinor}:${ino}` };
    }
    if (magic === '07070X') {
      const fxs = (await r.readExact(8, 'stripped cpio header')).toString('latin1');
      if (!/^[0-9a-fA-F]{8}$/.test(fxs)) throw new FormatError(`stripped cpio header at archive byte ${at} has a bad file index "${fxs}"`);
      const fx = parseInt(fxs, 16);
      const info = this.opts.stripped?.(fx);
      if (!info) throw new FormatError(`stripped cpio header at archive byte ${at} names file ${fx}, which the package header does not list`);
      await this.align();
      this.pendingBody = info.size;
      this.pendingWhat = `cpio member ${info.path}`;
      return { ...info, fileIndex: fx };
    }
    throw new FormatError(`bad cpio magic "${printable(magicBuf)}" at archive byte ${at}`);
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
