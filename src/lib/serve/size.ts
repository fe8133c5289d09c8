// --cache-size, --memory-cache: a byte count with an optional unit, as du and df print them. K, M, G, T are
// powers of 1024 (KiB, MiB, ... are accepted too); KB, MB, GB, TB powers of 1000.
import { UserError } from '../errors.js';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tib: 2 ** 40,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
};

/** `zero`: 0 is a size too (--memory-cache 0: none). */
export function parseSize(text: string, flag = '--cache-size', o: { zero?: boolean } = {}): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new UserError(`${flag} "${text}": expected a size such as 500M, 20G or 1.5T (K, M, G, T: powers of 1024; KB, MB, GB, TB: of 1000)`, 2);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes < (o.zero ? 0 : 1)) throw new UserError(`${flag} "${text}": the size must be at least ${o.zero ? '0 bytes' : '1 byte'}`, 2);
  return bytes;
}
