// An rpm header structure (used for both the signature header and the main header):
// 16-byte intro (magic, reserved, index count, data size), index entries, data store.
import { FormatError } from '../errors.js';
import { TagType } from './tags.js';

export const HEADER_INTRO_SIZE = 16;
const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01]);
// rpm's own limits (header.c: HEADER_TAGS_MAX, HEADER_DATA_MAX): checked before allocating.
export const MAX_INDEX_ENTRIES = 0xffff;
export const MAX_DATA_SIZE = 0x0fffffff;

export type TagValue = string | string[] | number[] | bigint[] | Buffer | null;

export interface HeaderEntry {
  tag: number;
  type: TagType;
  count: number;
  value: TagValue;
}

/** Parse the 16-byte intro; returns the size of index + data that follows it. */
export function parseHeaderIntro(intro: Buffer, what: string): { entries: number; dataSize: number; bodySize: number } {
  if (intro.length < HEADER_INTRO_SIZE || !intro.subarray(0, 4).equals(HEADER_MAGIC)) {
    throw new FormatError(`${what} has no header magic`);
  }
  const entries = intro.readUInt32BE(8);
  const dataSize = intro.readUInt32BE(12);
  if (entries === 0 || entries > MAX_INDEX_ENTRIES) throw new FormatError(`${what} claims ${entries} tags (allowed: 1-${MAX_INDEX_ENTRIES})`);
  if (dataSize > MAX_DATA_SIZE) throw new FormatError(`${what} claims ${dataSize} bytes of data (allowed: at most ${MAX_DATA_SIZE})`);
  return { entries, dataSize, bodySize: entries * 16 + dataSize };
}

const FIXED_SIZE: Partial<Record<TagType, number>> = {
  [TagType.CHAR]: 1, [TagType.INT8]: 1, [TagType.INT16]: 2, [TagType.INT32]: 4, [TagType.INT64]: 8,
};

export class Header {
  readonly entries = new Map<number, HeaderEntry>();

  /** body = index entries followed by the data store (everything after the intro). */
  constructor(body: Buffer, entryCount: number, readonly what: string) {
    const data = body.subarray(entryCount * 16);
    // rpm writes each tag's data once, so the tags together fit in the data store. Tags that
    // overlap could otherwise make a 1 MB header decode into billions of values.
    let claimed = 0;
    for (let i = 0; i < entryCount; i++) {
      const o = i * 16;
      const tag = body.readUInt32BE(o);
      const type = body.readUInt32BE(o + 4) as TagType;
      const offset = body.readInt32BE(o + 8);
      const count = body.readUInt32BE(o + 12);
      if (offset < 0 || offset > data.length) throw new FormatError(`${what} tag ${tag} points outside the header data`);
      if (count > data.length + 1 && type !== TagType.NULL) throw new FormatError(`${what} tag ${tag} claims ${count} values in ${data.length} bytes`);
      // Each value takes at least its fixed size, or one byte (a string's NUL, a BIN byte).
      claimed += type === TagType.NULL ? 0 : type === TagType.STRING ? 1 : (FIXED_SIZE[type] ?? 1) * count;
      if (claimed > data.length) throw new FormatError(`${what} tag ${tag} overlaps other tags' data (together they claim more than its ${data.length} bytes)`);
      this.entries.set(tag, { tag, type, count, value: readValue(data, type, offset, count, tag, what) });
    }
  }

  has(tag: number): boolean { return this.entries.has(tag); }

  string(tag: number): string | undefined {
    const v = this.entries.get(tag)?.value;
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0] as string;
    return undefined;
  }

  strings(tag: number): string[] | undefined {
    const v = this.entries.get(tag)?.value;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && (v.length === 0 || typeof v[0] === 'string')) return v as string[];
    return undefined;
  }

  /** Integer values of any width as JS numbers (INT64 values above 2^53 are clamped). */
  numbers(tag: number): number[] | undefined {
    const v = this.entries.get(tag)?.value;
    if (!Array.isArray(v)) return undefined;
    if (v.length === 0) return [];
    if (typeof v[0] === 'number') return v as number[];
    if (typeof v[0] === 'bigint') return (v as bigint[]).map((b) => (b > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(b)));
    return undefined;
  }

  number(tag: number): number | undefined { return this.numbers(tag)?.[0]; }

  binary(tag: number): Buffer | undefined {
    const v = this.entries.get(tag)?.value;
    return Buffer.isBuffer(v) ? v : undefined;
  }
}

function readValue(data: Buffer, type: TagType, offset: number, count: number, tag: number, what: string): TagValue {
  const fixed = FIXED_SIZE[type];
  if (fixed !== undefined) {
    const end = offset + fixed * count;
    if (end > data.length) throw new FormatError(`${what} tag ${tag} runs past the end of the header data`);
    const out: number[] | bigint[] = type === TagType.INT64 ? [] as bigint[] : [] as number[];
    for (let i = 0; i < count; i++) {
      const p = offset + i * fixed;
      switch (type) {
        case TagType.INT16: (out as number[]).push(data.readUInt16BE(p)); break;
        case TagType.INT32: (out as number[]).push(data.readUInt32BE(p)); break;
        case TagType.INT64: (out as bigint[]).push(data.readBigUInt64BE(p)); break;
        default: (out as number[]).push(data[p]);
      }
    }
    return out;
  }
  switch (type) {
    case TagType.NULL: return null;
    case TagType.BIN: {
      if (offset + count > data.length) throw new FormatError(`${what} tag ${tag} runs past the end of the header data`);
      return data.subarray(offset, offset + count);
    }
    case TagType.STRING: {
      const end = data.indexOf(0, offset);
      if (end === -1) throw new FormatError(`${what} tag ${tag} has an unterminated string`);
      return data.toString('utf8', offset, end);
    }
    case TagType.STRING_ARRAY:
    case TagType.I18NSTRING: {
      const out: string[] = [];
      let p = offset;
      for (let i = 0; i < count; i++) {
        const end = data.indexOf(0, p);
        if (end === -1) throw new FormatError(`${what} tag ${tag} has an unterminated string`);
        out.push(data.toString('utf8', p, end));
        p = end + 1;
      }
      return out;
    }
    default:
      throw new FormatError(`${what} tag ${tag} has unknown type ${type}`);
  }
}
