// The modules (executable, shared libraries, vDSO) of an ELF core dump with their GNU build-ids,
// like `eu-unstrip -n --core FILE`. Core files can be gigabytes: everything is read with
// positional reads of the few byte ranges needed (headers, the note segment, one page per module).
import { open, type FileHandle } from 'node:fs/promises';
import { UserError, ioMessage } from '../errors.js';
import { ElfHeader, ET_CORE, ET_DYN, ET_EXEC, ET_REL, isElf, noteSegments, parseElfHeader } from './header.js';
import { findBuildId, parseNotes } from './notes.js';

export interface CoreModule {
  /** File path from the NT_FILE note ("[vdso]" for the vDSO found through NT_AUXV AT_SYSINFO_EHDR). */
  path: string;
  /** Lowest mapped address of this file (the start of its mapping of file offset 0), hex like "0x7f12...". */
  start: string;
  /** End of its highest mapping (first address past it), hex. */
  end: string;
  /** GNU build-id (lowercase hex) read from the note in the dumped first page of the module, when the core holds it. */
  buildId?: string;
}

export const NT_FILE = 0x46494c45;
export const NT_AUXV = 6;
export const AT_SYSINFO_EHDR = 33;
const PT_LOAD = 1;
const PF_X = 1;
const PN_XNUM = 0xffff;

const MiB = 1 << 20;
/** Caps on what one core may make us allocate. */
const MAX_PHDR_TABLE = 64 * MiB;
const MAX_NOTES = 64 * MiB;
const MAX_MODULE_PHDRS = 1 * MiB;
const MAX_MODULE_NOTE = 1 * MiB;
/** Note segments looked at per module: real ones have two or three, a hostile one thousands. */
const MAX_MODULE_NOTES = 16;

const hex = (v: bigint): string => `0x${v.toString(16)}`;

interface Load {
  vaddr: bigint;
  memsz: bigint;
  filesz: bigint;
  offset: bigint;
  flags: number;
}

interface FileMapping {
  start: bigint;
  end: bigint;
  /** File offset of the mapping, in pages. */
  pgoff: bigint;
  path: string;
}

/** Binary data of the core with its byte order and word width. */
class Words {
  constructor(readonly le: boolean, readonly is64: boolean) {}
  get size(): number { return this.is64 ? 8 : 4; }
  u32(b: Buffer, o: number): number { return this.le ? b.readUInt32LE(o) : b.readUInt32BE(o); }
  u64(b: Buffer, o: number): bigint { return this.le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o); }
  /** An address-sized word (Elf32_Addr / Elf64_Addr). */
  word(b: Buffer, o: number): bigint { return this.is64 ? this.u64(b, o) : BigInt(this.u32(b, o)); }
}

class CoreReader {
  private loads: Load[] = [];
  /** Modules already looked at, by first address and mapping end (many paths may share one). */
  private probes = new Map<string, Promise<{ dumped: boolean; elf?: boolean; buildId?: string }>>();

  constructor(readonly file: string, private readonly fh: FileHandle, readonly size: number) {}

  fail(sentence: string): never {
    throw new UserError(`${this.file}: ${sentence}`, 2);
  }

  /** Bytes at a file offset; shorter than asked only at the end of the file. */
  async readAt(offset: number, length: number): Promise<Buffer> {
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

  async header(): Promise<ElfHeader> {
    if (this.size === 0) this.fail('empty file, not an ELF core dump');
    const head = await this.readAt(0, 64);
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
    const sh0 = h.shoff === 0 ? Buffer.alloc(0) : await this.readAt(h.shoff, shsize);
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
    const table = await this.readAt(h.phoff, tableSize);
    for (let i = 0; i < phnum; i++) {
      const o = i * h.phentsize;
      if (w.u32(table, o) !== PT_LOAD) continue;
      this.loads.push(h.is64
        ? { flags: w.u32(table, o + 4), offset: w.u64(table, o + 8), vaddr: w.u64(table, o + 16), filesz: w.u64(table, o + 32), memsz: w.u64(table, o + 40) }
        : { offset: w.word(table, o + 4), vaddr: w.word(table, o + 8), filesz: w.word(table, o + 16), memsz: w.word(table, o + 20), flags: w.u32(table, o + 24) });
    }
    this.loads.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
    return { table, phnum };
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

  /** Whether the segment dumping addr was mapped executable. */
  executableAt(addr: bigint): boolean {
    const l = this.loadAt(addr);
    return l !== undefined && (l.flags & PF_X) !== 0;
  }

  /**
   * Look at the ELF image whose first page is mapped at base (file offset 0) and whose mapping ends
   * at limit: is that page dumped, is it ELF, and which build-id does it carry.
   */
  probeModule(base: bigint, limit: bigint): Promise<{ dumped: boolean; elf?: boolean; buildId?: string }> {
    const key = `${base}:${limit}`;
    let p = this.probes.get(key);
    if (!p) this.probes.set(key, (p = this.probeOnce(base, limit)));
    return p;
  }

  private async probeOnce(base: bigint, limit: bigint): Promise<{ dumped: boolean; elf?: boolean; buildId?: string }> {
    const ident = await this.readMem(base, 16);
    if (!ident) return { dumped: false };
    if (!isElf(ident)) return { dumped: true, elf: false };
    const head = (await this.readMem(base, 64)) ?? (await this.readMem(base, 52));
    const h = head && parseElfHeader(head);
    if (!h) return { dumped: true, elf: true };
    const minEnt = h.is64 ? 56 : 32;
    const tableSize = h.phnum * h.phentsize;
    if (h.phnum === 0 || h.phentsize < minEnt || tableSize > MAX_MODULE_PHDRS) return { dumped: true, elf: true };
    const inside = (off: number, len: number): boolean => base + BigInt(off) + BigInt(len) <= limit;
    if (!inside(h.phoff, tableSize)) return { dumped: true, elf: true };
    const table = await this.readMem(base + BigInt(h.phoff), tableSize);
    if (!table) return { dumped: true, elf: true };
    for (const note of noteSegments(h, table).slice(0, MAX_MODULE_NOTES)) {
      if (note.size === 0 || note.size > MAX_MODULE_NOTE || !inside(note.offset, note.size)) continue;
      const bytes = await this.readMem(base + BigInt(note.offset), note.size);
      if (!bytes) continue;
      const buildId = findBuildId(bytes, h.littleEndian, note.align);
      if (buildId) return { dumped: true, elf: true, buildId };
    }
    return { dumped: true, elf: true };
  }
}

function parseFileNote(core: CoreReader, desc: Buffer, w: Words): FileMapping[] {
  const ws = w.size;
  if (desc.length < 2 * ws) core.fail(`damaged NT_FILE note (${desc.length} bytes)`);
  const count = w.word(desc, 0);
  const room = BigInt(Math.floor((desc.length - 2 * ws) / (3 * ws)));
  if (count > room) core.fail(`damaged NT_FILE note (${count} mappings do not fit in its ${desc.length} bytes)`);
  const n = Number(count);
  const out: FileMapping[] = [];
  let names = 2 * ws + n * 3 * ws;
  for (let i = 0; i < n; i++) {
    const o = 2 * ws + i * 3 * ws;
    const nul = desc.indexOf(0, names);
    if (nul === -1) core.fail(`damaged NT_FILE note (${n} mappings but only ${i} file names)`);
    out.push({ start: w.word(desc, o), end: w.word(desc, o + ws), pgoff: w.word(desc, o + 2 * ws), path: desc.toString('utf8', names, nul) });
    names = nul + 1;
  }
  return out;
}

function auxvValue(desc: Buffer, w: Words, type: bigint): bigint | undefined {
  const ws = w.size;
  for (let o = 0; o + 2 * ws <= desc.length; o += 2 * ws) {
    const t = w.word(desc, o);
    if (t === 0n) break; // AT_NULL
    if (t === type) return w.word(desc, o + ws);
  }
  return undefined;
}

/** The modules of an ELF core dump, ordered by start address. Throws UserError (exit 2) for anything but a readable core. */
export async function readCoreModules(file: string): Promise<CoreModule[]> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new UserError(`${file}: ${ioMessage(e)}`, 2);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UserError(`${file}: not a regular file`, 2);
    return await modulesOf(new CoreReader(file, fh, st.size));
  } finally {
    await fh.close();
  }
}

async function modulesOf(core: CoreReader): Promise<CoreModule[]> {
  const h = await core.header();
  const w = new Words(h.littleEndian, h.is64);
  const { table, phnum } = await core.programHeaders(h, w);

  let fileNote: Buffer | undefined;
  let auxv: Buffer | undefined;
  let noteBytes = 0;
  for (const seg of noteSegments({ ...h, phnum }, table)) {
    if (seg.size === 0) continue;
    noteBytes += seg.size;
    if (noteBytes > MAX_NOTES) core.fail(`note segments larger than the ${MAX_NOTES / MiB} MiB limit`);
    if (seg.offset + seg.size > core.size) {
      core.fail(`truncated core dump: the note segment ends at byte ${seg.offset + seg.size}, the file has ${core.size}`);
    }
    const buf = await core.readAt(seg.offset, seg.size);
    for (const note of parseNotes(buf, h.littleEndian, seg.align)) {
      if (note.name !== 'CORE') continue;
      if (note.type === NT_FILE && !fileNote) fileNote = note.desc;
      else if (note.type === NT_AUXV && !auxv) auxv = note.desc;
    }
  }

  const byPath = new Map<string, FileMapping[]>();
  for (const m of fileNote ? parseFileNote(core, fileNote, w) : []) {
    const list = byPath.get(m.path);
    if (list) list.push(m); else byPath.set(m.path, [m]);
  }

  const found: { start: bigint; end: bigint; path: string; buildId?: string }[] = [];
  for (const [path, maps] of byPath) {
    let head: FileMapping | undefined;
    let lowest = maps[0].start;
    let end = maps[0].end;
    for (const m of maps) {
      if (m.pgoff === 0n && (!head || m.start < head.start)) head = m;
      if (m.start < lowest) lowest = m.start;
      if (m.end > end) end = m.end;
    }
    const probe = head ? await core.probeModule(head.start, head.end) : { dumped: false };
    // A dumped first page that is not ELF is a data file. When the first page is not in the core
    // (the kernel dumps it only for ELF images), keep the file only if it was mapped executable:
    // that drops locale archives, caches and fonts, as eu-unstrip does, and keeps code.
    if (probe.dumped ? !probe.elf : !maps.some((m) => core.executableAt(m.start))) continue;
    found.push({ start: head?.start ?? lowest, end, path, buildId: probe.buildId });
  }

  const vdso = auxv && auxvValue(auxv, w, BigInt(AT_SYSINFO_EHDR));
  if (vdso && !found.some((m) => m.start === vdso)) {
    const load = core.loadAt(vdso);
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
