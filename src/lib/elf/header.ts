// ELF identification, file header, program and section header tables.

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

export const PT_NOTE = 4;
export const SHT_NOTE = 7;

export type ElfKind = 'REL' | 'EXEC' | 'DYN' | 'CORE' | 'OTHER';

export function elfKind(eType: number): ElfKind {
  switch (eType) {
    case ET_REL: return 'REL';
    case ET_EXEC: return 'EXEC';
    case ET_DYN: return 'DYN';
    case ET_CORE: return 'CORE';
    default: return 'OTHER';
  }
}

export interface ElfHeader {
  is64: boolean;
  littleEndian: boolean;
  type: number;
  machine: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
}

/** Bytes needed to parse the file header of either class. */
export const ELF_HEADER_MAX = 64;

export function isElf(buf: Buffer): boolean {
  return buf.length >= 4 && buf.subarray(0, 4).equals(ELF_MAGIC);
}

export class ElfReader {
  constructor(readonly littleEndian: boolean, readonly is64: boolean) {}
  u16(b: Buffer, o: number): number { return this.littleEndian ? b.readUInt16LE(o) : b.readUInt16BE(o); }
  u32(b: Buffer, o: number): number { return this.littleEndian ? b.readUInt32LE(o) : b.readUInt32BE(o); }
  // Offsets above 2^53 cannot address anything we stream; treat them as absurd.
  u64(b: Buffer, o: number): number {
    const v = this.littleEndian ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  addr(b: Buffer, o: number): number { return this.is64 ? this.u64(b, o) : this.u32(b, o); }
}

/** Parse the ELF file header; undefined when the bytes are not a usable ELF header. */
export function parseElfHeader(buf: Buffer): ElfHeader | undefined {
  if (!isElf(buf) || buf.length < 52) return undefined;
  const cls = buf[4];
  const data = buf[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return undefined;
  const is64 = cls === 2;
  if (is64 && buf.length < 64) return undefined;
  const r = new ElfReader(data === 1, is64);
  const type = r.u16(buf, 16);
  const machine = r.u16(buf, 18);
  if (is64) {
    return {
      is64, littleEndian: r.littleEndian, type, machine,
      phoff: r.u64(buf, 32), shoff: r.u64(buf, 40),
      phentsize: r.u16(buf, 54), phnum: r.u16(buf, 56),
      shentsize: r.u16(buf, 58), shnum: r.u16(buf, 60),
    };
  }
  return {
    is64, littleEndian: r.littleEndian, type, machine,
    phoff: r.u32(buf, 28), shoff: r.u32(buf, 32),
    phentsize: r.u16(buf, 42), phnum: r.u16(buf, 44),
    shentsize: r.u16(buf, 46), shnum: r.u16(buf, 48),
  };
}

export interface NoteRange {
  offset: number;
  size: number;
  align: number;
}

// Where the type, offset, size and alignment fields sit in a table entry, per ELF class.
interface EntryLayout {
  minSize: number;
  type: number;
  offset: number;
  size: number;
  align: number;
}

const PHDR: Record<'32' | '64', EntryLayout> = {
  32: { minSize: 32, type: 0, offset: 4, size: 16, align: 28 },
  64: { minSize: 56, type: 0, offset: 8, size: 32, align: 48 },
};
const SHDR: Record<'32' | '64', EntryLayout> = {
  32: { minSize: 40, type: 4, offset: 16, size: 20, align: 32 },
  64: { minSize: 64, type: 4, offset: 24, size: 32, align: 48 },
};

function noteEntries(h: ElfHeader, table: Buffer, count: number, entsize: number, layouts: typeof PHDR, wanted: number): NoteRange[] {
  const r = new ElfReader(h.littleEndian, h.is64);
  const l = layouts[h.is64 ? '64' : '32'];
  const out: NoteRange[] = [];
  if (entsize < l.minSize) return out;
  for (let i = 0; i < count && (i + 1) * entsize <= table.length; i++) {
    const o = i * entsize;
    if (r.u32(table, o + l.type) !== wanted) continue;
    out.push({ offset: r.addr(table, o + l.offset), size: r.addr(table, o + l.size), align: r.addr(table, o + l.align) });
  }
  return out;
}

/** PT_NOTE segments from a program header table. */
export function noteSegments(h: ElfHeader, table: Buffer): NoteRange[] {
  return noteEntries(h, table, h.phnum, h.phentsize, PHDR, PT_NOTE);
}

/** SHT_NOTE sections from a section header table. */
export function noteSections(h: ElfHeader, table: Buffer): NoteRange[] {
  return noteEntries(h, table, h.shnum, h.shentsize, SHDR, SHT_NOTE);
}
