// The process memory an ELF core dump holds, read with bounded positional reads: its PT_LOAD
// segments map addresses to file offsets, and only the bytes of a segment's p_filesz are in the
// file (the rest of p_memsz was not dumped). Every read names its length up front and returns
// undefined, never throws, for memory the core does not hold: a damaged core is read as far as it goes.
import type { FileHandle } from 'node:fs/promises';
import { UserError, ioMessage } from '../errors.js';

/** Words of the core (or of an image in it) with their byte order and width. */
export class Words {
  constructor(readonly le: boolean, readonly is64: boolean) {}
  get size(): number { return this.is64 ? 8 : 4; }
  get bits(): number { return this.is64 ? 64 : 32; }
  u16(b: Buffer, o: number): number { return this.le ? b.readUInt16LE(o) : b.readUInt16BE(o); }
  u32(b: Buffer, o: number): number { return this.le ? b.readUInt32LE(o) : b.readUInt32BE(o); }
  u64(b: Buffer, o: number): bigint { return this.le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o); }
  /** An address-sized word (Elf32_Addr / Elf64_Addr). */
  word(b: Buffer, o: number): bigint { return this.is64 ? this.u64(b, o) : BigInt(this.u32(b, o)); }
  /** Address arithmetic wraps at the word width, as in the process. */
  wrap(v: bigint): bigint { return BigInt.asUintN(this.bits, v); }
}

export interface Load {
  vaddr: bigint;
  memsz: bigint;
  filesz: bigint;
  offset: bigint;
  flags: number;
  align: bigint;
}

export const PF_X = 1;

/** Longest string read out of the core (PATH_MAX). */
export const MAX_STRING = 4096;

/** Small reads go through a cache of file blocks: segment starts, link-map nodes and names cluster. */
const BLOCK = 64 * 1024;
const CACHED_BLOCKS = 64;
const SMALL_READ = 4096;

export class CoreMemory {
  /** PT_LOAD segments in address order. */
  loads: Load[] = [];
  private blocks = new Map<number, Promise<Buffer>>();

  constructor(readonly name: string, private readonly fh: FileHandle, readonly size: number) {}

  fail(sentence: string): never {
    throw new UserError(`${this.name}: ${sentence}`, 2);
  }

  /** Bytes at a file offset; shorter than asked only at the end of the file. */
  async readAt(offset: number, length: number): Promise<Buffer> {
    if (length > SMALL_READ || length <= 0) return this.readDirect(offset, length);
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((offset + length - 1) / BLOCK);
    const parts: Buffer[] = [];
    for (let b = first; b <= last; b++) {
      const block = await this.block(b);
      const from = b === first ? offset - b * BLOCK : 0;
      const to = Math.min(block.length, offset + length - b * BLOCK);
      if (from >= block.length) break;
      parts.push(block.subarray(from, to));
      if (to < BLOCK) break; // the end of the file
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private block(index: number): Promise<Buffer> {
    let p = this.blocks.get(index);
    if (p) {
      this.blocks.delete(index); // most recently used goes last
    } else {
      p = this.readDirect(index * BLOCK, BLOCK);
      if (this.blocks.size >= CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    }
    this.blocks.set(index, p);
    return p;
  }

  private async readDirect(offset: number, length: number): Promise<Buffer> {
    const len = Math.max(0, Math.min(length, this.size - offset));
    const buf = Buffer.alloc(len);
    let got = 0;
    try {
      while (got < len) {
        const { bytesRead } = await this.fh.read(buf, got, len - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (e) {
      this.fail(ioMessage(e));
    }
    return got === len ? buf : buf.subarray(0, got);
  }

  setLoads(loads: Load[]): void {
    this.loads = loads.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  }

  /** The PT_LOAD whose memory range holds addr. */
  loadAt(addr: bigint): Load | undefined {
    let lo = 0;
    let hi = this.loads.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.loads[mid].vaddr <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    // Segments normally do not overlap; look back a little in case they do.
    for (let i = best; i >= 0 && i > best - 4; i--) {
      const l = this.loads[i];
      if (addr >= l.vaddr && addr < l.vaddr + (l.memsz > l.filesz ? l.memsz : l.filesz)) return l;
    }
    return undefined;
  }

  /** How many bytes from addr on are dumped without a gap (at most `max`). */
  async dumpedFrom(addr: bigint, max: number): Promise<number> {
    let n = 0;
    while (n < max) {
      const a = addr + BigInt(n);
      const l = this.loadAt(a);
      if (!l || a >= l.vaddr + l.filesz) break;
      const avail = l.vaddr + l.filesz - a;
      const inFile = BigInt(this.size) - (l.offset + (a - l.vaddr));
      const room = avail < inFile ? avail : inFile;
      if (room <= 0n) break;
      n += Number(room < BigInt(max - n) ? room : BigInt(max - n));
    }
    return n;
  }

  /** Process memory [addr, addr+len) as dumped in the core; undefined when any byte of it is not in the file. */
  async readMem(addr: bigint, len: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let done = 0;
    while (done < len) {
      const a = addr + BigInt(done);
      const l = this.loadAt(a);
      if (!l || a >= l.vaddr + l.filesz) return undefined;
      const avail = l.vaddr + l.filesz - a;
      const n = Number(avail < BigInt(len - done) ? avail : BigInt(len - done));
      const off = l.offset + (a - l.vaddr);
      if (off + BigInt(n) > BigInt(this.size)) return undefined; // cut short: a truncated core
      const part = await this.readAt(Number(off), n);
      if (part.length < n) return undefined;
      parts.push(part);
      done += n;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** `count` address-sized words at addr. */
  async readWords(addr: bigint, count: number, w: Words): Promise<bigint[] | undefined> {
    const b = await this.readMem(addr, count * w.size);
    if (!b) return undefined;
    return Array.from({ length: count }, (_, i) => w.word(b, i * w.size));
  }

  /**
   * The NUL-terminated string at addr (at most MAX_STRING bytes, UTF-8), or undefined when it is
   * not dumped or not terminated in time.
   */
  async readString(addr: bigint): Promise<string | undefined> {
    if (addr === 0n) return undefined;
    // Most names are short: one small read first, the rest only when needed.
    for (const want of [256, MAX_STRING]) {
      const n = await this.dumpedFrom(addr, want);
      if (n === 0) return undefined;
      const b = await this.readMem(addr, n);
      if (!b) return undefined;
      const nul = b.indexOf(0);
      if (nul !== -1) return b.toString('utf8', 0, nul);
      if (n < want) return undefined; // the dumped bytes end before the string does
    }
    return undefined;
  }

  /** Whether the segment dumping addr was mapped executable. */
  executableAt(addr: bigint): boolean {
    const l = this.loadAt(addr);
    return l !== undefined && (l.flags & PF_X) !== 0;
  }
}
