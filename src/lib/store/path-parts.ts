// How both adapters store a path: as three interned names (see splitPath).

/**
 * A path as the three names it is stored as, concatenated back in queries: the folder up to and
 * including its last "/", then the file name; under /usr/lib/debug/ a file name with two or more
 * "-" is cut before the second-to-last one, so "libfoo.so.1.2-1.2-3.fc38.x86_64.debug" is stem
 * "libfoo.so.1.2" (shared with the binary's name) and tail "-1.2-3.fc38.x86_64.debug" (shared by
 * every file of that debuginfo RPM). Any split concatenates back to the path; this one makes the
 * parts repeat. The rule is part of the schema: --file finds a path by its parts, so changing it
 * needs a migration that re-splits the stored paths.
 */
export function splitPath(path: string): [dir: string, stem: string, tail: string] {
  const i = path.lastIndexOf('/') + 1;
  const dir = path.slice(0, i);
  const base = path.slice(i);
  if (path.startsWith('/usr/lib/debug/')) {
    const r = base.lastIndexOf('-');
    const v = r > 0 ? base.lastIndexOf('-', r - 1) : -1;
    if (v > 0) return [dir, base.slice(0, v), base.slice(v)];
  }
  return [dir, base, ''];
}
