// Paths that come from a core dump or an RPM header are data: before one becomes a place in the
// debug tree it must be absolute, plain (no "", ".", ".." segments, no NUL) and of sane length.
// The folders made for it are then checked, symlinks resolved, to lie inside the cache.
import { join } from 'node:path';

const MAX_PATH = 4096;

/** `path` as a relative path below a tree root, or undefined when it is not a plain absolute path. */
export function plainRelative(path: string): string | undefined {
  if (!path.startsWith('/') || path.includes('\0') || Buffer.byteLength(path) > MAX_PATH) return undefined;
  const segs = path.split('/').slice(1);
  if (!segs.length || segs.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  return segs.join('/');
}

/** Where `path` goes below `root`, or undefined (see plainRelative). */
export function underRoot(root: string, path: string): string | undefined {
  const rel = plainRelative(path);
  return rel === undefined ? undefined : join(root, rel);
}
