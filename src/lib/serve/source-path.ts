// The source path of a /buildid/ID/source/PATH request, as debuginfod clients send it:
// libdebuginfod percent-encodes each segment of the absolute path and keeps the slashes
// (`/usr/src/debug/x%20y/a.c`); older clients send a double slash after "source". gdb asks for
// DW_AT_comp_dir + "/" + DW_AT_name without normalizing, so a legitimate path may hold "." or
// ".." segments (a build in a subfolder naming ../src/a.c): they are resolved as debuginfod
// resolves them. A path that would climb above "/" (the traversal probe
// `/buildid/ID/source/../../../../etc/passwd`, also %2e%2e-encoded), one with a NUL byte, an
// invalid escape or nothing in it is refused. The path is only ever compared with the file
// names in the build's RPM header, never used to open a file.
import { HttpError } from './http-error.js';

/** Longest source path accepted (PATH_MAX; libdebuginfod's own limit for its URLs). */
export const MAX_SOURCE_PATH = 4096;

export function sourcePathOf(rawSuffix: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawSuffix);
  } catch {
    throw new HttpError(400, 'the source path is not validly percent-encoded');
  }
  if (decoded.includes('\0')) throw new HttpError(400, 'the source path holds a NUL byte');
  if (!decoded.startsWith('/')) throw new HttpError(400, 'the source path must be absolute (/buildid/ID/source/ABSOLUTE/PATH)');
  if (Buffer.byteLength(decoded) > MAX_SOURCE_PATH) throw new HttpError(414, `the source path is longer than ${MAX_SOURCE_PATH} bytes`);
  const out: string[] = [];
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (!out.length) throw new HttpError(400, 'the source path climbs above the root with ".."');
      out.pop();
      continue;
    }
    out.push(seg);
  }
  if (!out.length) throw new HttpError(400, 'the source path names no file');
  return `/${out.join('/')}`;
}
