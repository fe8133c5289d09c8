// Write cpio archives by hand: newc members and rpm's stripped 07070X members.

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

export interface NewcMember {
  name: string;
  data?: Buffer;
  mode?: number;
  ino?: number;
  nlink?: number;
}

export function newc(members: NewcMember[], trailer = true): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  const put = (b: Buffer): void => { parts.push(b); len += b.length; };
  const entry = (m: NewcMember): void => {
    const data = m.data ?? Buffer.alloc(0);
    const name = Buffer.from(m.name + '\0');
    const fields = [m.ino ?? 1, m.mode ?? 0o100644, 0, 0, m.nlink ?? 1, 0, data.length, 8, 1, 0, 0, name.length, 0];
    put(Buffer.from('070701' + fields.map(hex8).join(''), 'latin1'));
    put(name);
    put(pad4(len));
    put(data);
    put(pad4(len));
  };
  members.forEach(entry);
  if (trailer) entry({ name: 'TRAILER!!!', ino: 0, mode: 0, nlink: 1 });
  return Buffer.concat(parts);
}

/** rpm's stripped form: each member is magic + file index, data sizes come from the header. */
export function stripped(members: { fx: number; data?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  const put = (b: Buffer): void => { parts.push(b); len += b.length; };
  for (const m of members) {
    put(pad4(len));
    put(Buffer.from('07070X' + hex8(m.fx), 'latin1'));
    put(pad4(len));
    if (m.data) put(m.data);
  }
  put(pad4(len));
  const tail = newc([], true);
  put(tail);
  return Buffer.concat(parts);
}
