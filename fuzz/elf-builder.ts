// Generated ELF images for the structure-aware half of the elf target: a valid file header and
// program/section header tables whose entries (often PT_NOTE/SHT_NOTE, repeated up to thousands
// of times) point anywhere, over note records with any sizes. `claimed` is the size a cpio
// header may announce for the member, whatever bytes follow.
import fc from 'fast-check';

interface TableEntry { type: number; offset: number; size: number; align: number }
interface NoteRec { namesz: number; descsz: number; type: number; name: string; desc: number }

export interface GeneratedElf {
  is64: boolean;
  le: boolean;
  type: number;
  phdrs: TableEntry[];
  phRepeat: number;
  shdrs: TableEntry[];
  shRepeat: number;
  notes: NoteRec[];
  noteRepeat: number;
  entsizeDelta: number;
  claimed: 'actual' | 'huge' | 'short';
  /** Lead with a proper PT_NOTE over a proper build-id note, so that some cases have an id to find. */
  sane: boolean;
}

const offsetArb = fc.oneof(fc.nat({ max: 4096 }), fc.constantFrom(0, 64, 2 ** 20, 2 ** 31, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER));
const sizeArb = fc.oneof(fc.nat({ max: 512 }), fc.constantFrom(0, 1, 12, 36, 2 ** 20, 2 ** 20 + 1, 2 ** 32 - 1));
const entryArb = (types: number[]): fc.Arbitrary<TableEntry> => fc.record({
  type: fc.oneof(fc.constantFrom(...types), fc.nat({ max: 0xffffffff })), offset: offsetArb, size: sizeArb,
  align: fc.constantFrom(0, 1, 4, 8, 3, 2 ** 31),
});

export const generatedElfArb: fc.Arbitrary<GeneratedElf> = fc.record({
  is64: fc.boolean(),
  le: fc.boolean(),
  type: fc.constantFrom(1, 2, 3, 4, 0xfe00),
  phdrs: fc.array(entryArb([4, 4, 1, 6]), { maxLength: 4 }),
  phRepeat: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3000 })),
  shdrs: fc.array(entryArb([7, 7, 0, 1]), { maxLength: 4 }),
  shRepeat: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3000 })),
  notes: fc.array(fc.record({
    namesz: fc.oneof(fc.constant(4), fc.nat({ max: 16 }), fc.constant(0xffffffff)),
    descsz: fc.oneof(fc.constantFrom(20, 16, 8, 32, 33, 4, 3), fc.constant(0xfffffff0)),
    type: fc.constantFrom(3, 1, 0x46494c45), name: fc.constantFrom('GNU', 'GNU\0', 'CORE', ''), desc: fc.nat(),
  }), { maxLength: 4 }),
  noteRepeat: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 2000 })),
  entsizeDelta: fc.constantFrom(0, 0, 0, -1, 8, 65535),
  claimed: fc.constantFrom('actual' as const, 'huge' as const, 'short' as const),
  sane: fc.boolean(),
});

/** The bytes, and the member size a scanner is told. */
export function buildElf(g: GeneratedElf): { bytes: Buffer; size: number } {
  const ehsize = g.is64 ? 64 : 52;
  const phent = (g.is64 ? 56 : 32) + g.entsizeDelta;
  const shent = (g.is64 ? 64 : 40) + g.entsizeDelta;
  // At most 2 MiB per table, so a case stays quick (the caps under test are about what the tables claim).
  const rows = (n: number, ent: number): number => Math.min(0xffff, n, Math.floor((2 << 20) / Math.max(1, ent)));
  const ph = Array.from({ length: rows(g.phdrs.length * g.phRepeat, phent) }, (_, i) => g.phdrs[i % g.phdrs.length]);
  const sh = Array.from({ length: rows(g.shdrs.length * g.shRepeat, shent) }, (_, i) => g.shdrs[i % g.shdrs.length]);
  const notes = Array.from({ length: g.notes.length * g.noteRepeat }, (_, i) => g.notes[i % g.notes.length]);
  if (g.sane) {
    ph.unshift({ type: 4, offset: 64, size: 36, align: 4 });
    notes.unshift({ namesz: 4, descsz: 20, type: 3, name: 'GNU', desc: 0x5a });
  }
  const noteBytes = Buffer.concat(notes.map((n) => {
    const name = Buffer.from(n.name, 'latin1');
    const desc = Buffer.alloc(Math.min(n.descsz, 64), n.desc & 0xff);
    const b = Buffer.alloc(12 + ((name.length + 3) & ~3) + ((desc.length + 3) & ~3));
    const w = (v: number, o: number): number => (g.le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
    w(n.namesz, 0); w(n.descsz, 4); w(n.type, 8);
    name.copy(b, 12);
    desc.copy(b, 12 + ((name.length + 3) & ~3));
    return b;
  }));
  const phoff = ehsize;
  const phLen = Math.max(0, phent) * ph.length;
  const noteOff = phoff + phLen;
  const shoff = noteOff + noteBytes.length;
  const shLen = Math.max(0, shent) * sh.length;
  const b = Buffer.alloc(shoff + shLen);
  const u16 = (v: number, o: number): void => { if (o + 2 <= b.length) g.le ? b.writeUInt16LE(v & 0xffff, o) : b.writeUInt16BE(v & 0xffff, o); };
  const u32 = (v: number, o: number): void => { if (o + 4 <= b.length) g.le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o); };
  const word = (v: number, o: number): void => {
    if (!g.is64) return u32(Math.min(v, 0xffffffff), o);
    if (o + 8 <= b.length) g.le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o);
  };
  b.write('\x7fELF', 0, 'latin1');
  b[4] = g.is64 ? 2 : 1; b[5] = g.le ? 1 : 2; b[6] = 1;
  u16(g.type, 16); u16(g.is64 ? 62 : 3, 18); u32(1, 20);
  if (g.is64) {
    word(ph.length ? phoff : 0, 32); word(sh.length ? shoff : 0, 40); u16(ehsize, 52);
    u16(phent, 54); u16(ph.length, 56); u16(shent, 58); u16(sh.length, 60);
  } else {
    u32(ph.length ? phoff : 0, 28); u32(sh.length ? shoff : 0, 32); u16(ehsize, 40);
    u16(phent, 42); u16(ph.length, 44); u16(shent, 46); u16(sh.length, 48);
  }
  // Entries that point at "the notes" (offset 64) are moved onto the real note area.
  const at = (e: TableEntry): number => (e.offset === 64 ? noteOff : e.offset);
  const size = (e: TableEntry): number => (e.size === 36 ? noteBytes.length : e.size);
  if (phent > 0) {
    ph.forEach((e, i) => {
      const o = phoff + i * phent;
      u32(e.type, o);
      if (g.is64) { word(at(e), o + 8); word(size(e), o + 32); word(size(e), o + 40); word(e.align, o + 48); }
      else { u32(at(e), o + 4); u32(size(e), o + 16); u32(size(e), o + 20); u32(e.align, o + 28); }
    });
  }
  noteBytes.copy(b, noteOff);
  if (shent > 0) {
    sh.forEach((e, i) => {
      const o = shoff + i * shent;
      u32(e.type, o + 4);
      if (g.is64) { word(at(e), o + 24); word(size(e), o + 32); word(e.align, o + 48); }
      else { u32(at(e), o + 16); u32(size(e), o + 20); u32(e.align, o + 32); }
    });
  }
  const claimed = g.claimed === 'huge' ? 2 ** 32 + 5 : g.claimed === 'short' ? Math.max(16, b.length >> 1) : b.length;
  return { bytes: b, size: claimed };
}

// ---- core dumps: modules sharing pages, NT_FILE tables, hostile module headers ----

export interface GeneratedCore {
  is64: boolean;
  le: boolean;
  files: { path: number; base: number; len: number; pgoff: number }[];
  loads: { base: number; flags: number; page: 'module' | 'hostile' | 'junk' | 'none'; id: number }[];
  hostile: GeneratedElf;
  auxv: number;
  fileCount: number;
}

export const GEN_BASES = [0x400000, 0x401000, 0x7f0000000000, 0x7f0000001000, 0, 0xffffffff, 0x10000];
export const GEN_PATHS = ['/usr/bin/prog', '/usr/lib64/libc.so.6', '[vdso]', '', '/a\nb', '/deleted (deleted)'];

export const generatedCoreArb: fc.Arbitrary<GeneratedCore> = fc.record({
  is64: fc.boolean(),
  le: fc.boolean(),
  files: fc.array(fc.record({
    path: fc.nat({ max: GEN_PATHS.length - 1 }), base: fc.nat({ max: GEN_BASES.length - 1 }), len: fc.constantFrom(0x1000, 0x2000, 0, 0x100000),
    pgoff: fc.constantFrom(0, 0, 1, 0xffffffff),
  }), { maxLength: 40 }),
  loads: fc.array(fc.record({
    base: fc.nat({ max: GEN_BASES.length - 1 }), flags: fc.constantFrom(5, 4, 7, 0),
    page: fc.constantFrom('module' as const, 'hostile' as const, 'junk' as const, 'none' as const), id: fc.nat({ max: 255 }),
  }), { maxLength: 6 }),
  hostile: generatedElfArb,
  auxv: fc.nat({ max: GEN_BASES.length }),
  fileCount: fc.constantFrom(-1, -1, -1, 0, 0xffffffff, 1000),
});
