// What a core dump says about its modules without an NT_FILE note (kernels before 3.7, other
// dumpers): the executable through the auxiliary vector (AT_PHDR, AT_PHNUM, AT_PHENT: its
// program headers in memory), and the shared objects through the dynamic linker's list — the
// executable's DT_DEBUG points at struct r_debug, whose r_map starts the chain of struct
// link_map { l_addr, l_name, l_ld, l_next, l_prev }. This follows elfutils' link_map.c
// (dwfl_link_map_report) and gdb's solib-svr4.c, reading only the core. Pointers in a damaged or
// hostile core may point anywhere or loop: every step is a bounded read, the walk is bounded by
// the number of segments and never visits a node twice.
import type { CoreMemory, Words } from './core-memory.js';
import {
  buildIdAtVaddrs, DT_DEBUG, DT_MIPS_RLD_MAP, DT_MIPS_RLD_MAP_REL, MAX_IMAGE_PHDRS, parsePhdrs, type Phdr,
  PT_DYNAMIC, PT_LOAD, PT_PHDR, readDynamic, readImage,
} from './core-image.js';

export const AT_PHDR = 3n;
export const AT_PHENT = 4n;
export const AT_PHNUM = 5n;
export const AT_PAGESZ = 6n;
export const AT_BASE = 7n;
export const AT_ENTRY = 9n;
export const AT_SYSINFO_EHDR = 33n;
export const AT_EXECFN = 31n;

const EM_MIPS = 8;
const EM_MIPS_RS3_LE = 10;

/** The auxiliary vector entries this reader uses (the first of each type, up to AT_NULL). */
export type Auxv = Map<bigint, bigint>;

export function parseAuxv(desc: Buffer, w: Words): Auxv {
  const out: Auxv = new Map();
  const ws = w.size;
  for (let o = 0; o + 2 * ws <= desc.length; o += 2 * ws) {
    const t = w.word(desc, o);
    if (t === 0n) break; // AT_NULL
    if (!out.has(t)) out.set(t, w.word(desc, o + ws));
  }
  return out;
}

export interface Executable {
  /** Module bounds in memory. */
  start: bigint;
  end: bigint;
  bias: bigint;
  /** The executable's own dynamic section in memory (absent for static executables). */
  dynamic?: { addr: bigint; size: bigint };
  buildId?: string;
}

/**
 * The main executable located through AT_PHDR: its program headers as the kernel mapped them.
 * The load bias comes from PT_PHDR (as in ld.so); an executable without PT_PHDR gets it from its
 * ELF header at the start of the page holding the program headers, when that page is dumped,
 * else is taken as not relocated (ET_EXEC), as elfutils does.
 */
export async function executableFromAuxv(mem: CoreMemory, auxv: Auxv, w: Words, pageSize: bigint): Promise<Executable | undefined> {
  const phdrAddr = auxv.get(AT_PHDR);
  const phnum = auxv.get(AT_PHNUM);
  const phent = auxv.get(AT_PHENT) ?? BigInt(w.is64 ? 56 : 32);
  if (!phdrAddr || !phnum || phent !== BigInt(w.is64 ? 56 : 32)) return undefined;
  if (phnum * phent > BigInt(MAX_IMAGE_PHDRS)) return undefined;
  const table = await mem.readMem(phdrAddr, Number(phnum * phent));
  if (!table) return undefined;
  const phdrs = parsePhdrs(table, Number(phnum), Number(phent), w);
  const mask = w.wrap(-pageSize);
  let bias: bigint | undefined;
  const self = phdrs.find((p) => p.type === PT_PHDR);
  if (self && ((self.vaddr ^ phdrAddr) & (pageSize - 1n)) === 0n) bias = w.wrap(phdrAddr - self.vaddr);
  bias ??= await biasFromHeader(mem, phdrAddr, phdrs, mask, w);
  bias ??= 0n;
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  if (!loads.length) return undefined;
  let start = loads[0].vaddr & mask;
  let end = 0n;
  for (const p of loads) {
    if ((p.vaddr & mask) < start) start = p.vaddr & mask;
    const e = (p.vaddr + p.memsz + pageSize - 1n) & mask;
    if (e > end) end = e;
  }
  const first = w.wrap(start + bias);
  const last = w.wrap(end + bias);
  if (last <= first) return undefined;
  const dyn = phdrs.find((p) => p.type === PT_DYNAMIC);
  return {
    start: first,
    end: last,
    bias,
    dynamic: dyn && dyn.filesz > 0n ? { addr: w.wrap(dyn.vaddr + bias), size: dyn.filesz } : undefined,
    buildId: await buildIdAtVaddrs(mem, phdrs, bias, w),
  };
}

/** Bias from the ELF header heading the page of the program headers, when its e_phoff agrees. */
async function biasFromHeader(mem: CoreMemory, phdrAddr: bigint, phdrs: Phdr[], mask: bigint, w: Words): Promise<bigint | undefined> {
  const base = phdrAddr & mask;
  const probe = await readImage(mem, base);
  if (!probe.dumped || !probe.elf || !probe.image || base + BigInt(probe.image.phoff) !== phdrAddr) return undefined;
  const first = phdrs.find((p) => p.type === PT_LOAD && (p.offset & mask) === 0n);
  return first ? w.wrap(base - (first.vaddr & mask)) : undefined;
}

/**
 * Where struct r_debug is, from a dynamic section in memory: DT_DEBUG's value, or on MIPS the word
 * DT_MIPS_RLD_MAP / DT_MIPS_RLD_MAP_REL points at (checked first, as gdb does).
 */
export async function rDebugAddress(mem: CoreMemory, dynamic: { addr: bigint; size: bigint }, w: Words, machine: number): Promise<bigint | undefined> {
  const dyn = await readDynamic(mem, dynamic.addr, dynamic.size, w);
  if (!dyn) return undefined;
  if (machine === EM_MIPS || machine === EM_MIPS_RS3_LE) {
    for (const d of dyn) {
      let at: bigint | undefined;
      if (d.tag === DT_MIPS_RLD_MAP) at = d.value;
      else if (d.tag === DT_MIPS_RLD_MAP_REL) at = w.wrap(d.addr + d.value); // offset from the entry, may be negative
      if (!at) continue;
      const ptr = await mem.readWords(at, 1, w);
      if (ptr?.[0]) return ptr[0];
    }
  }
  const debug = dyn.find((d) => d.tag === DT_DEBUG)?.value;
  return debug || undefined;
}

export interface LinkMapEntry {
  /** l_addr: the load bias of the object. */
  lAddr: bigint;
  /** l_name when it is dumped and not empty ("" for the main program, as glibc leaves it). */
  name?: string;
  /** l_ld: the address of the object's dynamic section. */
  lLd: bigint;
}

/**
 * The objects on the dynamic linker's list(s), in list order: r_map of r_debug and, for
 * r_version >= 2 (glibc 2.35 namespaces), of every r_debug_extended on the r_next chain.
 * At most `budget` nodes are read in all; a node seen twice ends its list.
 */
export async function walkLinkMap(mem: CoreMemory, rDebug: bigint, w: Words, budget: number): Promise<LinkMapEntry[]> {
  const out: LinkMapEntry[] = [];
  const seenNodes = new Set<bigint>();
  const seenDebug = new Set<bigint>();
  let debug: bigint | undefined = rDebug;
  while (debug && !seenDebug.has(debug) && budget > 0) {
    seenDebug.add(debug);
    // struct r_debug { int r_version; struct link_map *r_map; ElfW(Addr) r_brk; int r_state; ElfW(Addr) r_ldbase; } and r_next after it.
    const head = await mem.readMem(debug, 6 * w.size);
    const short = head ?? (await mem.readMem(debug, 2 * w.size));
    if (!short) break;
    const version = w.u32(short, 0);
    let node = w.word(short, w.size);
    while (node && !seenNodes.has(node) && budget > 0) {
      seenNodes.add(node);
      budget--;
      const words = await mem.readWords(node, 4, w);
      if (!words) break;
      const [lAddr, lName, lLd, lNext] = words;
      node = lNext;
      if (lLd === 0n) continue; // a clobbered entry: skip it, as elfutils does
      const name = await mem.readString(lName);
      out.push({ lAddr, lLd, ...(name ? { name } : {}) });
    }
    debug = version >= 2 && head ? w.word(head, 5 * w.size) : undefined;
  }
  return out;
}
