// Generated RPMs for the structure-aware half of the rpm targets: a lead, a signature header
// with the right SHA256 (so the digest check passes and the parsers behind it run), a main
// header whose tags come from fast-check (real file-list tags with generated values, plus raw
// index entries with any type, offset and count), and an uncompressed newc payload holding the
// listed files, the ELF ones as small ELF images.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { newc } from '../test/helpers/cpio.ts';
import { makeElf } from '../test/helpers/elf.ts';
import { SigTag, Tag, TagType } from '../src/lib/rpm/tags.ts';

type Value = { type: TagType; v: string | string[] | number[] | bigint[] | Buffer };
export interface RawEntry { tag: number; type: number; offset: number; count: number }

interface GenFile { dir: number; base: string; mode: number; size: number; link: string; inode: number; cls: number; flags: number }

export interface GeneratedRpm {
  name: string;
  dirs: string[];
  files: GenFile[];
  classes: string[];
  provides: string[];
  raw: RawEntry[];
  /** Drop one of the file-list tags, or make one array a different length. */
  skew: number;
  source: boolean;
  /** Build-ids planted in the ELF files. */
  ids: number[];
}

const HEX = (n: number, len = 40): string => createHash('sha1').update(String(n)).digest('hex').slice(0, len);
const DIRS = ['/usr/bin/', '/usr/lib64/', '/usr/lib/.build-id/ab/', '/usr/lib/debug/.build-id/ab/', '/usr/lib/debug/usr/bin/', '/lib/modules/6.1/extra/', '/', '/usr/../etc/', '', './', 'relative/'];
const BASES = ['prog', 'lib.so.1', 'cdef0123456789abcdef0123456789abcdef01', 'cdef0123456789abcdef0123456789abcdef01.debug', 'mod.ko', '..', '.', 'a/b', '', 'x'.repeat(300), 'ü\n\t'];
const CLASSES = [
  'ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), BuildID[sha1]=abcdef0123456789abcdef0123456789abcdef01, stripped',
  'ELF 32-bit MSB shared object, PowerPC, BuildID[sha1]=0123456789abcdef, stripped', 'ELF 64-bit LSB relocatable, x86-64',
  'ELF ', 'directory', '', 'symbolic link to `../../bin/prog\'', 'ELF 64-bit LSB core file, BuildID[md5/uuid]=zz',
];
const LINKS = ['', '../../../../usr/bin/prog', '/usr/bin/prog', 'prog', '../../../../../../../../../../etc/passwd', 'self', '../ab/cdef0123456789abcdef0123456789abcdef01'];
const MODES = [0o100755, 0o100644, 0o120777, 0o40755, 0o20644, 0, 0o170000, 0xffffffff];

export const generatedRpmArb: fc.Arbitrary<GeneratedRpm> = fc.record({
  name: fc.constantFrom('gen', 'gen', 'gen', 'gen-debuginfo', 'gen-debuginfo', '', 'a b', 'x'.repeat(70)),
  dirs: fc.array(fc.constantFrom(...DIRS), { minLength: 0, maxLength: 5 }),
  files: fc.array(fc.record({
    dir: fc.nat({ max: 15 }), base: fc.constantFrom(...BASES), mode: fc.constantFrom(...MODES), size: fc.oneof(fc.nat({ max: 600 }), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 31)),
    link: fc.constantFrom(...LINKS), inode: fc.nat({ max: 4 }), cls: fc.nat({ max: 9 }), flags: fc.constantFrom(0, 64, 0xffffffff),
  }), { maxLength: 8 }),
  classes: fc.array(fc.constantFrom(...CLASSES), { maxLength: 6 }),
  provides: fc.array(fc.constantFrom('debuginfo(build-id)', 'gen', 'libx.so.1()(64bit)'), { maxLength: 4 }),
  raw: fc.oneof({ weight: 4, arbitrary: fc.constant([] as RawEntry[]) }, { weight: 1, arbitrary: fc.array(fc.record({
    tag: fc.oneof(fc.constantFrom(Tag.BASENAMES, Tag.DIRINDEXES, Tag.FILEMODES, Tag.FILECLASS, Tag.NAME, Tag.LONGFILESIZES, 62, 63), fc.nat({ max: 6000 })),
    type: fc.integer({ min: 0, max: 12 }), offset: fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(0x7fffffff, -1)), count: fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(0xffffffff, 0x10000)),
  }), { maxLength: 3 }) }),
  skew: fc.nat({ max: 40 }),
  source: fc.nat({ max: 4 }).map((n) => n === 0),
  ids: fc.array(fc.nat(), { maxLength: 3 }),
});

function encode({ type, v }: Value): { data: Buffer; count: number; align: number } {
  switch (type) {
    case TagType.STRING: return { data: Buffer.from(`${v as string}\0`), count: 1, align: 1 };
    case TagType.STRING_ARRAY: case TagType.I18NSTRING: {
      const a = v as string[];
      return { data: Buffer.from(a.map((s) => `${s}\0`).join('')), count: a.length, align: 1 };
    }
    case TagType.BIN: return { data: v as Buffer, count: (v as Buffer).length, align: 1 };
    case TagType.INT16: { const a = v as number[]; const b = Buffer.alloc(a.length * 2); a.forEach((x, i) => b.writeUInt16BE(x & 0xffff, i * 2)); return { data: b, count: a.length, align: 2 }; }
    case TagType.INT32: { const a = v as number[]; const b = Buffer.alloc(a.length * 4); a.forEach((x, i) => b.writeUInt32BE(x >>> 0, i * 4)); return { data: b, count: a.length, align: 4 }; }
    case TagType.INT64: { const a = v as bigint[]; const b = Buffer.alloc(a.length * 8); a.forEach((x, i) => b.writeBigUInt64BE(x, i * 8)); return { data: b, count: a.length, align: 8 }; }
    default: return { data: Buffer.alloc(0), count: 0, align: 1 };
  }
}

/** A header structure: intro, index, data store. Raw entries point anywhere they like. */
export function headerBytes(tags: Map<number, Value>, raw: RawEntry[] = []): Buffer {
  const index: Buffer[] = [];
  const parts: Buffer[] = [];
  let len = 0;
  const entry = (tag: number, type: number, offset: number, count: number): void => {
    const e = Buffer.alloc(16);
    e.writeUInt32BE(tag >>> 0, 0); e.writeUInt32BE(type >>> 0, 4); e.writeInt32BE(offset | 0, 8); e.writeUInt32BE(count >>> 0, 12);
    index.push(e);
  };
  for (const [tag, value] of tags) {
    const { data, count, align } = encode(value);
    const pad = (align - (len % align)) % align;
    if (pad) { parts.push(Buffer.alloc(pad)); len += pad; }
    entry(tag, value.type, len, count);
    parts.push(data);
    len += data.length;
  }
  for (const r of raw) entry(r.tag, r.type, r.offset, r.count);
  const intro = Buffer.alloc(16);
  Buffer.from([0x8e, 0xad, 0xe8, 0x01]).copy(intro);
  intro.writeUInt32BE(index.length, 8);
  intro.writeUInt32BE(len, 12);
  return Buffer.concat([intro, ...index, ...parts]);
}

/** The whole package file. */
export function buildRpm(g: GeneratedRpm): Buffer {
  const dirs = g.dirs.length ? g.dirs : ['/usr/bin/'];
  const tags = new Map<number, Value>();
  const s = (v: string): Value => ({ type: TagType.STRING, v });
  tags.set(Tag.NAME, s(g.name));
  tags.set(Tag.VERSION, s('1.0'));
  tags.set(Tag.RELEASE, s('1.fc40'));
  tags.set(Tag.ARCH, s('x86_64'));
  if (!g.source) tags.set(Tag.SOURCERPM, s('gen-1.0-1.fc40.src.rpm'));
  tags.set(Tag.PAYLOADFORMAT, s('cpio'));
  const n = g.files.length;
  const col = <T>(f: (x: GenFile, i: number) => T): T[] => g.files.map(f);
  const skew = <T>(k: number, a: T[]): T[] => (g.skew === k ? a.slice(1) : a);
  if (n) {
    tags.set(Tag.BASENAMES, { type: TagType.STRING_ARRAY, v: col((f) => f.base) });
    tags.set(Tag.DIRNAMES, { type: TagType.STRING_ARRAY, v: dirs });
    if (g.skew !== 1) tags.set(Tag.DIRINDEXES, { type: TagType.INT32, v: skew(2, col((f) => (f.dir < 15 ? f.dir % dirs.length : dirs.length))) });
    tags.set(Tag.FILEMODES, { type: TagType.INT16, v: skew(3, col((f) => f.mode)) });
    tags.set(Tag.FILESIZES, { type: TagType.INT32, v: skew(4, col((f) => f.size)) });
    tags.set(Tag.FILELINKTOS, { type: TagType.STRING_ARRAY, v: skew(5, col((f) => ((f.mode & 0o170000) === 0o120000 ? f.link : ''))) });
    tags.set(Tag.FILEFLAGS, { type: TagType.INT32, v: col((f) => f.flags) });
    tags.set(Tag.FILEINODES, { type: TagType.INT32, v: skew(6, col((f, i) => f.inode || i + 100)) });
    tags.set(Tag.FILEDEVICES, { type: TagType.INT32, v: col(() => 1) });
    tags.set(Tag.FILEDIGESTS, { type: TagType.STRING_ARRAY, v: col(() => '') });
    if (g.skew !== 7) {
      tags.set(Tag.FILECLASS, { type: TagType.INT32, v: skew(8, col((f) => f.cls)) });
      tags.set(Tag.CLASSDICT, { type: TagType.STRING_ARRAY, v: g.classes.length ? g.classes : [CLASSES[0]] });
    }
    if (g.skew === 9) tags.set(Tag.LONGFILESIZES, { type: TagType.INT64, v: col((f) => BigInt(f.size)) });
  }
  if (g.provides.length) {
    tags.set(Tag.PROVIDENAME, { type: TagType.STRING_ARRAY, v: g.provides });
    tags.set(Tag.PROVIDEVERSION, { type: TagType.STRING_ARRAY, v: g.provides.map((_, i) => (i % 2 ? HEX(i) : 'nilnil')) });
  }
  const header = headerBytes(tags, g.raw);

  // The payload lists the files as the header does; ELF-classed ones get a small ELF image.
  const members = g.files.map((f, i) => {
    const isElf = (g.classes[f.cls] ?? '').startsWith('ELF') || f.size === 0;
    const data = (f.mode & 0o170000) === 0o100000
      ? (isElf ? makeElf({ is64: i % 2 === 0, le: i % 3 !== 0, id: Buffer.from(HEX(g.ids[i % (g.ids.length || 1)] ?? i), 'hex') }) : Buffer.alloc(f.size % 64, 0x41))
      : (f.mode & 0o170000) === 0o120000 ? Buffer.from(f.link) : undefined;
    return { name: `.${dirs[f.dir % dirs.length] ?? ''}${f.base}`, data, mode: f.mode >>> 0, ino: f.inode || i + 100, nlink: f.inode ? 2 : 1 };
  });
  const payload = newc(members);

  const sig = new Map<number, Value>();
  sig.set(SigTag.SIZE, { type: TagType.INT32, v: [header.length + payload.length] });
  sig.set(SigTag.SHA256, s(createHash('sha256').update(header).digest('hex')));
  const sigBytes = headerBytes(sig);
  const lead = Buffer.alloc(96);
  lead.writeUInt32BE(0xedabeedb, 0);
  lead[4] = 3;
  lead.writeUInt16BE(g.source ? 1 : 0, 6);
  lead.write('gen-1.0-1', 10, 'latin1');
  lead.writeUInt16BE(5, 78);
  const pad = Buffer.alloc((8 - (sigBytes.length % 8)) % 8);
  return Buffer.concat([lead, sigBytes, pad, header, payload]);
}
