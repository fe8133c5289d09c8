// Build small ELF core dumps byte by byte (ELF32/ELF64, either byte order), so tests know the
// modules and build-ids they planted: one PT_NOTE (NT_PRSTATUS filler, NT_FILE, NT_AUXV) and PT_LOADs.
import { open } from 'node:fs/promises';
import { makeElf } from './elf.ts';

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
export const NT_FILE = 0x46494c45;
export const NT_AUXV = 6;
export const AT_PAGESZ = 6n;
export const AT_SYSINFO_EHDR = 33n;

export interface CoreLoad {
  vaddr: bigint;
  memsz: bigint;
  flags?: number;
  /** Dumped bytes (p_filesz = data.length); without data and filesz, p_filesz is 0 (not dumped). */
  data?: Buffer;
  /** p_filesz without data bytes: the dumped range stays a hole of zeros (huge sparse segments). */
  filesz?: number;
  /** File offset of the data (default: after the previous data, page-aligned); a large one makes a sparse file. */
  offset?: number;
}

export interface CoreFile {
  path: string;
  start: bigint;
  end: bigint;
  /** File offset of the mapping in pages. */
  pgoff?: bigint;
}

export interface CoreSpec {
  is64: boolean;
  le: boolean;
  machine?: number;
  pageSize?: number;
  files?: CoreFile[];
  /** Write the NT_FILE note (default true; false: a core as kernels before 3.7 write them). */
  fileNote?: boolean;
  /** Override the NT_FILE count word (to build damaged notes). */
  fileCount?: bigint;
  /** NT_AUXV entries; AT_NULL is appended. Omit for no NT_AUXV note. */
  auxv?: [bigint, bigint][];
  loads: CoreLoad[];
}

export interface BuiltCore {
  /** Total file size. */
  size: number;
  /** Byte ranges to write; the gaps are holes (zeros). */
  pieces: { offset: number; data: Buffer }[];
  noteOffset: number;
  noteSize: number;
  phoff: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

class Out {
  constructor(readonly le: boolean, readonly is64: boolean) {}
  u16(b: Buffer, v: number, o: number): void { if (this.le) b.writeUInt16LE(v, o); else b.writeUInt16BE(v, o); }
  u32(b: Buffer, v: number, o: number): void { if (this.le) b.writeUInt32LE(v, o); else b.writeUInt32BE(v, o); }
  u64(b: Buffer, v: bigint, o: number): void { if (this.le) b.writeBigUInt64LE(v, o); else b.writeBigUInt64BE(v, o); }
  word(b: Buffer, v: bigint, o: number): void { if (this.is64) this.u64(b, v, o); else this.u32(b, Number(v), o); }
  get ws(): number { return this.is64 ? 8 : 4; }
}

function note(w: Out, name: string, type: number, desc: Buffer): Buffer {
  const nameBuf = Buffer.from(name + '\0', 'latin1');
  const out = Buffer.alloc(12 + align(nameBuf.length, 4) + align(desc.length, 4));
  w.u32(out, nameBuf.length, 0); w.u32(out, desc.length, 4); w.u32(out, type, 8);
  nameBuf.copy(out, 12);
  desc.copy(out, 12 + align(nameBuf.length, 4));
  return out;
}

function fileNote(w: Out, s: CoreSpec): Buffer {
  const files = s.files ?? [];
  const ws = w.ws;
  const words = Buffer.alloc(ws * (2 + 3 * files.length));
  w.word(words, s.fileCount ?? BigInt(files.length), 0);
  w.word(words, BigInt(s.pageSize ?? 4096), ws);
  files.forEach((f, i) => {
    const o = ws * (2 + 3 * i);
    w.word(words, f.start, o); w.word(words, f.end, o + ws); w.word(words, f.pgoff ?? 0n, o + 2 * ws);
  });
  return Buffer.concat([words, ...files.map((f) => Buffer.from(f.path + '\0', 'utf8'))]);
}

function auxvNote(w: Out, entries: [bigint, bigint][]): Buffer {
  const all = [...entries, [0n, 0n] as [bigint, bigint]];
  const b = Buffer.alloc(all.length * 2 * w.ws);
  all.forEach(([t, v], i) => { w.word(b, t, i * 2 * w.ws); w.word(b, v, (i * 2 + 1) * w.ws); });
  return b;
}

export function buildCore(s: CoreSpec): BuiltCore {
  const w = new Out(s.le, s.is64);
  const page = s.pageSize ?? 4096;
  const ehsize = s.is64 ? 64 : 52;
  const phentsize = s.is64 ? 56 : 32;
  const phnum = 1 + s.loads.length;
  // A filler note first (NT_PRSTATUS under "CORE", a "LINUX" one too), so the reader must walk past them.
  const notes = Buffer.concat([
    note(w, 'CORE', 1, Buffer.alloc(s.is64 ? 336 : 144, 0x11)),
    note(w, 'LINUX', 0x202, Buffer.alloc(24, 0x22)),
    ...(s.fileNote === false ? [] : [note(w, 'CORE', NT_FILE, fileNote(w, s))]),
    ...(s.auxv ? [note(w, 'CORE', NT_AUXV, auxvNote(w, s.auxv))] : []),
  ]);
  const phoff = ehsize;
  const noteOffset = phoff + phnum * phentsize;
  const head = Buffer.alloc(noteOffset + notes.length);
  head.write('\x7fELF', 0, 'latin1');
  head[4] = s.is64 ? 2 : 1; head[5] = s.le ? 1 : 2; head[6] = 1;
  w.u16(head, 4, 16); // ET_CORE
  w.u16(head, s.machine ?? (s.is64 ? 62 : 20), 18);
  w.u32(head, 1, 20);
  if (s.is64) {
    w.u64(head, BigInt(phoff), 32); w.u16(head, ehsize, 52); w.u16(head, phentsize, 54); w.u16(head, phnum, 56);
    w.u16(head, 64, 58);
  } else {
    w.u32(head, phoff, 28); w.u16(head, ehsize, 40); w.u16(head, phentsize, 42); w.u16(head, phnum, 44);
    w.u16(head, 40, 46);
  }
  notes.copy(head, noteOffset);

  const pieces: BuiltCore['pieces'] = [{ offset: 0, data: head }];
  let next = align(head.length, page);
  let size = head.length;
  const phdr = (i: number, type: number, flags: number, offset: number, vaddr: bigint, filesz: number, memsz: bigint, al: number): void => {
    const o = phoff + i * phentsize;
    w.u32(head, type, o);
    if (s.is64) {
      w.u32(head, flags, o + 4); w.u64(head, BigInt(offset), o + 8); w.u64(head, vaddr, o + 16);
      w.u64(head, BigInt(filesz), o + 32); w.u64(head, memsz, o + 40); w.u64(head, BigInt(al), o + 48);
    } else {
      w.u32(head, offset, o + 4); w.u32(head, Number(vaddr), o + 8); w.u32(head, filesz, o + 16);
      w.u32(head, Number(memsz), o + 20); w.u32(head, flags, o + 24); w.u32(head, al, o + 28);
    }
  };
  phdr(0, 4, 0, noteOffset, 0n, notes.length, 0n, 4);
  s.loads.forEach((l, i) => {
    const data = l.data ?? Buffer.alloc(0);
    const filesz = l.data ? data.length : l.filesz ?? 0;
    const offset = l.offset ?? next;
    phdr(i + 1, 1, l.flags ?? PF_R, offset, l.vaddr, filesz, l.memsz, page);
    if (data.length) pieces.push({ offset, data });
    if (filesz) {
      size = Math.max(size, offset + filesz);
      next = Math.max(next, align(offset + filesz, page));
    }
  });
  return { size, pieces, noteOffset, noteSize: notes.length, phoff };
}

/** The whole core in one buffer (for cores without far sparse offsets). */
export function coreBuffer(s: CoreSpec | BuiltCore): Buffer {
  const c = 'pieces' in s ? s : buildCore(s);
  const b = Buffer.alloc(c.size);
  for (const p of c.pieces) p.data.copy(b, p.offset);
  return b;
}

/** Write a core with positional writes, leaving holes sparse. */
export async function writeCore(path: string, c: BuiltCore): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (const p of c.pieces) await fh.write(p.data, 0, p.data.length, p.offset);
    await fh.truncate(c.size);
  } finally {
    await fh.close();
  }
}

/** The first page of a mapped ELF module: ELF header, one PT_NOTE, an ABI-tag note and the build-id note. */
export function modulePage(o: { is64: boolean; le: boolean; id?: Buffer; noteAlign?: 4 | 8; pageSize?: number }): Buffer {
  const elf = makeElf({ is64: o.is64, le: o.le, type: 3, id: o.id, noteAlign: o.noteAlign, shdr: false, abiNoteFirst: true });
  const page = Buffer.alloc(o.pageSize ?? 4096, 0xcc);
  elf.copy(page);
  return page;
}
