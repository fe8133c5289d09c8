// A process laid out in a core dump as a Linux kernel writes it, built from ELF files: each file's
// PT_LOADs mapped at its load bias (the first page dumped when coredump_filter bit 4 asks for ELF
// headers, writable segments dumped whole, the rest left out), the dynamic linker's r_debug and
// link_map list on a heap, the auxiliary vector (AT_PHDR, AT_PHNUM, AT_PHENT, AT_ENTRY, AT_PAGESZ,
// AT_BASE, AT_SYSINFO_EHDR, AT_EXECFN) with its strings on a stack, and NT_FILE when asked.
// The files may be real (cross-compiled, big-endian, x32) or made by loadable() below; tests know
// every name, address and build-id they planted, independently of the reader under test.
import { buildCore, PF_R, PF_W, PF_X, type CoreFile, type CoreLoad, type CoreSpec } from './core-builder.ts';

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_NOTE = 4;
const PT_PHDR = 6;
export const DT_DEBUG = 21n;
export const DT_MIPS_RLD_MAP = 0x70000016n;
export const DT_MIPS_RLD_MAP_REL = 0x70000035n;
export const AT = { PHDR: 3n, PHENT: 4n, PHNUM: 5n, PAGESZ: 6n, BASE: 7n, ENTRY: 9n, EXECFN: 31n, SYSINFO_EHDR: 33n } as const;

class Endian {
  constructor(readonly le: boolean, readonly is64: boolean) {}
  get ws(): number { return this.is64 ? 8 : 4; }
  u16(b: Buffer, o: number): number { return this.le ? b.readUInt16LE(o) : b.readUInt16BE(o); }
  u32(b: Buffer, o: number): number { return this.le ? b.readUInt32LE(o) : b.readUInt32BE(o); }
  word(b: Buffer, o: number): bigint {
    if (this.is64) return this.le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    return BigInt(this.u32(b, o));
  }
  put16(b: Buffer, v: number, o: number): void { if (this.le) b.writeUInt16LE(v, o); else b.writeUInt16BE(v, o); }
  put32(b: Buffer, v: number, o: number): void { if (this.le) b.writeUInt32LE(v >>> 0, o); else b.writeUInt32BE(v >>> 0, o); }
  putWord(b: Buffer, v: bigint, o: number): void {
    const x = BigInt.asUintN(this.is64 ? 64 : 32, v);
    if (this.is64) { if (this.le) b.writeBigUInt64LE(x, o); else b.writeBigUInt64BE(x, o); } else this.put32(b, Number(x), o);
  }
}

interface Seg { type: number; flags: number; offset: bigint; vaddr: bigint; filesz: bigint; memsz: bigint }

/** The parts of an ELF file a loader needs, read independently of src/lib/elf. */
export function elfFacts(elf: Buffer): { e: Endian; type: number; entry: bigint; phoff: number; phnum: number; phentsize: number; segs: Seg[] } {
  const e = new Endian(elf[5] === 1, elf[4] === 2);
  const phoff = Number(e.is64 ? e.word(elf, 32) : BigInt(e.u32(elf, 28)));
  const phentsize = e.u16(elf, e.is64 ? 54 : 42);
  const phnum = e.u16(elf, e.is64 ? 56 : 44);
  const segs: Seg[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    segs.push(e.is64
      ? { type: e.u32(elf, o), flags: e.u32(elf, o + 4), offset: e.word(elf, o + 8), vaddr: e.word(elf, o + 16), filesz: e.word(elf, o + 32), memsz: e.word(elf, o + 40) }
      : { type: e.u32(elf, o), offset: BigInt(e.u32(elf, o + 4)), vaddr: BigInt(e.u32(elf, o + 8)), filesz: BigInt(e.u32(elf, o + 16)), memsz: BigInt(e.u32(elf, o + 20)), flags: e.u32(elf, o + 24) });
  }
  return { e, type: e.u16(elf, 16), entry: e.is64 ? e.word(elf, 24) : BigInt(e.u32(elf, 24)), phoff, phnum, phentsize, segs };
}

export interface LoadedElf {
  /** The file's bytes. */
  elf: Buffer;
  /** Load bias (0 for ET_EXEC). */
  bias: bigint;
  /** l_name on the dynamic linker's list ("" for the main program); undefined: not on the list. */
  lName?: string;
  /** NT_FILE path (when the core has NT_FILE); undefined: NT_FILE leaves it out. */
  filePath?: string;
  /** Whether its first page is dumped (coredump_filter bit 4, default on). */
  dumpHeader?: boolean;
}

export interface ProcessSpec {
  is64: boolean;
  le: boolean;
  machine?: number;
  pageSize?: number;
  exe: LoadedElf;
  libs?: LoadedElf[];
  /** The vDSO: dumped whole at addr, named by AT_SYSINFO_EHDR. */
  vdso?: { elf: Buffer; addr: bigint; lName?: string };
  fileNote?: boolean;
  execfn?: string;
  /** Where r_debug, the link_map nodes and l_name strings go, and the stack with auxv strings. */
  heap?: bigint;
  stack?: bigint;
  rDebugVersion?: number;
  /** Rewrite the link map nodes before they are written (hostile lists). */
  editLinkMap?: (nodes: LinkNode[]) => void;
  /** Rewrite the auxiliary vector. */
  editAuxv?: (auxv: [bigint, bigint][]) => [bigint, bigint][];
  /** Override or cut core segments after layout (truncated dumps). */
  editLoads?: (loads: CoreLoad[]) => CoreLoad[];
}

export interface LinkNode {
  addr: bigint;
  lAddr: bigint;
  lName: bigint;
  lLd: bigint;
  lNext: bigint;
  lPrev: bigint;
}

export interface Placed {
  /** Module start (page-aligned first mapped address) and end. */
  start: bigint;
  end: bigint;
  /** Address of the dynamic section in memory. */
  dynamic?: bigint;
}

/** Where a file's segments land: module bounds and its dynamic section. */
export function place(f: LoadedElf, pageSize: number): Placed {
  const { segs } = elfFacts(f.elf);
  const page = BigInt(pageSize);
  const loads = segs.filter((s) => s.type === PT_LOAD);
  const start = loads.reduce((m, s) => (s.vaddr < m ? s.vaddr : m), loads[0].vaddr) & -page;
  const end = loads.reduce((m, s) => { const e = (s.vaddr + s.memsz + page - 1n) & -page; return e > m ? e : m; }, 0n);
  const dyn = segs.find((s) => s.type === PT_DYNAMIC);
  return { start: start + f.bias, end: end + f.bias, dynamic: dyn ? dyn.vaddr + f.bias : undefined };
}

interface Region { vaddr: bigint; size: number; flags: number; data?: Buffer; file?: CoreFile }

/** The core of this process, and where each file landed. */
export function processCore(p: ProcessSpec): { spec: CoreSpec; exe: Placed; libs: Placed[]; rDebug: bigint; nodes: LinkNode[] } {
  const e = new Endian(p.le, p.is64);
  const pageSize = p.pageSize ?? 4096;
  const page = BigInt(pageSize);
  const ws = e.ws;
  const regions: Region[] = [];
  const files: CoreFile[] = [];

  const mapFile = (f: LoadedElf): void => {
    const { segs } = elfFacts(f.elf);
    for (const s of segs.filter((x) => x.type === PT_LOAD)) {
      const vstart = (s.vaddr & -page) + f.bias;
      const vend = ((s.vaddr + s.memsz + page - 1n) & -page) + f.bias;
      const fileStart = s.offset & -page;
      const size = Number(vend - vstart);
      const flags = (s.flags & 4 ? PF_R : 0) | (s.flags & 2 ? PF_W : 0) | (s.flags & 1 ? PF_X : 0);
      let data: Buffer | undefined;
      const image = (): Buffer => {
        const b = Buffer.alloc(size);
        const from = Number(fileStart);
        const len = Number(s.offset + s.filesz) - from; // bss past filesz stays zero
        f.elf.copy(b, 0, from, Math.min(from + len, f.elf.length));
        return b;
      };
      if (s.flags & 2) data = image(); // written pages (relocations, .data, .bss): anonymous copies, dumped
      else if (fileStart === 0n && f.dumpHeader !== false) data = image().subarray(0, pageSize); // the ELF header page
      regions.push({ vaddr: vstart, size, flags, data });
      if (f.filePath !== undefined) files.push({ path: f.filePath, start: vstart, end: vend, pgoff: fileStart / page });
    }
  };

  const libs = p.libs ?? [];
  mapFile(p.exe);
  for (const l of libs) mapFile(l);
  if (p.vdso) {
    const size = Math.ceil(p.vdso.elf.length / pageSize) * pageSize;
    const data = Buffer.alloc(size);
    p.vdso.elf.copy(data);
    regions.push({ vaddr: p.vdso.addr, size, flags: PF_R | PF_X, data });
  }

  // Heap: r_debug, then the link_map nodes (5 words: l_addr, l_name, l_ld, l_next, l_prev), then names.
  const heap = p.heap ?? (p.is64 ? 0x5a0000000000n : 0x0a000000n);
  const heapBuf = Buffer.alloc(64 * 1024);
  const rDebug = heap;
  const version = p.rDebugVersion ?? 1;
  const nodeBase = heap + 0x100n;
  const nodeSize = 0x80n;
  const entries: { f: LoadedElf | { elf: Buffer; bias: bigint; lName: string }; placed: Placed }[] = [];
  const exe = place(p.exe, pageSize);
  if (p.exe.lName !== undefined) entries.push({ f: p.exe, placed: exe });
  const libPlaced = libs.map((l) => place(l, pageSize));
  libs.forEach((l, i) => { if (l.lName !== undefined) entries.push({ f: l, placed: libPlaced[i] }); });
  if (p.vdso?.lName !== undefined) {
    const v = { elf: p.vdso.elf, bias: p.vdso.addr - place({ elf: p.vdso.elf, bias: 0n }, pageSize).start, lName: p.vdso.lName };
    entries.push({ f: v, placed: place(v, pageSize) });
  }
  let strAt = heap + 0x8000n;
  const putString = (s: string): bigint => {
    const b = Buffer.from(`${s}\0`, 'utf8');
    const at = strAt;
    b.copy(heapBuf, Number(at - heap));
    strAt += BigInt(b.length + 7) & -8n;
    return at;
  };
  const nodes: LinkNode[] = entries.map((x, i) => ({
    addr: nodeBase + BigInt(i) * nodeSize,
    lAddr: x.f.bias,
    lName: putString(x.f.lName ?? ''),
    lLd: x.placed.dynamic ?? 0n,
    lNext: i + 1 < entries.length ? nodeBase + BigInt(i + 1) * nodeSize : 0n,
    lPrev: i > 0 ? nodeBase + BigInt(i - 1) * nodeSize : 0n,
  }));
  p.editLinkMap?.(nodes);
  e.put32(heapBuf, version, 0);
  e.putWord(heapBuf, nodes[0]?.addr ?? 0n, ws); // r_map
  e.putWord(heapBuf, 0x1234n, 2 * ws); // r_brk
  e.put32(heapBuf, 0, 3 * ws); // r_state RT_CONSISTENT
  for (const n of nodes) {
    const o = Number(n.addr - heap);
    if (o < 0 || o + 5 * ws > heapBuf.length) continue; // a node placed elsewhere by editLinkMap
    [n.lAddr, n.lName, n.lLd, n.lNext, n.lPrev].forEach((v, k) => e.putWord(heapBuf, v, o + k * ws));
  }
  regions.push({ vaddr: heap, size: heapBuf.length, flags: PF_R | PF_W, data: heapBuf });

  // Tell the dynamic linker's list to the executable: DT_DEBUG, or MIPS's RLD_MAP words.
  const write = (addr: bigint, value: bigint): boolean => {
    const r = regions.find((x) => x.data && addr >= x.vaddr && addr + BigInt(ws) <= x.vaddr + BigInt(x.data.length));
    if (!r?.data) return false;
    e.putWord(r.data, value, Number(addr - r.vaddr));
    return true;
  };
  if (exe.dynamic !== undefined) {
    const dynSeg = elfFacts(p.exe.elf).segs.find((s) => s.type === PT_DYNAMIC)!;
    for (let o = 0; o + 2 * ws <= Number(dynSeg.filesz); o += 2 * ws) {
      const tag = e.word(p.exe.elf, Number(dynSeg.offset) + o);
      const val = e.word(p.exe.elf, Number(dynSeg.offset) + o + ws);
      const slot = exe.dynamic + BigInt(o);
      if (tag === 0n) break;
      if (tag === DT_DEBUG) write(slot + BigInt(ws), rDebug); // fails, as on MIPS, when .dynamic is read-only
      if (tag === DT_MIPS_RLD_MAP) write(val + p.exe.bias, rDebug);
      if (tag === DT_MIPS_RLD_MAP_REL) write(slot + BigInt.asIntN(ws * 8, val), rDebug);
    }
  }

  // Stack: the auxiliary vector's strings.
  const stack = p.stack ?? (p.is64 ? 0x7ffc00000000n : 0xbf000000n);
  const stackBuf = Buffer.alloc(8192);
  const execfnAddr = stack + 0x1000n;
  if (p.execfn !== undefined) Buffer.from(`${p.execfn}\0`, 'utf8').copy(stackBuf, 0x1000);
  regions.push({ vaddr: stack, size: stackBuf.length, flags: PF_R | PF_W, data: stackBuf });

  const facts = elfFacts(p.exe.elf);
  const phdrSeg = facts.segs.find((s) => s.type === PT_PHDR);
  const firstLoad = facts.segs.find((s) => s.type === PT_LOAD && s.offset === 0n);
  const phdrAddr = phdrSeg ? phdrSeg.vaddr + p.exe.bias : (firstLoad?.vaddr ?? 0n) + BigInt(facts.phoff) + p.exe.bias;
  let auxv: [bigint, bigint][] = [
    [AT.PHDR, phdrAddr], [AT.PHENT, BigInt(facts.phentsize)], [AT.PHNUM, BigInt(facts.phnum)], [AT.PAGESZ, page],
    [AT.BASE, libs[0]?.bias ?? 0n], [AT.ENTRY, facts.entry + p.exe.bias],
    ...(p.execfn !== undefined ? [[AT.EXECFN, execfnAddr] as [bigint, bigint]] : []),
    ...(p.vdso ? [[AT.SYSINFO_EHDR, p.vdso.addr] as [bigint, bigint]] : []),
  ];
  if (p.editAuxv) auxv = p.editAuxv(auxv);

  regions.sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1));
  for (let i = 1; i < regions.length; i++) {
    const prev = regions[i - 1];
    if (prev.vaddr + BigInt(prev.size) > regions[i].vaddr) throw new Error(`overlapping regions at 0x${regions[i].vaddr.toString(16)}`);
  }
  let loads: CoreLoad[] = regions.map((r) => ({ vaddr: r.vaddr, memsz: BigInt(r.size), flags: r.flags, data: r.data }));
  if (p.editLoads) loads = p.editLoads(loads);
  const spec: CoreSpec = {
    is64: p.is64, le: p.le, machine: p.machine, pageSize, auxv, loads,
    files: p.fileNote ? files : undefined, fileNote: p.fileNote ?? false,
  };
  return { spec, exe, libs: libPlaced, rDebug, nodes };
}

export interface LoadableSpec {
  is64: boolean;
  le: boolean;
  machine?: number;
  /** 2 = ET_EXEC (linked at `vaddr`), 3 = ET_DYN (linked at 0). */
  type: 2 | 3;
  vaddr?: bigint;
  id?: Buffer;
  soname?: string;
  pageSize?: number;
  /** How the dynamic linker's list is announced: DT_DEBUG (default), MIPS's RLD_MAP words, or not at all. */
  debug?: 'dt_debug' | 'mips-rld-map' | 'mips-rld-map-rel' | 'none';
  /** .dynamic in the read-only first page (as MIPS links it) instead of the writable one. */
  dynamicInText?: boolean;
  /** PT_PHDR (default: executables have one). */
  phdrSelf?: boolean;
  /** No PT_DYNAMIC at all (a static executable). */
  noDynamic?: boolean;
  /**
   * One page of file: the text segment maps its first half, the writable one (.dynamic) its second
   * half at the next page, so the writable page in memory is a copy of the file's first page, ELF
   * header included, as with very small libraries.
   */
  compact?: boolean;
}

/**
 * A small loadable ELF file: page 0 holds the headers, the build-id note and .dynstr (and .dynamic
 * when dynamicInText), page 1 is the writable segment (.dynamic, the RLD_MAP word) plus a page of bss.
 */
export function loadable(s: LoadableSpec): Buffer {
  const e = new Endian(s.le, s.is64);
  const ws = e.ws;
  const page = s.pageSize ?? 4096;
  const base = s.vaddr ?? 0n;
  const ehsize = s.is64 ? 64 : 52;
  const phentsize = s.is64 ? 56 : 32;
  const phdrSelf = s.phdrSelf ?? s.type === 2;
  const debug = s.debug ?? 'dt_debug';
  const types = [...(phdrSelf ? [PT_PHDR] : []), PT_LOAD, PT_LOAD, ...(s.noDynamic ? [] : [PT_DYNAMIC]), PT_NOTE];
  const phnum = types.length;
  const b = Buffer.alloc(2 * page);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = s.is64 ? 2 : 1; b[5] = s.le ? 1 : 2; b[6] = 1;
  e.put16(b, s.type, 16); e.put16(b, s.machine ?? (s.is64 ? 62 : 3), 18); e.put32(b, 1, 20);
  const entry = base + 0x800n;
  if (s.is64) {
    e.putWord(b, entry, 24); e.putWord(b, BigInt(ehsize), 32); e.put16(b, ehsize, 52); e.put16(b, phentsize, 54); e.put16(b, phnum, 56);
  } else {
    e.put32(b, Number(entry), 24); e.put32(b, ehsize, 28); e.put16(b, ehsize, 40); e.put16(b, phentsize, 42); e.put16(b, phnum, 44);
  }
  // Note (build-id) after the program headers.
  let o = ehsize + phnum * phentsize;
  const noteOff = (o + 3) & ~3;
  const id = s.id ?? Buffer.alloc(0);
  if (s.id) {
    e.put32(b, 4, noteOff); e.put32(b, id.length, noteOff + 4); e.put32(b, 3, noteOff + 8);
    b.write('GNU\0', noteOff + 12, 'latin1');
    id.copy(b, noteOff + 16);
  }
  const noteSize = s.id ? 16 + ((id.length + 3) & ~3) : 0;
  o = noteOff + noteSize;
  const strOff = o;
  b[strOff] = 0;
  const sonameOff = 1;
  if (s.soname) b.write(`${s.soname}\0`, strOff + 1, 'utf8');
  const strSize = 1 + (s.soname ? Buffer.byteLength(s.soname) + 1 : 0);
  o = (strOff + strSize + 15) & ~15;
  const half = page / 2;
  const rldMapOff = s.compact ? half + 0x400 : page + 0x200; // a word in the writable page for ld.so to write &r_debug into
  const dynOff = s.compact ? half : s.dynamicInText ? o : page;
  const dyn: [bigint, bigint][] = [[5n, base + BigInt(strOff)], [10n, BigInt(strSize)]];
  if (s.soname) dyn.push([14n, BigInt(sonameOff)]);
  if (debug === 'dt_debug') dyn.push([DT_DEBUG, 0n]);
  if (debug === 'mips-rld-map') dyn.push([DT_MIPS_RLD_MAP, base + BigInt(rldMapOff)]);
  if (debug === 'mips-rld-map-rel') dyn.push([DT_MIPS_RLD_MAP_REL, 0n]); // value set below, relative to this entry
  if (s.dynamicInText && debug !== 'none') dyn.push([DT_DEBUG, 0n]); // MIPS keeps an unused DT_DEBUG too
  dyn.push([0n, 0n]);
  dyn.forEach(([t, v], i) => {
    const at = dynOff + i * 2 * ws;
    e.putWord(b, t, at);
    e.putWord(b, t === DT_MIPS_RLD_MAP_REL ? BigInt(rldMapOff - at) : v, at + ws);
  });
  const dynSize = dyn.length * 2 * ws;
  let k = 0;
  const ph = (type: number, flags: number, offset: number, vaddr: bigint, filesz: number, memsz: number, align: number): void => {
    const p = ehsize + k++ * phentsize;
    e.put32(b, type, p);
    if (s.is64) {
      e.put32(b, flags, p + 4); e.putWord(b, BigInt(offset), p + 8); e.putWord(b, vaddr, p + 16); e.putWord(b, vaddr, p + 24);
      e.putWord(b, BigInt(filesz), p + 32); e.putWord(b, BigInt(memsz), p + 40); e.putWord(b, BigInt(align), p + 48);
    } else {
      e.put32(b, offset, p + 4); e.put32(b, Number(vaddr), p + 8); e.put32(b, Number(vaddr), p + 12);
      e.put32(b, filesz, p + 16); e.put32(b, memsz, p + 20); e.put32(b, flags, p + 24); e.put32(b, align, p + 28);
    }
  };
  // In memory, file offset X of the writable segment lands at vaddr X + rwShift.
  const rwShift = s.compact ? page : 0;
  if (phdrSelf) ph(PT_PHDR, 4, ehsize, base + BigInt(ehsize), phnum * phentsize, phnum * phentsize, ws);
  if (s.compact) {
    ph(PT_LOAD, 5, 0, base, half, half, page);
    ph(PT_LOAD, 6, half, base + BigInt(half + rwShift), half, half, page);
  } else {
    ph(PT_LOAD, 5, 0, base, page, page, page);
    ph(PT_LOAD, 6, page, base + BigInt(page), page, 2 * page, page);
  }
  const dynVaddr = base + BigInt(dynOff + (s.dynamicInText ? 0 : rwShift));
  if (!s.noDynamic) ph(PT_DYNAMIC, s.dynamicInText ? 4 : 6, dynOff, dynVaddr, dynSize, dynSize, ws);
  ph(PT_NOTE, 4, noteOff, base + BigInt(noteOff), noteSize, noteSize, 4);
  return s.compact ? b.subarray(0, page) : b;
}
