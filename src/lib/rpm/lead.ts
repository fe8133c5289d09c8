// The 96-byte lead: obsolete for rpm itself but still the file's magic and source/binary marker.
import { FormatError } from '../errors.js';

export const LEAD_SIZE = 96;
const LEAD_MAGIC = 0xedabeedb;

export interface Lead {
  major: number;
  minor: number;
  /** 0 = binary, 1 = source */
  type: number;
  name: string;
  signatureType: number;
}

export function parseLead(buf: Buffer): Lead {
  if (buf.length < LEAD_SIZE || buf.readUInt32BE(0) !== LEAD_MAGIC) {
    throw new FormatError('not an RPM file (no RPM lead magic at byte 0)');
  }
  const major = buf[4];
  if (major < 3 || major > 4) throw new FormatError(`unsupported RPM format version ${major}.${buf[5]}`);
  const nameEnd = buf.indexOf(0, 10);
  return {
    major,
    minor: buf[5],
    type: buf.readUInt16BE(6),
    name: buf.subarray(10, nameEnd > 10 && nameEnd < 76 ? nameEnd : 76).toString('latin1'),
    signatureType: buf.readUInt16BE(78),
  };
}
