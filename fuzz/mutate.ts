// Seeded mutations of committed inputs, as fast-check values: a case is "seed N with these
// edits", so fast-check's seed and path replay it exactly and its shrinker drops edits one by one
// down to the few that matter. Structure-aware where it is cheap: each seed may list the
// positions of its length, count and offset fields, which get absurd values more often than
// random bytes would.
import fc from 'fast-check';

/** A number field inside a seed: binary (either byte order) or rpm cpio's 8 ASCII hex digits. */
export interface Field {
  pos: number;
  width: 1 | 2 | 4 | 8;
  enc: 'be' | 'le' | 'hex';
}

export interface Seed {
  name: string;
  bytes: Buffer;
  fields?: Field[];
  /** Mutations land in [0, focus) half of the time (the headers of an RPM, say). */
  focus?: number;
}

// Values that break size and count arithmetic. Negative ones are relative to the input length
// (-1: length - 1, -2: length, -3: length + 1), to land right at a boundary.
const INTERESTING = [
  0, 1, 2, 3, 4, 7, 8, 15, 16, 0x20, 0x40, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x1000, 0x7fff, 0x8000, 0xffff, 0x10000,
  0x7fffff, 0x1000000, 0x0fffffff, 0x10000000, 0x3fffffff, 0x7ffffffe, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
  -1, -2, -3,
];
const INTERESTING64 = [2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
const HEX_JUNK = ['zzzzzzzz', '-0000001', ' 0000001', '0x00001f', '1e100000', '        ', 'FFFFFFFF', 'ffffffff'];

export type Mutation =
  | { op: 'flip'; at: number; focus: boolean; bit: number }
  | { op: 'byte'; at: number; focus: boolean; v: number }
  | { op: 'insert'; at: number; focus: boolean; data: Uint8Array }
  | { op: 'delete'; at: number; focus: boolean; len: number }
  | { op: 'truncate'; at: number; focus: boolean }
  | { op: 'word'; at: number; focus: boolean; width: 2 | 4 | 8; le: boolean; v: number; big: number }
  | { op: 'field'; f: number; v: number; big: number; junk: number }
  | { op: 'splice'; at: number; focus: boolean; other: number; from: number; len: number }
  | { op: 'dup'; at: number; focus: boolean; from: number; len: number }
  | { op: 'token'; at: number; focus: boolean; t: number; replace: number };

const at = fc.nat();
const focus = fc.boolean();

/** One edit; `tokens` (for text formats) are inserted or written over bytes. */
export function mutationArb(tokens: readonly string[] = []): fc.Arbitrary<Mutation> {
  const arbs: fc.Arbitrary<Mutation>[] = [
    fc.record({ op: fc.constant('flip' as const), at, focus, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('byte' as const), at, focus, v: fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80, 0x0a, 0x25, 0x2f), fc.integer({ min: 0, max: 255 })) }),
    fc.record({ op: fc.constant('insert' as const), at, focus, data: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
    fc.record({ op: fc.constant('delete' as const), at, focus, len: fc.integer({ min: 1, max: 256 }) }),
    fc.record({ op: fc.constant('truncate' as const), at, focus }),
    fc.record({
      op: fc.constant('word' as const), at, focus, width: fc.constantFrom(2 as const, 4 as const, 8 as const), le: fc.boolean(),
      v: fc.nat(), big: fc.nat(),
    }),
    fc.record({ op: fc.constant('field' as const), f: fc.nat(), v: fc.nat(), big: fc.nat(), junk: fc.nat() }),
    fc.record({ op: fc.constant('splice' as const), at, focus, other: fc.nat(), from: fc.nat(), len: fc.integer({ min: 1, max: 512 }) }),
    fc.record({ op: fc.constant('dup' as const), at, focus, from: fc.nat(), len: fc.integer({ min: 1, max: 512 }) }),
  ];
  if (tokens.length) {
    const token = fc.record({ op: fc.constant('token' as const), at, focus, t: fc.nat(), replace: fc.integer({ min: 0, max: 8 }) });
    arbs.push(token, token, token); // text formats: mostly token edits
  }
  return fc.oneof(...arbs);
}

export interface MutatedCase {
  seed: number;
  mutations: Mutation[];
}

export function caseArb(tokens: readonly string[] = [], maxMutations = 6): fc.Arbitrary<MutatedCase> {
  return fc.record({ seed: fc.nat(), mutations: fc.array(mutationArb(tokens), { minLength: 1, maxLength: maxMutations }) });
}

/** The bytes of a case. Never larger than the seed plus what the edits insert. */
export function applyCase(seeds: readonly Seed[], c: MutatedCase, tokens: readonly string[] = []): { seed: Seed; bytes: Buffer } {
  const seed = seeds[c.seed % seeds.length];
  let b: Buffer = Buffer.from(seed.bytes);
  // Field positions follow the original layout; after a length change they are only approximate, which is fine.
  for (const m of c.mutations) b = apply(b, m, seed, seeds, tokens);
  return { seed, bytes: b };
}

function posOf(b: Buffer, m: { at: number; focus: boolean }, seed: Seed, inclusiveEnd = false): number {
  const span = m.focus && seed.focus ? Math.min(seed.focus, b.length) : b.length;
  return m.at % (span + (inclusiveEnd ? 1 : 0) || 1);
}

const relative = (v: number, len: number): number => (v === -1 ? Math.max(0, len - 1) : v === -2 ? len : v === -3 ? len + 1 : v);

function writeNumber(b: Buffer, pos: number, width: number, enc: 'be' | 'le' | 'hex', v: number, big: bigint | undefined): void {
  if (enc === 'hex') {
    if (pos + 8 > b.length) return;
    b.write((v >>> 0).toString(16).padStart(8, '0').slice(-8), pos, 'latin1');
    return;
  }
  if (pos + width > b.length) return;
  const le = enc === 'le';
  switch (width) {
    case 1: b[pos] = v & 0xff; break;
    case 2: le ? b.writeUInt16LE(v & 0xffff, pos) : b.writeUInt16BE(v & 0xffff, pos); break;
    case 4: le ? b.writeUInt32LE(v >>> 0, pos) : b.writeUInt32BE(v >>> 0, pos); break;
    default: {
      const x = big ?? BigInt(v >>> 0);
      le ? b.writeBigUInt64LE(x, pos) : b.writeBigUInt64BE(x, pos);
    }
  }
}

function apply(b: Buffer, m: Mutation, seed: Seed, seeds: readonly Seed[], tokens: readonly string[]): Buffer {
  const len = b.length;
  switch (m.op) {
    case 'flip': {
      if (!len) return b;
      const p = posOf(b, m, seed);
      b[p] ^= 1 << m.bit;
      return b;
    }
    case 'byte': {
      if (!len) return b;
      b[posOf(b, m, seed)] = m.v;
      return b;
    }
    case 'insert': {
      const p = posOf(b, m, seed, true);
      return Buffer.concat([b.subarray(0, p), Buffer.from(m.data), b.subarray(p)]);
    }
    case 'delete': {
      if (!len) return b;
      const p = posOf(b, m, seed);
      return Buffer.concat([b.subarray(0, p), b.subarray(Math.min(len, p + m.len))]);
    }
    case 'truncate':
      return b.subarray(0, posOf(b, m, seed, true));
    case 'word': {
      if (len < m.width) return b;
      const p = posOf(b, m, seed) % (len - m.width + 1);
      const v = relative(INTERESTING[m.v % INTERESTING.length], len);
      const big = m.width === 8 && m.big % 2 === 0 ? INTERESTING64[m.big % INTERESTING64.length] : undefined;
      writeNumber(b, p, m.width, m.le ? 'le' : 'be', v, big);
      return b;
    }
    case 'field': {
      const fields = seed.fields;
      if (!fields?.length) return b;
      const f = fields[m.f % fields.length];
      if (f.enc === 'hex' && m.junk % 5 === 0) {
        if (f.pos + 8 <= len) b.write(HEX_JUNK[m.junk % HEX_JUNK.length], f.pos, 'latin1');
        return b;
      }
      const v = relative(INTERESTING[m.v % INTERESTING.length], len);
      const big = f.width === 8 && m.big % 2 === 0 ? INTERESTING64[m.big % INTERESTING64.length] : undefined;
      writeNumber(b, f.pos, f.width, f.enc, v, big);
      return b;
    }
    case 'splice': {
      const other = seeds[m.other % seeds.length].bytes;
      if (!other.length) return b;
      const from = m.from % other.length;
      const piece = other.subarray(from, Math.min(other.length, from + m.len));
      const p = posOf(b, m, seed, true);
      return Buffer.concat([b.subarray(0, p), piece, b.subarray(Math.min(len, p + piece.length))]);
    }
    case 'dup': {
      if (!len) return b;
      const from = m.from % len;
      const piece = b.subarray(from, Math.min(len, from + m.len));
      const p = posOf(b, m, seed, true);
      return Buffer.concat([b.subarray(0, p), piece, b.subarray(p)]);
    }
    case 'token': {
      if (!tokens.length) return b;
      const t = Buffer.from(tokens[m.t % tokens.length], 'utf8');
      const p = posOf(b, m, seed, true);
      return Buffer.concat([b.subarray(0, p), t, b.subarray(Math.min(len, p + m.replace))]);
    }
  }
}

/** Split bytes into chunks of the given sizes (the rest in one last chunk): stream parsers must not care. */
export function chunked(b: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  for (const s of sizes) {
    if (p >= b.length) break;
    out.push(b.subarray(p, p + s));
    p += s;
  }
  if (p < b.length) out.push(b.subarray(p));
  return out;
}

export const chunkSizesArb = fc.array(fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4096 })), { maxLength: 12 });
