// The modules (executable, shared libraries, vDSO) of an ELF core dump with their GNU build-ids,
// like `eu-unstrip -n --core FILE`. Core files can be gigabytes: everything is read with
// positional reads of the few byte ranges needed (headers, the note segment, one page per module).
//
// Three sources, merged as elfutils' dwfl_core_file_report merges them:
// - the NT_FILE note (Linux >= 3.7): every mapped file with its path; authoritative for paths;
// - the auxiliary vector and the dynamic linker's list (core-link-map.ts): the executable, and
//   every shared object with its l_name, in cores without NT_FILE (older kernels, other dumpers);
// - ELF headers at the start of dumped segments (core-image.ts): the vDSO, and any module the
//   other two miss; each gets its build-id from its own notes.
import { open, type FileHandle } from 'node:fs/promises';
import { UserError, ioMessage } from '../errors.js';
import {
  DT_DEBUG, imageBuildId, imageLayout, imageSoname, readDynamic, readImage, type ImageLayout, type MemoryImage,
} from './core-image.js';
import {
  AT_EXECFN, AT_PAGESZ, AT_PHDR, AT_SYSINFO_EHDR, executableFromAuxv, parseAuxv, rDebugAddress, walkLinkMap, type Auxv, type LinkMapEntry,
} from './core-link-map.js';
import { CoreMemory, Words, type Load } from './core-memory.js';
import { ElfHeader, ET_CORE, ET_DYN, ET_EXEC, ET_REL, isElf, noteSegments, parseElfHeader } from './header.js';
import { parseNotes } from './notes.js';

export interface CoreModule {
  /**
   * Where the core names the module: the NT_FILE path, else the dynamic linker's l_name, "[vdso]",
   * the executable's AT_EXECFN, its DT_SONAME, else "[exe]", "[pie]" or "[dso]" as eu-unstrip says.
   */
  path: string;
  /** Lowest mapped address of this module (where file offset 0 is mapped), hex like "0x7f12...". */
  start: string;
  /** First address past its highest mapping, hex. */
  end: string;
  /** GNU build-id (lowercase hex) read from the note in the dumped first page of the module, when the core holds it. */
  buildId?: string;
}

export const NT_FILE = 0x46494c45;
export const NT_AUXV = 6;
const PT_LOAD = 1;
const PN_XNUM = 0xffff;

const MiB = 1 << 20;
/** Caps on what one core may make us allocate. */
const MAX_PHDR_TABLE = 64 * MiB;
const MAX_NOTES = 64 * MiB;

const hex = (v: bigint): string => `0x${v.toString(16)}`;

interface FileMapping {
  start: bigint;
  end: bigint;
  /** File offset of the mapping, in pages. */
  pgoff: bigint;
  path: string;
}

interface Found {
  start: bigint;
  end: bigint;
  path: string;
  buildId?: string;
}

/** A module found by its ELF header at the start of a dumped segment (its program headers not kept). */
interface Sniffed extends ImageLayout {
  image: Pick<MemoryImage, 'w' | 'type'>;
  buildId?: string;
  name?: string;
}

/** Modules by address: which one holds an address (they seldom overlap: a few are looked back at). */
class Ranges<T extends { start: bigint; end: bigint }> {
  private readonly sorted: T[];
  constructor(items: T[]) {
    this.sorted = [...items].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  private lastAtOrBelow(addr: bigint): number {
    let lo = 0;
    let hi = this.sorted.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid].start <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return best;
  }

  containing(addr: bigint): T | undefined {
    const i = this.lastAtOrBelow(addr);
    for (let k = i; k >= 0 && k > i - 16; k--) if (addr < this.sorted[k].end) return this.sorted[k];
    return undefined;
  }

  startsAt(addr: bigint): boolean {
    const i = this.lastAtOrBelow(addr);
    return i >= 0 && this.sorted[i].start === addr;
  }
}

interface Probe { dumped: boolean; elf?: boolean; buildId?: string }

class CoreReader {
  readonly mem: CoreMemory;
  /** Modules already looked at, by first address and mapping end (many paths may share one). */
  private probes = new Map<string, Promise<Probe>>();

  constructor(name: string, fh: FileHandle, size: number) {
    this.mem = new CoreMemory(name, fh, size);
  }

  fail(sentence: string): never {
    return this.mem.fail(sentence);
  }

  get size(): number { return this.mem.size; }

  async header(): Promise<ElfHeader> {
    if (this.size === 0) this.fail('empty file, not an ELF core dump');
    const head = await this.mem.readAt(0, 64);
    if (!isElf(head)) this.fail('not an ELF file');
    const h = parseElfHeader(head);
    if (!h) {
      if (head.length >= 6 && (![1, 2].includes(head[4]) || ![1, 2].includes(head[5]))) {
        this.fail(`damaged ELF header (class byte ${head[4]}, byte-order byte ${head[5]})`);
      }
      this.fail(`truncated ELF header (the file has only ${this.size} bytes)`);
    }
    if (h.type !== ET_CORE) {
      const what: Record<number, string> = { [ET_EXEC]: 'executable', [ET_DYN]: 'shared object', [ET_REL]: 'relocatable' };
      this.fail(what[h.type] ? `an ELF ${what[h.type]} file, not a core dump` : `an ELF file of type ${h.type}, not a core dump`);
    }
    return h;
  }

  /** The program header count, following PN_XNUM to section 0's sh_info. */
  private async phnum(h: ElfHeader, w: Words): Promise<number> {
    if (h.phnum !== PN_XNUM) return h.phnum;
    const shsize = h.is64 ? 64 : 40;
    const sh0 = h.shoff === 0 ? Buffer.alloc(0) : await this.mem.readAt(h.shoff, shsize);
    if (sh0.length < shsize) this.fail('damaged core dump: e_phnum is PN_XNUM but section header 0 is missing');
    return w.u32(sh0, h.is64 ? 44 : 28);
  }

  async programHeaders(h: ElfHeader, w: Words): Promise<{ table: Buffer; phnum: number }> {
    const phnum = await this.phnum(h, w);
    const minEnt = h.is64 ? 56 : 32;
    if (phnum === 0) this.fail('damaged core dump: no program headers');
    if (h.phentsize < minEnt) this.fail(`damaged core dump: program header entries of ${h.phentsize} bytes (expected ${minEnt})`);
    const tableSize = phnum * h.phentsize;
    if (tableSize > MAX_PHDR_TABLE) this.fail(`${phnum} program headers exceed the ${MAX_PHDR_TABLE / MiB} MiB limit`);
    if (h.phoff + tableSize > this.size) {
      this.fail(`truncated core dump: the program header table ends at byte ${h.phoff + tableSize}, the file has ${this.size}`);
    }
    const table = await this.mem.readAt(h.phoff, tableSize);
    const loads: Load[] = [];
    for (let i = 0; i < phnum; i++) {
      const o = i * h.phentsize;
      if (w.u32(table, o) !== PT_LOAD) continue;
      loads.push(h.is64
        ? { flags: w.u32(table, o + 4), offset: w.u64(table, o + 8), vaddr: w.u64(table, o + 16), filesz: w.u64(table, o + 32), memsz: w.u64(table, o + 40), align: w.u64(table, o + 48) }
        : { offset: w.word(table, o + 4), vaddr: w.word(table, o + 8), filesz: w.word(table, o + 16), memsz: w.word(table, o + 20), flags: w.u32(table, o + 24), align: w.word(table, o + 28) });
    }
    this.mem.setLoads(loads);
    return { table, phnum };
  }

  /**
   * The ELF image whose first page is mapped at base (file offset 0) and whose mapping ends at
   * limit: is that page dumped, is it ELF, and which build-id does it carry.
   */
  probeModule(base: bigint, limit: bigint): Promise<Probe> {
    const key = `${base}:${limit}`;
    let p = this.probes.get(key);
    if (!p) this.probes.set(key, (p = this.probeOnce(base, limit)));
    return p;
  }

  private async probeOnce(base: bigint, limit: bigint): Promise<Probe> {
    const probe = await readImage(this.mem, base, limit);
    if (!probe.dumped) return { dumped: false };
    if (!probe.elf) return { dumped: true, elf: false };
    const image = probe.image;
    if (!image) return { dumped: true, elf: true };
    return { dumped: true, elf: true, buildId: await imageBuildId(this.mem, image, limit) };
  }
}

function parseFileNote(core: CoreReader, desc: Buffer, w: Words): { pageSize: bigint; maps: FileMapping[] } {
  const ws = w.size;
  if (desc.length < 2 * ws) core.fail(`damaged NT_FILE note (${desc.length} bytes)`);
  const count = w.word(desc, 0);
  const room = BigInt(Math.floor((desc.length - 2 * ws) / (3 * ws)));
  if (count > room) core.fail(`damaged NT_FILE note (${count} mappings do not fit in its ${desc.length} bytes)`);
  const n = Number(count);
  const maps: FileMapping[] = [];
  let names = 2 * ws + n * 3 * ws;
  for (let i = 0; i < n; i++) {
    const o = 2 * ws + i * 3 * ws;
    const nul = desc.indexOf(0, names);
    if (nul === -1) core.fail(`damaged NT_FILE note (${n} mappings but only ${i} file names)`);
    maps.push({ start: w.word(desc, o), end: w.word(desc, o + ws), pgoff: w.word(desc, o + 2 * ws), path: desc.toString('utf8', names, nul) });
    names = nul + 1;
  }
  return { pageSize: w.word(desc, ws), maps };
}

export interface ReadCoreOptions {
  /** How messages name the core (default: the path), e.g. "standard input" for a spooled copy. */
  name?: string;
}

/** The modules of an ELF core dump, ordered by start address. Throws UserError (exit 2) for anything but a readable core. */
export async function readCoreModules(file: string, opts: ReadCoreOptions = {}): Promise<CoreModule[]> {
  const name = opts.name ?? file;
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new UserError(`${name}: ${ioMessage(e)}`, 2);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UserError(`${name}: not a regular file`, 2);
    return await modulesOf(new CoreReader(name, fh, st.size));
  } finally {
    await fh.close();
  }
}

/** A page size to align module bounds with: AT_PAGESZ, else NT_FILE's, else the segments' alignment. */
function pickPageSize(auxv: Auxv, filePageSize: bigint | undefined, loads: Load[]): bigint {
  const ok = (v: bigint | undefined): v is bigint => v !== undefined && v >= 256n && v <= 1n << 30n && (v & (v - 1n)) === 0n;
  const fromAuxv = auxv.get(AT_PAGESZ);
  if (ok(fromAuxv)) return fromAuxv;
  if (ok(filePageSize)) return filePageSize;
  const fromLoads = loads.find((l) => ok(l.align))?.align;
  return ok(fromLoads) ? fromLoads : 4096n;
}

async function modulesOf(core: CoreReader): Promise<CoreModule[]> {
  const { mem } = core;
  const h = await core.header();
  const w = new Words(h.littleEndian, h.is64);
  const { table, phnum } = await core.programHeaders(h, w);

  let fileNote: Buffer | undefined;
  let auxvNote: Buffer | undefined;
  let noteBytes = 0;
  for (const seg of noteSegments({ ...h, phnum }, table)) {
    if (seg.size === 0) continue;
    noteBytes += seg.size;
    if (noteBytes > MAX_NOTES) core.fail(`note segments larger than the ${MAX_NOTES / MiB} MiB limit`);
    if (seg.offset + seg.size > core.size) {
      core.fail(`truncated core dump: the note segment ends at byte ${seg.offset + seg.size}, the file has ${core.size}`);
    }
    const buf = await mem.readAt(seg.offset, seg.size);
    for (const note of parseNotes(buf, h.littleEndian, seg.align)) {
      if (note.name !== 'CORE') continue;
      if (note.type === NT_FILE && !fileNote) fileNote = note.desc;
      else if (note.type === NT_AUXV && !auxvNote) auxvNote = note.desc;
    }
  }

  const files = fileNote ? parseFileNote(core, fileNote, w) : undefined;
  const auxv = auxvNote ? parseAuxv(auxvNote, w) : new Map<bigint, bigint>();
  const pageSize = pickPageSize(auxv, files?.pageSize, mem.loads);
  const fromFiles: Found[] = files ? await fileModules(core, files.maps) : [];
  const found: Found[] = [...fromFiles];

  const sniffed = await sniffSegments(core, pageSize);
  const exe = await executableFromAuxv(mem, auxv, w, pageSize);
  const linkMap = await linkMapOf(core, h.machine, w, pageSize, exe?.dynamic, sniffed);
  const vdso = auxv.get(AT_SYSINFO_EHDR);
  const execfn = auxv.has(AT_EXECFN) ? await mem.readString(auxv.get(AT_EXECFN)!) : undefined;

  // NT_FILE stays authoritative: a header found where it already has a module adds nothing.
  const byFile = new Ranges(fromFiles);
  const maps = new Ranges(files?.maps ?? []);
  for (const s of sniffed) {
    if (byFile.startsAt(s.start) || byFile.containing(s.start)?.buildId) continue;
    const path = maps.containing(s.start)?.path ?? (await nameOf(core, s, { vdso, exe: exe?.start, execfn }));
    found.push({ start: s.start, end: s.end, path, buildId: s.buildId });
  }
  let index = new Ranges(found);
  const at = (addr: bigint): Found | undefined => index.containing(addr);

  // The executable, when its first page is not dumped (its program headers may still be).
  if (exe && !at(exe.start)) found.push({ start: exe.start, end: exe.end, path: execfn || '[exe]', buildId: exe.buildId });
  // Not even its program headers: AT_PHDR still says where its first page is mapped (the headers
  // lie in the first page), and AT_EXECFN what it is.
  const phdr = auxv.get(AT_PHDR);
  const phdrLoad = !exe && phdr ? mem.loadAt(phdr) : undefined;
  if (phdr && phdrLoad && phdr - phdrLoad.vaddr < pageSize && phdr >= phdrLoad.vaddr + phdrLoad.filesz && !at(phdr)) {
    found.push({ start: phdrLoad.vaddr, end: phdrLoad.vaddr + phdrLoad.memsz, path: execfn || '[exe]' });
  }

  // Objects the dynamic linker lists whose headers are not in the core: their name, no build-id.
  index = new Ranges(found);
  const listed: Found[] = [];
  for (const e of linkMap) {
    if (!e.name || at(e.lLd)) continue;
    listed.push(await unsniffed(core, e, pageSize));
  }
  found.push(...listed);

  if (vdso && !new Ranges(found).startsAt(vdso)) {
    const load = mem.loadAt(vdso);
    if (load) {
      const end = load.vaddr + (load.memsz > load.filesz ? load.memsz : load.filesz);
      const probe = await core.probeModule(vdso, end);
      if (!probe.dumped || probe.elf) found.push({ start: vdso, end, path: '[vdso]', buildId: probe.buildId });
    }
  }

  found.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.path < b.path ? -1 : 1));
  return found.map((m) => ({
    path: m.path, start: hex(m.start), end: hex(m.end), ...(m.buildId ? { buildId: m.buildId } : {}),
  }));
}

/** Modules from NT_FILE: one per mapped path, located by its mapping of file offset 0. */
async function fileModules(core: CoreReader, maps: FileMapping[]): Promise<Found[]> {
  const byPath = new Map<string, FileMapping[]>();
  for (const m of maps) {
    const list = byPath.get(m.path);
    if (list) list.push(m); else byPath.set(m.path, [m]);
  }
  const found: Found[] = [];
  for (const [path, list] of byPath) {
    let head: FileMapping | undefined;
    let lowest = list[0].start;
    let end = list[0].end;
    for (const m of list) {
      if (m.pgoff === 0n && (!head || m.start < head.start)) head = m;
      if (m.start < lowest) lowest = m.start;
      if (m.end > end) end = m.end;
    }
    const probe = head ? await core.probeModule(head.start, head.end) : { dumped: false };
    // A dumped first page that is not ELF is a data file. When the first page is not in the core
    // (the kernel dumps it only for ELF images), keep the file only if it was mapped executable:
    // that drops locale archives, caches and fonts, as eu-unstrip does, and keeps code.
    if (probe.dumped ? !probe.elf : !list.some((m) => core.mem.executableAt(m.start))) continue;
    found.push({ start: head?.start ?? lowest, end, path, buildId: probe.buildId });
  }
  return found;
}

/**
 * Modules whose ELF header starts a dumped segment, in address order; the segments a module
 * spans are not looked at again (dwfl_segment_report_module's walk).
 */
async function sniffSegments(core: CoreReader, pageSize: bigint): Promise<Sniffed[]> {
  const loads = core.mem.loads;
  const out: Sniffed[] = [];
  for (let i = 0; i < loads.length;) {
    const l = loads[i];
    const probe = l.filesz >= 16n ? await readImage(core.mem, l.vaddr) : undefined;
    const image = probe?.dumped && probe.elf ? probe.image : undefined;
    const layout = image && imageLayout(image, pageSize);
    if (!image || !layout) { i++; continue; }
    out.push({ ...layout, image: { w: image.w, type: image.type }, buildId: await imageBuildId(core.mem, image, layout.end) });
    let next = i + 1;
    while (next < loads.length && loads[next].vaddr < layout.end) next++;
    i = next;
  }
  return out;
}

/**
 * The dynamic linker's list, found through the executable's dynamic section (from AT_PHDR), else
 * through that of a module found by its header that has a DT_DEBUG (an executable). Sniffed
 * modules take their l_name here, moved to where l_ld says their dynamic section is when the
 * header found was a copy (a small object whose data page maps file offset 0 too).
 */
async function linkMapOf(core: CoreReader, machine: number, w: Words, pageSize: bigint, exeDynamic: { addr: bigint; size: bigint } | undefined,
  sniffed: Sniffed[]): Promise<LinkMapEntry[]> {
  const { mem } = core;
  let rDebug = exeDynamic && (await rDebugAddress(mem, exeDynamic, w, machine));
  // Without the executable's program headers: the first modules that look like one (a few are
  // enough; a hostile core may have thousands of headers).
  const candidates = sniffed.filter((s) => s.dynamic && s.image.w.is64 === w.is64).slice(0, 64);
  for (const s of candidates) {
    if (rDebug) break;
    rDebug = await rDebugAddress(mem, s.dynamic!, w, machine);
  }
  if (!rDebug) return [];
  // A list longer than the core has segments must loop (every object maps at least one), and
  // no process has more objects than vm.max_map_count (65530) allows mappings.
  const entries = await walkLinkMap(mem, rDebug, w, Math.min(mem.loads.length + 1, 65536));
  const seen = new Set<bigint>();
  const unique = entries.filter((e) => !seen.has(e.lLd) && seen.add(e.lLd));
  const byLd = [...unique].sort((a, b) => (a.lLd < b.lLd ? -1 : a.lLd > b.lLd ? 1 : 0));
  const firstAtOrAbove = (addr: bigint): number => {
    let lo = 0;
    let hi = byLd.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byLd[mid].lLd < addr) lo = mid + 1; else hi = mid;
    }
    return lo;
  };
  for (const s of sniffed) {
    for (let k = firstAtOrAbove(s.start); k < byLd.length && byLd[k].lLd < s.end; k++) {
      const e = byLd[k];
      if (s.dynamic && s.dynamic.addr !== e.lLd) {
        const fixup = BigInt.asIntN(w.bits, e.lLd - s.dynamic.addr);
        if (fixup % pageSize !== 0n || !(s.start + fixup <= e.lLd && e.lLd < s.end + fixup)) continue;
        s.start += fixup; s.end += fixup; s.bias += fixup; s.dynamic.addr += fixup;
      }
      if (e.name) s.name = e.name;
      break;
    }
  }
  return unique;
}

/** A sniffed module's name where the core gives one, else eu-unstrip's placeholder. */
async function nameOf(core: CoreReader, s: Sniffed, o: { vdso?: bigint; exe?: bigint; execfn?: string }): Promise<string> {
  if (o.vdso !== undefined && s.start === o.vdso) return '[vdso]';
  if (s.name) return s.name;
  if (o.exe !== undefined && s.start === o.exe && o.execfn) return o.execfn;
  // DT_SONAME, DT_STRTAB and DT_STRSZ come early in .dynamic: its first 4 KiB are enough.
  const dyn = s.dynamic ? await readDynamic(core.mem, s.dynamic.addr, s.dynamic.size < 4096n ? s.dynamic.size : 4096n, s.image.w) : undefined;
  const soname = dyn && (await imageSoname(core.mem, s, dyn));
  if (soname) return soname;
  if (s.image.type === ET_EXEC) return '[exe]';
  return dyn?.some((d) => d.tag === DT_DEBUG) ? '[pie]' : '[dso]';
}

/**
 * An object on the dynamic linker's list whose header no segment starts with. Its header may
 * still be dumped at l_addr (segments merged); otherwise its bounds are those of the segment
 * holding its dynamic section, from l_addr when that lies below.
 */
async function unsniffed(core: CoreReader, e: LinkMapEntry, pageSize: bigint): Promise<Found> {
  const probe = e.lAddr ? await readImage(core.mem, e.lAddr) : undefined;
  const layout = probe?.dumped && probe.elf && probe.image ? imageLayout(probe.image, pageSize) : undefined;
  if (probe?.dumped && probe.elf && probe.image && layout && layout.start <= e.lLd && e.lLd < layout.end) {
    return { start: layout.start, end: layout.end, path: e.name!, buildId: await imageBuildId(core.mem, probe.image, layout.end) };
  }
  const load = core.mem.loadAt(e.lLd);
  const segEnd = load ? load.vaddr + (load.memsz > load.filesz ? load.memsz : load.filesz) : e.lLd + pageSize;
  const start = e.lAddr && e.lAddr <= e.lLd ? e.lAddr : load?.vaddr ?? e.lLd;
  return { start, end: segEnd > start ? segEnd : start + pageSize, path: e.name! };
}
