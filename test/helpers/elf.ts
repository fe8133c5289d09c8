// Build small ELF images byte by byte, so tests know the build-id they planted.

export interface ElfSpec {
  is64: boolean;
  le: boolean;
  type?: number;
  machine?: number;
  id?: Buffer;
  noteAlign?: 4 | 8;
  /** Put a PT_NOTE program header over the note area. */
  phdr?: boolean;
  /** Put a SHT_NOTE section header (table at the end of the file). */
  shdr?: boolean;
  /** Zero bytes between the headers and the note area. */
  padBefore?: number;
  /** Zero bytes between the note area and the section table. */
  padAfter?: number;
  /** A GNU ABI-tag note before the build-id note. */
  abiNoteFirst?: boolean;
}

const align = (n: number, a: number): number => (n + a - 1) & ~(a - 1);

function note(le: boolean, a: number, name: string, type: number, desc: Buffer): Buffer {
  const nameBuf = Buffer.from(name + '\0', 'latin1');
  const out = Buffer.alloc(12 + align(nameBuf.length, a) + align(desc.length, a));
  const w = (v: number, o: number): number => (le ? out.writeUInt32LE(v, o) : out.writeUInt32BE(v, o));
  w(nameBuf.length, 0); w(desc.length, 4); w(type, 8);
  nameBuf.copy(out, 12);
  desc.copy(out, 12 + align(nameBuf.length, a));
  return out;
}

export function makeElf(s: ElfSpec): Buffer {
  const a = s.noteAlign ?? 4;
  const ehsize = s.is64 ? 64 : 52;
  const phentsize = s.is64 ? 56 : 32;
  const shentsize = s.is64 ? 64 : 40;
  const usePh = s.phdr ?? true;
  const useSh = s.shdr ?? true;
  const notes: Buffer[] = [];
  if (s.abiNoteFirst) notes.push(note(s.le, a, 'GNU', 1, Buffer.from([0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])));
  if (s.id) notes.push(note(s.le, a, 'GNU', 3, s.id));
  const noteArea = Buffer.concat(notes);
  const phoff = usePh ? ehsize : 0;
  const noteOff = align(ehsize + (usePh ? phentsize : 0) + (s.padBefore ?? 0), 8);
  const shoff = align(noteOff + noteArea.length + (s.padAfter ?? 0), 8);
  const total = useSh ? shoff + 2 * shentsize : shoff;
  const b = Buffer.alloc(total);
  const u16 = (v: number, o: number): number => (s.le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const u32 = (v: number, o: number): number => (s.le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const u64 = (v: number, o: number): number => (s.le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o));
  b.write('\x7fELF', 0, 'latin1');
  b[4] = s.is64 ? 2 : 1; b[5] = s.le ? 1 : 2; b[6] = 1;
  u16(s.type ?? 2, 16); u16(s.machine ?? (s.is64 ? 62 : 3), 18); u32(1, 20);
  if (s.is64) {
    u64(phoff, 32); u64(useSh ? shoff : 0, 40); u16(ehsize, 52);
    u16(phentsize, 54); u16(usePh ? 1 : 0, 56); u16(shentsize, 58); u16(useSh ? 2 : 0, 60);
  } else {
    u32(phoff, 28); u32(useSh ? shoff : 0, 32); u16(ehsize, 40);
    u16(phentsize, 42); u16(usePh ? 1 : 0, 44); u16(shentsize, 46); u16(useSh ? 2 : 0, 48);
  }
  if (usePh) {
    const o = phoff;
    u32(4, o); // PT_NOTE
    if (s.is64) { u64(noteOff, o + 8); u64(noteArea.length, o + 32); u64(noteArea.length, o + 40); u64(a, o + 48); }
    else { u32(noteOff, o + 4); u32(noteArea.length, o + 16); u32(noteArea.length, o + 20); u32(a, o + 28); }
  }
  noteArea.copy(b, noteOff);
  if (useSh) {
    const o = shoff + shentsize; // section 0 stays the null section
    u32(7, o + 4); // SHT_NOTE
    if (s.is64) { u64(noteOff, o + 24); u64(noteArea.length, o + 32); u64(a, o + 48); }
    else { u32(noteOff, o + 16); u32(noteArea.length, o + 20); u32(a, o + 32); }
  }
  return b;
}
