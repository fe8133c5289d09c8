// Make a real core dump look as kernels before 3.7 (and several arches' dumpers) write them:
// remove its NT_FILE note, in place; or drop some files from NT_FILE. The notes after the one
// changed move up, the PT_NOTE's p_filesz shrinks and the freed tail is zeroed; nothing else in
// the file moves, so every PT_LOAD stays valid.
// Run directly: node --import tsx test/helpers/strip-nt-file.ts CORE…   (removes NT_FILE)
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const NT_FILE = 0x46494c45;
const PT_NOTE = 4;

function readAt(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const n = readSync(fd, b, 0, length, offset);
  if (n !== length) throw new Error(`short read at ${offset}`);
  return b;
}

interface Layout { is64: boolean; le: boolean }

/**
 * Rewrite the notes of the core at `path`: `edit` returns undefined to keep a note, null to
 * remove it, or a new desc. Returns how many notes were changed or removed.
 */
export function editNotes(path: string, edit: (name: string, type: number, desc: Buffer, l: Layout) => Buffer | null | undefined): number {
  const fd = openSync(path, 'r+');
  try {
    const eh = readAt(fd, 0, 64);
    if (eh.toString('latin1', 0, 4) !== '\x7fELF') throw new Error(`${path}: not ELF`);
    const is64 = eh[4] === 2;
    const le = eh[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const put32 = (b: Buffer, v: number, o: number): void => { if (le) b.writeUInt32LE(v, o); else b.writeUInt32BE(v, o); };
    const word = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const setWord = (b: Buffer, o: number, v: number): void => {
      if (is64) { if (le) b.writeBigUInt64LE(BigInt(v), o); else b.writeBigUInt64BE(BigInt(v), o); } else put32(b, v, o);
    };
    const phoff = is64 ? word(eh, 32) : u32(eh, 28);
    const phentsize = u16(eh, is64 ? 54 : 42);
    const phnum = u16(eh, is64 ? 56 : 44);
    const [offField, sizeField, alignField] = is64 ? [8, 32, 48] : [4, 16, 28];
    let changed = 0;
    for (let i = 0; i < phnum; i++) {
      const ph = readAt(fd, phoff + i * phentsize, phentsize);
      if (u32(ph, 0) !== PT_NOTE) continue;
      const off = word(ph, offField);
      const size = word(ph, sizeField);
      const a = word(ph, alignField) === 8 ? 8 : 4;
      const up = (n: number): number => Math.ceil(n / a) * a;
      const notes = readAt(fd, off, size);
      const kept: Buffer[] = [];
      for (let o = 0; o + 12 <= notes.length;) {
        const namesz = u32(notes, o);
        const descsz = u32(notes, o + 4);
        const type = u32(notes, o + 8);
        const end = o + 12 + up(namesz) + up(descsz);
        const name = notes.toString('latin1', o + 12, o + 12 + namesz).replace(/\0+$/, '');
        const descAt = o + 12 + up(namesz);
        const out = edit(name, type, notes.subarray(descAt, descAt + descsz), { is64, le });
        if (out === undefined) kept.push(notes.subarray(o, Math.min(end, notes.length)));
        else {
          changed++;
          if (out !== null) {
            const n = Buffer.alloc(12 + up(namesz) + up(out.length));
            notes.copy(n, 0, o, o + 12 + up(namesz));
            put32(n, out.length, 4);
            out.copy(n, 12 + up(namesz));
            kept.push(n);
          }
        }
        o = end;
      }
      const body = Buffer.concat(kept);
      if (body.length > size) throw new Error(`${path}: the edited notes do not fit in the note segment`);
      const out = Buffer.alloc(size);
      body.copy(out);
      writeSync(fd, out, 0, size, off);
      setWord(ph, sizeField, body.length);
      writeSync(fd, ph, 0, phentsize, phoff + i * phentsize);
    }
    return changed;
  } finally {
    closeSync(fd);
  }
}

/** Remove every CORE/NT_FILE note from the core at `path`; returns how many were removed. */
export function stripNtFile(path: string): number {
  return editNotes(path, (name, type) => (name === 'CORE' && type === NT_FILE ? null : undefined));
}

/** Drop the mappings of files whose path `drop` matches from the core's NT_FILE note. */
export function dropFromNtFile(path: string, drop: (file: string) => boolean): number {
  let dropped = 0;
  editNotes(path, (name, type, desc, { is64, le }) => {
    if (name !== 'CORE' || type !== NT_FILE) return undefined;
    const ws = is64 ? 8 : 4;
    const rd = (o: number): bigint => (is64 ? (le ? desc.readBigUInt64LE(o) : desc.readBigUInt64BE(o)) : BigInt(le ? desc.readUInt32LE(o) : desc.readUInt32BE(o)));
    const count = Number(rd(0));
    let names = ws * (2 + 3 * count);
    const keep: { words: Buffer; name: Buffer }[] = [];
    for (let i = 0; i < count; i++) {
      const nul = desc.indexOf(0, names);
      const file = desc.toString('utf8', names, nul);
      if (drop(file)) dropped++;
      else keep.push({ words: desc.subarray(ws * (2 + 3 * i), ws * (5 + 3 * i)), name: desc.subarray(names, nul + 1) });
      names = nul + 1;
    }
    const head = Buffer.from(desc.subarray(0, 2 * ws));
    if (is64) { if (le) head.writeBigUInt64LE(BigInt(keep.length), 0); else head.writeBigUInt64BE(BigInt(keep.length), 0); } else if (le) head.writeUInt32LE(keep.length, 0); else head.writeUInt32BE(keep.length, 0);
    return Buffer.concat([head, ...keep.map((k) => k.words), ...keep.map((k) => k.name)]);
  });
  return dropped;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const f of process.argv.slice(2)) process.stdout.write(`${f}: removed ${stripNtFile(f)} NT_FILE note(s)\n`);
}
