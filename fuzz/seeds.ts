// The inputs the fuzzer starts from: the committed fixture RPMs, their decompressed payloads
// (cpio), the ELF files inside them, small core dumps from the test builder, the shipped and
// fixture .conf files and kickstarts. Each binary seed lists its number fields (see mutate.ts),
// found by walking the known-good file once.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodePayload } from '../src/lib/compress/decompress.ts';
import { ChunkReader, CpioArchive } from '../src/lib/cpio/reader.ts';
import { parseElfHeader } from '../src/lib/elf/header.ts';
import { describeRpm, isRegular, RpmInfo } from '../src/lib/rpm/package.ts';
import { readRpmHeaders } from '../src/lib/rpm/reader.ts';
import { ByteSource } from '../src/lib/rpm/source.ts';
import { FormatError } from '../src/lib/errors.ts';
import { Readable } from 'node:stream';
import { buildCore, coreBuffer, modulePage, PF_R, PF_X, type CoreSpec } from '../test/helpers/core-builder.ts';
import { makeElf } from '../test/helpers/elf.ts';
import { newc, stripped } from '../test/helpers/cpio.ts';
import { FIXTURES, ROOT } from '../test/helpers/paths.ts';
import type { Field, Seed } from './mutate.ts';

/** A local file's bytes as the indexer reads them (FileSource's rules, from memory). */
export class MemorySource implements ByteSource {
  position = 0;
  constructor(private readonly buf: Buffer, private readonly chunks: readonly number[] = []) {}
  get size(): number { return this.buf.length; }

  async readExact(n: number, what: string): Promise<Buffer> {
    if (this.position + n > this.buf.length) {
      throw new FormatError(`file ends at byte ${this.buf.length} inside the ${what} (needs ${this.position + n} bytes)`);
    }
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, this.position, this.position + n);
    this.position += n;
    return out;
  }

  rest(): Readable {
    const rest = this.buf.subarray(this.position);
    const parts: Buffer[] = [];
    let p = 0;
    for (const s of this.chunks) {
      if (p >= rest.length) break;
      parts.push(rest.subarray(p, p + s));
      p += s;
    }
    if (p < rest.length) parts.push(rest.subarray(p));
    return Readable.from(parts, { objectMode: false });
  }

  async close(): Promise<void> { /* nothing to release */ }
}

export interface RpmSeed extends Seed {
  info: RpmInfo;
  payloadStart: number;
  compressor: string;
}

const BIG_PAYLOAD = 4 << 20;

function headerFields(buf: Buffer, start: number, fields: Field[]): number {
  // intro: magic(4) reserved(4) entries(4) data size(4); then entries of tag, type, offset, count.
  const entries = buf.readUInt32BE(start + 8);
  const dataSize = buf.readUInt32BE(start + 12);
  fields.push({ pos: start + 8, width: 4, enc: 'be' }, { pos: start + 12, width: 4, enc: 'be' });
  for (let i = 0; i < entries; i++) {
    const o = start + 16 + i * 16;
    for (let k = 0; k < 4; k++) fields.push({ pos: o + 4 * k, width: 4, enc: 'be' });
  }
  return start + 16 + entries * 16 + dataSize;
}

/** Every fixture RPM with its layout; `all` adds the 4 GB stripped-cpio one (headers only: its payload is 4 GB of zeros). */
export async function rpmSeeds(all = false): Promise<RpmSeed[]> {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm')).map((f) => join(FIXTURES, f));
  if (all) files.push(join(FIXTURES, 'large', 'df-large-1.0-1.x86_64.rpm'));
  const out: RpmSeed[] = [];
  for (const file of files) {
    const bytes = readFileSync(file);
    const h = await readRpmHeaders(new MemorySource(bytes));
    const info = describeRpm(h);
    const fields: Field[] = [{ pos: 4, width: 1, enc: 'be' }, { pos: 6, width: 2, enc: 'be' }, { pos: 78, width: 2, enc: 'be' }];
    const sigEnd = headerFields(bytes, 96, fields);
    headerFields(bytes, h.headerStart, fields);
    if (sigEnd > h.headerStart) throw new Error(`${file}: layout walk went wrong`);
    out.push({
      name: file.slice(FIXTURES.length + 1), bytes, fields, focus: h.payloadStart, info, payloadStart: h.payloadStart,
      compressor: info.payloadCompressor,
    });
  }
  return out;
}

export interface CpioSeed extends Seed {
  /** The package the archive came from (stripped members resolve through it). */
  info?: RpmInfo;
}

/** newc header fields: 8 hex digits each after the 6-byte magic. */
function cpioFields(b: Buffer): Field[] {
  const fields: Field[] = [];
  let o = 0;
  while (o + 110 <= b.length) {
    const magic = b.toString('latin1', o, o + 6);
    if (magic === '07070X') {
      fields.push({ pos: o + 6, width: 4, enc: 'hex' });
      o = o + 14;
      // the data follows (size from the header): look for the next magic
      const next = b.indexOf('0707', o, 'latin1');
      if (next < 0) break;
      o = next;
      continue;
    }
    if (magic !== '070701' && magic !== '070702') break;
    for (let i = 0; i < 13; i++) fields.push({ pos: o + 6 + i * 8, width: 4, enc: 'hex' });
    const size = parseInt(b.toString('latin1', o + 54, o + 62), 16);
    const namesize = parseInt(b.toString('latin1', o + 94, o + 102), 16);
    const name = b.toString('latin1', o + 110, o + 110 + namesize - 1);
    o = align4(align4(o + 110 + namesize) + size);
    if (name === 'TRAILER!!!') break;
  }
  return fields;
}

const align4 = (n: number): number => (n + 3) & ~3;

async function payloadOf(s: RpmSeed): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of decodePayload(Readable.from([s.bytes.subarray(s.payloadStart)]), s.compressor)) {
    parts.push(Buffer.from(c));
    n += c.length;
    if (n > BIG_PAYLOAD) return undefined;
  }
  return Buffer.concat(parts);
}

/** Decompressed payloads of the small fixtures, plus hand-made archives (stripped form, hard links, odd names). */
export async function cpioSeeds(rpms: RpmSeed[]): Promise<CpioSeed[]> {
  const out: CpioSeed[] = [];
  for (const r of rpms) {
    if (r.info.largeFiles) continue;
    const payload = await payloadOf(r);
    if (payload) out.push({ name: `${r.name} payload`, bytes: payload, fields: cpioFields(payload), info: r.info });
  }
  const elf = makeElf({ is64: true, le: true, id: Buffer.alloc(20, 0xab) });
  const hand = newc([
    { name: './usr/bin/a', data: elf, ino: 5, nlink: 2 }, { name: './usr/lib', mode: 0o40755 },
    { name: './usr/bin/b', ino: 5, nlink: 2 }, { name: 'usr/lib/link', mode: 0o120777, data: Buffer.from('../bin/a') },
    { name: '../../escape', data: Buffer.from('x') },
  ]);
  out.push({ name: 'hand-made newc', bytes: hand, fields: cpioFields(hand) });
  // A stripped archive resolving through a made-up file list.
  const files = [
    { path: '/usr/bin/big', mode: 0o100755, size: elf.length }, { path: '/usr/lib', mode: 0o40755, size: 0 },
    { path: '/usr/bin/l', mode: 0o120777, size: 3 },
  ];
  const info = {
    files: files.map((f, index) => ({ index, ...f, linkTo: '', flags: 0, inode: index + 1, device: 1, digest: '' })),
    largeFiles: true,
  } as unknown as RpmInfo;
  const st = stripped([{ fx: 0, data: elf }, { fx: 1 }, { fx: 2, data: Buffer.from('big') }]);
  out.push({ name: 'hand-made stripped', bytes: st, fields: cpioFields(st), info });
  return out;
}

/** ELF header, table and note fields of a well-formed ELF image. */
export function elfFields(b: Buffer): Field[] {
  const h = parseElfHeader(b);
  if (!h) return [];
  const enc = h.littleEndian ? 'le' as const : 'be' as const;
  const w = h.is64 ? 8 as const : 4 as const;
  const f = (pos: number, width: 1 | 2 | 4 | 8): Field => ({ pos, width, enc });
  const fields: Field[] = [f(4, 1), f(5, 1), f(16, 2)];
  if (h.is64) fields.push(f(32, 8), f(40, 8), f(54, 2), f(56, 2), f(58, 2), f(60, 2));
  else fields.push(f(28, 4), f(32, 4), f(42, 2), f(44, 2), f(46, 2), f(48, 2));
  const notes: { off: number; size: number }[] = [];
  const rd = (o: number, width: number): number => {
    if (o + width > b.length) return 0;
    if (width === 8) return Number(h.littleEndian ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
    return h.littleEndian ? b.readUInt32LE(o) : b.readUInt32BE(o);
  };
  for (let i = 0; i < Math.min(h.phnum, 64); i++) {
    const o = h.phoff + i * h.phentsize;
    if (o + h.phentsize > b.length) break;
    fields.push(f(o, 4));
    const [off, size, al] = h.is64 ? [o + 8, o + 32, o + 48] : [o + 4, o + 16, o + 28];
    fields.push(f(off, w), f(size, w), f(al, w));
    if (rd(o, 4) === 4) notes.push({ off: rd(off, w), size: rd(size, w) });
  }
  for (let i = 0; i < Math.min(h.shnum, 64); i++) {
    const o = h.shoff + i * h.shentsize;
    if (o + h.shentsize > b.length) break;
    fields.push(f(o + 4, 4));
    const [off, size, al] = h.is64 ? [o + 24, o + 32, o + 48] : [o + 16, o + 20, o + 32];
    fields.push(f(off, w), f(size, w), f(al, w));
    if (rd(o + 4, 4) === 7) notes.push({ off: rd(off, w), size: rd(size, w) });
  }
  for (const n of notes) {
    for (let o = n.off; o + 12 <= Math.min(b.length, n.off + n.size);) {
      fields.push(f(o, 4), f(o + 4, 4));
      const namesz = rd(o, 4);
      const descsz = rd(o + 4, 4);
      o += 12 + align4(namesz) + align4(descsz);
    }
  }
  return fields;
}

/** The ELF files in the fixtures' payloads (every class, byte order and type there is) and a few made ones. */
export async function elfSeeds(cpio: CpioSeed[]): Promise<Seed[]> {
  const out: Seed[] = [];
  const seen = new Map<string, number>();
  for (const c of cpio) {
    if (c.info?.largeFiles) continue;
    const a = new CpioArchive(new ChunkReader(Readable.from([c.bytes])[Symbol.asyncIterator]()));
    try {
      for (let e = await a.next(); e; e = await a.next()) {
        if (!isRegular(e.mode) || e.size < 64 || e.size > 256 * 1024) continue;
        const parts: Buffer[] = [];
        for await (const p of a.body()) parts.push(Buffer.from(p));
        const bytes = Buffer.concat(parts);
        const h = parseElfHeader(bytes);
        if (!h) continue;
        // Two of each kind (class, byte order, type, .debug or not) are enough.
        const kind = `${h.is64}${h.littleEndian}${h.type}${e.path.endsWith('.debug')}`;
        const count = seen.get(kind) ?? 0;
        if (count >= 2) continue;
        seen.set(kind, count + 1);
        out.push({ name: `${c.name.replace(/ payload$/, '')}:${e.path}`, bytes, fields: elfFields(bytes), focus: 4096 });
      }
    } catch {
      /* hand-made seeds may end early */
    }
  }
  for (const is64 of [false, true]) {
    for (const le of [false, true]) {
      const bytes = makeElf({ is64, le, id: Buffer.alloc(20, 0x5a), noteAlign: is64 ? 8 : 4, abiNoteFirst: true, padAfter: 3000 });
      out.push({ name: `made ELF${is64 ? 64 : 32} ${le ? 'LE' : 'BE'}`, bytes, fields: elfFields(bytes) });
    }
  }
  return out;
}

/** Small core dumps (each class and byte order) with NT_FILE, NT_AUXV and dumped module pages. */
export function coreSeeds(): Seed[] {
  const out: Seed[] = [];
  for (const is64 of [false, true]) {
    for (const le of [false, true]) {
      const id = Buffer.alloc(20, is64 ? 0x64 : 0x32);
      const base = is64 ? 0x400000n : 0x8048000n;
      const spec: CoreSpec = {
        is64, le, pageSize: 4096,
        files: [
          { path: '/usr/bin/prog', start: base, end: base + 0x2000n, pgoff: 0n },
          { path: '/usr/bin/prog', start: base + 0x2000n, end: base + 0x3000n, pgoff: 2n },
          { path: '/usr/lib/libx.so', start: base + 0x10000n, end: base + 0x11000n, pgoff: 0n },
        ],
        auxv: [[6n, 4096n], [33n, base + 0x20000n]],
        loads: [
          { vaddr: base, memsz: 0x1000n, flags: PF_R | PF_X, data: modulePage({ is64, le, id }) },
          { vaddr: base + 0x2000n, memsz: 0x1000n, flags: PF_R },
          { vaddr: base + 0x10000n, memsz: 0x1000n, flags: PF_R | PF_X, data: modulePage({ is64, le, id: Buffer.alloc(16, 7), noteAlign: 4 }) },
          { vaddr: base + 0x20000n, memsz: 0x1000n, flags: PF_R | PF_X, data: modulePage({ is64, le, id: Buffer.alloc(20, 9) }) },
        ],
      };
      const built = buildCore(spec);
      const bytes = coreBuffer(built);
      out.push({ name: `core ${is64 ? 64 : 32}-bit ${le ? 'LE' : 'BE'}`, bytes, fields: elfFields(bytes), focus: built.noteOffset + built.noteSize });
    }
  }
  return out;
}

function textFiles(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...textFiles(p, ext));
    else if (ext.test(name)) out.push(p);
  }
  return out.sort();
}

/** The shipped and fixture .conf files, by layout. */
export function confSeeds(): { single: Seed[]; split: Map<string, Buffer>[]; all: Seed[] } {
  const single = [join(ROOT, 'config', 'imagebuild.conf'), join(ROOT, 'test/fixtures/image/single/imagebuild.conf'), join(ROOT, 'test/fixtures/image/bad/imagebuild.conf')]
    .map((p) => ({ name: p.slice(ROOT.length + 1), bytes: readFileSync(p) }));
  const split = [join(ROOT, 'config', 'split'), join(ROOT, 'test/fixtures/image/split')].map((d) =>
    new Map(readdirSync(d).filter((f) => f.endsWith('.conf')).map((f) => [f, readFileSync(join(d, f))])));
  const all = [...textFiles(join(ROOT, 'config'), /\.conf$/), ...textFiles(join(ROOT, 'test/fixtures/image'), /\.conf$/)]
    .map((p) => ({ name: p.slice(ROOT.length + 1), bytes: readFileSync(p) }));
  return { single, split, all };
}

/** Kickstarts from the fixtures and config/kickstarts, keyed by their path. */
export function kickstartSeeds(): { name: string; path: string; bytes: Buffer }[] {
  return [...textFiles(join(ROOT, 'test/fixtures/kickstart'), /\.ks$/), ...textFiles(join(ROOT, 'config/kickstarts'), /\.ks$/)]
    .map((p) => ({ name: p.slice(ROOT.length + 1), path: p, bytes: readFileSync(p) }));
}
