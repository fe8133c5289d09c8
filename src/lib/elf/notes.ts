// Parse ELF note records (Elf32_Nhdr / Elf64_Nhdr share one layout: namesz, descsz, type).
// Name and desc are padded to the note alignment (4, or 8 for PT_NOTE/SHT_NOTE with align 8).

export const NT_GNU_BUILD_ID = 3;

export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}

const align = (n: number, a: number): number => (n + a - 1) & ~(a - 1);

export function* parseNotes(buf: Buffer, littleEndian: boolean, alignment: number): Generator<ElfNote> {
  const a = alignment === 8 ? 8 : 4;
  const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  let off = 0;
  while (off + 12 <= buf.length) {
    const namesz = u32(off);
    const descsz = u32(off + 4);
    const type = u32(off + 8);
    const nameStart = off + 12;
    const descStart = nameStart + align(namesz, a);
    const end = descStart + align(descsz, a);
    // A truncated or garbage record ends the walk; nothing past it can be trusted.
    if (namesz > buf.length || descsz > buf.length || descStart + descsz > buf.length) return;
    const rawName = buf.subarray(nameStart, nameStart + namesz);
    const nul = rawName.indexOf(0);
    yield {
      name: rawName.subarray(0, nul === -1 ? rawName.length : nul).toString('latin1'),
      type,
      desc: buf.subarray(descStart, descStart + descsz),
    };
    if (end <= off) return;
    off = end;
  }
}

/** The GNU build-id in a note area, as lowercase hex, if there is one of a plausible length. */
export function findBuildId(buf: Buffer, littleEndian: boolean, alignment: number): string | undefined {
  for (const note of parseNotes(buf, littleEndian, alignment)) {
    if (note.name === 'GNU' && note.type === NT_GNU_BUILD_ID && note.desc.length >= 4 && note.desc.length <= 32) {
      return note.desc.toString('hex');
    }
  }
  return undefined;
}
