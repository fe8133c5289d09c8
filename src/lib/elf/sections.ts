// One named section of an ELF file on disk (debuginfod's /buildid/ID/section/NAME): its place in
// the file, read from the section header table and the section-name string table with a few
// positional reads. Extended numbering (e_shnum 0 or e_shstrndx SHN_XINDEX, the real counts in
// section 0) is followed; every offset and count is checked against the file's size.
import type { FileHandle } from 'node:fs/promises';
import { ElfReader, ELF_HEADER_MAX, parseElfHeader } from './header.js';

export const SHT_NOBITS = 8;
const SHN_XINDEX = 0xffff;
/** Caps on what one file may make us read. */
const MAX_SECTION_TABLE = 64 << 20;
const MAX_NAME_TABLE = 16 << 20;

export interface SectionPlace {
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
}

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The section called `name`, or undefined (no such section, or not an ELF file with a usable section table). */
export async function findSection(fh: FileHandle, fileSize: number, name: string): Promise<SectionPlace | undefined> {
  const h = parseElfHeader(await readAt(fh, 0, ELF_HEADER_MAX));
  if (!h || h.shoff === 0) return undefined;
  const r = new ElfReader(h.littleEndian, h.is64);
  const entsize = h.shentsize;
  const minEnt = h.is64 ? 64 : 40;
  if (entsize < minEnt || h.shoff + entsize > fileSize) return undefined;
  const field = (b: Buffer, o: number): { name: number; type: number; flags: number; offset: number; size: number; link: number } => (h.is64
    ? { name: r.u32(b, o), type: r.u32(b, o + 4), flags: r.u64(b, o + 8), offset: r.u64(b, o + 24), size: r.u64(b, o + 32), link: r.u32(b, o + 40) }
    : { name: r.u32(b, o), type: r.u32(b, o + 4), flags: r.u32(b, o + 8), offset: r.u32(b, o + 16), size: r.u32(b, o + 20), link: r.u32(b, o + 24) });

  const header = await readAt(fh, 0, h.is64 ? 64 : 52);
  let shstrndx = r.u16(header, h.is64 ? 62 : 50);
  let shnum = h.shnum;
  if (shnum === 0 || shstrndx === SHN_XINDEX) {
    const zero = field(await readAt(fh, h.shoff, entsize), 0);
    if (shnum === 0) shnum = zero.size;
    if (shstrndx === SHN_XINDEX) shstrndx = zero.link;
  }
  if (shnum === 0 || shstrndx >= shnum) return undefined;
  const tableSize = shnum * entsize;
  if (tableSize > MAX_SECTION_TABLE || h.shoff + tableSize > fileSize) return undefined;
  const table = await readAt(fh, h.shoff, tableSize);
  if (table.length < tableSize) return undefined;

  const strtab = field(table, shstrndx * entsize);
  if (strtab.type === SHT_NOBITS || strtab.size > MAX_NAME_TABLE || strtab.offset + strtab.size > fileSize) return undefined;
  const names = await readAt(fh, strtab.offset, strtab.size);
  const wanted = Buffer.from(`${name}\0`, 'utf8');
  for (let i = 1; i < shnum; i++) {
    const s = field(table, i * entsize);
    if (s.name + wanted.length > names.length) continue;
    if (!names.subarray(s.name, s.name + wanted.length).equals(wanted)) continue;
    if (s.type !== SHT_NOBITS && s.offset + s.size > fileSize) return undefined;
    return { name, type: s.type, flags: s.flags, offset: s.offset, size: s.size };
  }
  return undefined;
}
