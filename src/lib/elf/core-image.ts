// An ELF image (executable, shared object, vDSO) as it lies in a core dump's memory: its file
// header and program headers at the address its first page is mapped, the bounds and load bias
// they imply, its build-id note, its dynamic section. This is what elfutils'
// dwfl_segment_report_module reads, with the same rules, and only from the core itself: files
// on this machine are never opened (the core may come from another one).
import type { CoreMemory } from './core-memory.js';
import { Words } from './core-memory.js';
import { isElf, parseElfHeader } from './header.js';
import { findBuildId } from './notes.js';

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;
export const PT_PHDR = 6;
export const DT_NULL = 0n;
export const DT_STRTAB = 5n;
export const DT_STRSZ = 10n;
export const DT_SONAME = 14n;
export const DT_DEBUG = 21n;
/** MIPS keeps .dynamic read-only: ld.so writes &r_debug where these point instead of into DT_DEBUG. */
export const DT_MIPS_RLD_MAP = 0x70000016n;
export const DT_MIPS_RLD_MAP_REL = 0x70000035n;

const MiB = 1 << 20;
/** Caps on what one image in a core may make us read (real images have a few dozen program headers). */
export const MAX_IMAGE_PHDRS = 64 * 1024;
const MAX_IMAGE_NOTE = 1 * MiB;
/** Real dynamic sections hold a few dozen entries; 1024 is plenty. */
const MAX_DYNAMIC = 16 * 1024;
/** Note segments looked at per image: real ones have two or three, a hostile one thousands. */
const MAX_IMAGE_NOTES = 16;

export interface Phdr {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/** Program headers from a table of `count` entries of `entsize` bytes. */
export function parsePhdrs(table: Buffer, count: number, entsize: number, w: Words): Phdr[] {
  const out: Phdr[] = [];
  for (let i = 0; i < count && (i + 1) * entsize <= table.length; i++) {
    const o = i * entsize;
    out.push(w.is64
      ? {
        type: w.u32(table, o), flags: w.u32(table, o + 4), offset: w.u64(table, o + 8), vaddr: w.u64(table, o + 16),
        filesz: w.u64(table, o + 32), memsz: w.u64(table, o + 40), align: w.u64(table, o + 48),
      }
      : {
        type: w.u32(table, o), offset: w.word(table, o + 4), vaddr: w.word(table, o + 8), filesz: w.word(table, o + 16),
        memsz: w.word(table, o + 20), flags: w.u32(table, o + 24), align: w.word(table, o + 28),
      });
  }
  return out;
}

export interface MemoryImage {
  /** Where the ELF header lies in memory. */
  base: bigint;
  /** The image's own byte order and class. */
  w: Words;
  type: number;
  phoff: number;
  phnum: number;
  phentsize: number;
  phdrs: Phdr[];
}

export type ImageProbe = { dumped: false } | { dumped: true; elf: false } | { dumped: true; elf: true; image?: MemoryImage };

/**
 * The ELF image whose header is at `base`: is that memory dumped, is it ELF, and its program
 * headers when they are dumped too (and lie before `limit`, when given).
 */
export async function readImage(mem: CoreMemory, base: bigint, limit?: bigint): Promise<ImageProbe> {
  const ident = await mem.readMem(base, 16);
  if (!ident) return { dumped: false };
  if (!isElf(ident)) return { dumped: true, elf: false };
  const head = (await mem.readMem(base, 64)) ?? (await mem.readMem(base, 52));
  const h = head && parseElfHeader(head);
  if (!h) return { dumped: true, elf: true };
  const minEnt = h.is64 ? 56 : 32;
  const tableSize = h.phnum * h.phentsize;
  if (h.phnum === 0 || h.phentsize < minEnt || tableSize > MAX_IMAGE_PHDRS) return { dumped: true, elf: true };
  if (limit !== undefined && base + BigInt(h.phoff) + BigInt(tableSize) > limit) return { dumped: true, elf: true };
  const table = await mem.readMem(base + BigInt(h.phoff), tableSize);
  if (!table) return { dumped: true, elf: true };
  const w = new Words(h.littleEndian, h.is64);
  return {
    dumped: true,
    elf: true,
    image: { base, w, type: h.type, phoff: h.phoff, phnum: h.phnum, phentsize: h.phentsize, phdrs: parsePhdrs(table, h.phnum, h.phentsize, w) },
  };
}

/**
 * The GNU build-id in the image's note segments, read where their file offsets put them from the
 * image's first byte (its first page is mapped from offset 0), up to `limit`.
 */
export async function imageBuildId(mem: CoreMemory, image: MemoryImage, limit: bigint): Promise<string | undefined> {
  const notes = image.phdrs.filter((p) => p.type === PT_NOTE).slice(0, MAX_IMAGE_NOTES);
  for (const note of notes) {
    if (note.filesz === 0n || note.filesz > BigInt(MAX_IMAGE_NOTE)) continue;
    const at = image.base + note.offset;
    if (at + note.filesz > limit) continue;
    const bytes = await mem.readMem(at, Number(note.filesz));
    if (!bytes) continue;
    const id = findBuildId(bytes, image.w.le, Number(note.align));
    if (id) return id;
  }
  return undefined;
}

/** The build-id in note segments at their (biased) addresses: for an image known by its program headers alone. */
export async function buildIdAtVaddrs(mem: CoreMemory, phdrs: Phdr[], bias: bigint, w: Words): Promise<string | undefined> {
  for (const note of phdrs.filter((p) => p.type === PT_NOTE).slice(0, MAX_IMAGE_NOTES)) {
    if (note.filesz === 0n || note.filesz > BigInt(MAX_IMAGE_NOTE)) continue;
    const bytes = await mem.readMem(w.wrap(note.vaddr + bias), Number(note.filesz));
    const id = bytes && findBuildId(bytes, w.le, Number(note.align));
    if (id) return id;
  }
  return undefined;
}

export interface ImageLayout {
  /** First address of the module (page-aligned), and the first address past it. */
  start: bigint;
  end: bigint;
  /** Load bias: memory address minus p_vaddr. */
  bias: bigint;
  /** Address and size of the dynamic section in memory, when it has one. */
  dynamic?: { addr: bigint; size: bigint };
}

/**
 * The module bounds the image's PT_LOADs imply, placed at `base` by the PT_LOAD that maps file
 * offset 0 (as dwfl_segment_report_module computes them). Undefined when no PT_LOAD maps the
 * headers: then the header at `base` was not loaded by these program headers.
 */
export function imageLayout(image: MemoryImage, pageSize: bigint): ImageLayout | undefined {
  const { w } = image;
  const align = pageSize;
  const mask = w.wrap(-align);
  const headersEnd = BigInt(image.phoff) + BigInt(image.phnum * image.phentsize);
  let bias: bigint | undefined;
  let start: bigint | undefined;
  let end = 0n;
  let dyn: { vaddr: bigint; size: bigint } | undefined;
  for (const p of image.phdrs) {
    if (p.type === PT_DYNAMIC && !dyn) dyn = { vaddr: p.vaddr, size: p.filesz };
    if (p.type !== PT_LOAD) continue;
    const vend = (p.vaddr + p.memsz + align - 1n) & mask;
    const fileszEnd = p.filesz < p.memsz ? p.vaddr + p.filesz : vend;
    if (bias === undefined && (p.offset & mask) === 0n && fileszEnd - p.vaddr + p.offset >= headersEnd) bias = w.wrap(image.base - p.vaddr);
    const s = p.vaddr & mask;
    if (start === undefined || s < start) start = s;
    if (vend > end) end = vend;
  }
  if (bias === undefined || start === undefined || end <= start) return undefined;
  const first = w.wrap(start + bias);
  const last = w.wrap(end + bias) || 1n << BigInt(w.bits); // a module may end at the top of memory
  if (last <= first) return undefined; // a bias that wraps the module around: not a real layout
  return {
    start: first,
    end: last,
    bias,
    dynamic: dyn && dyn.size > 0n ? { addr: w.wrap(dyn.vaddr + bias), size: dyn.size } : undefined,
  };
}

export interface DynEntry {
  tag: bigint;
  value: bigint;
  /** Address of the entry itself (DT_MIPS_RLD_MAP_REL is relative to it). */
  addr: bigint;
}

/** The dynamic section at addr as dumped (up to DT_NULL); undefined when it is not in the core. */
export async function readDynamic(mem: CoreMemory, addr: bigint, size: bigint, w: Words): Promise<DynEntry[] | undefined> {
  const ent = 2 * w.size;
  const n = Number((size < BigInt(MAX_DYNAMIC) ? size : BigInt(MAX_DYNAMIC)) / BigInt(ent));
  if (n === 0) return undefined;
  // Only the dumped part counts: a dynamic section cut by the end of a segment still has its first entries.
  const have = Math.floor((await mem.dumpedFrom(addr, n * ent)) / ent);
  if (have === 0) return undefined;
  const b = await mem.readMem(addr, have * ent);
  if (!b) return undefined;
  const out: DynEntry[] = [];
  for (let i = 0; i < have; i++) {
    const tag = w.word(b, i * ent);
    if (tag === DT_NULL) break;
    out.push({ tag, value: w.word(b, i * ent + w.size), addr: addr + BigInt(i * ent) });
  }
  return out;
}

/**
 * DT_SONAME, read through DT_STRTAB. ld.so relocates DT_STRTAB in place for the objects it loads,
 * but not in a read-only .dynamic (the vDSO's): an address outside the module gets the bias added.
 */
export async function imageSoname(mem: CoreMemory, layout: ImageLayout, dyn: DynEntry[]): Promise<string | undefined> {
  const get = (t: bigint): bigint | undefined => dyn.find((d) => d.tag === t)?.value;
  const soname = get(DT_SONAME);
  let strtab = get(DT_STRTAB);
  const strsz = get(DT_STRSZ);
  if (soname === undefined || strtab === undefined || !strsz || soname >= strsz) return undefined;
  const inside = (a: bigint): boolean => a >= layout.start && a < layout.end;
  if (!inside(strtab) && inside(strtab + layout.bias)) strtab += layout.bias;
  if (!inside(strtab)) return undefined;
  return mem.readString(strtab + soname);
}
