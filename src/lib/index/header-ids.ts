// Build-ids from the RPM header alone. Three kinds of evidence, all written by rpm at build time:
// the /usr/lib/.build-id and /usr/lib/debug/.build-id symlinks (rpm >= 4.14), libmagic's
// "BuildID[sha1]=..." in FILECLASS, and `debuginfo(build-id) = ...` provides. The header
// answers only when every ELF file it lists gets exactly one id and every provide is matched;
// otherwise the caller streams the payload.
import { posix } from 'node:path';
import { kindFromFileClass, classifyFile } from './filetype.js';
import { hardLinkSets, isGhost, isRegular, isSymlink, RpmFile, RpmInfo } from '../rpm/package.js';
import { FileRow } from './rows.js';

export interface HeaderScan {
  complete: boolean;
  rows: FileRow[];
  elfFiles: number;
  /** Why the header was not enough (for --verbose and tests). */
  reason?: string;
}

const LINK_RE = /^\/usr\/lib\/(?:debug\/)?\.build-id\/([0-9a-f]{2})\/([0-9a-f]{6,62})(?:\.\d+)?(?:\.debug)?$/;
const CLASS_ID_RE = /BuildID\[[^\]]*\]=([0-9a-f]{8,64})\b/;
const PROVIDE_RE = /^[0-9a-f]{8,64}$/;
// Paths where an ELF file without a file class would hide.
const ELFISH_PATH = /\.so(\.|$)|\.ko(\.|$)|\.debug$|^\/usr\/lib\/debug\/|\/s?bin\/|\/libexec\/|^\/lib(64)?\/modules\//;

export function buildIdsFromHeader(info: RpmInfo): HeaderScan {
  const incomplete = (reason: string): HeaderScan => ({ complete: false, rows: [], elfFiles: 0, reason });
  if (!info.hasFileClasses) return incomplete('the header has no file classes');

  const byPath = new Map<string, RpmFile>();
  for (const f of info.files) byPath.set(f.path, f);

  const elf: RpmFile[] = [];
  for (const f of info.files) {
    if (!isRegular(f.mode) || isGhost(f) || f.size === 0) continue;
    const cls = f.fileClass ?? '';
    if (cls.startsWith('ELF ')) elf.push(f);
    else if (cls === '' && f.size >= 52 && ((f.mode & 0o111) !== 0 || ELFISH_PATH.test(f.path))) {
      return incomplete(`${f.path} has no file class`);
    }
  }

  const ids = new Map<number, Set<string>>();
  const add = (f: RpmFile, id: string): void => {
    let s = ids.get(f.index);
    if (!s) ids.set(f.index, (s = new Set()));
    s.add(id);
  };

  for (const f of info.files) {
    if (!isSymlink(f.mode) || !f.linkTo) continue;
    const m = LINK_RE.exec(f.path);
    if (!m) continue;
    const target = resolveLink(f, byPath);
    if (target && isRegular(target.mode) && target.fileClass?.startsWith('ELF ')) add(target, m[1] + m[2]);
  }
  for (const f of elf) {
    const m = CLASS_ID_RE.exec(f.fileClass!);
    if (m) add(f, m[1]);
  }

  // Every path of a hard-link set holds the same bytes, so the same id.
  for (const set of hardLinkSets(info.files).values()) {
    const union = new Set<string>();
    for (const i of set) for (const id of ids.get(i) ?? []) union.add(id);
    if (union.size) for (const i of set) ids.set(i, new Set(union));
  }

  const rows: FileRow[] = [];
  const found = new Set<string>();
  for (const f of elf) {
    const s = ids.get(f.index);
    if (!s || s.size === 0) return incomplete(`no build-id for ${f.path} in the header`);
    if (s.size > 1) return incomplete(`the header gives ${f.path} ${s.size} different build-ids`);
    const id = [...s][0];
    const kind = kindFromFileClass(f.fileClass!)!;
    rows.push({ path: f.path, buildId: id, type: classifyFile(kind, f.path) });
    found.add(id);
  }
  for (const p of info.provides) {
    if (p.name !== 'debuginfo(build-id)') continue;
    if (PROVIDE_RE.test(p.version) && !found.has(p.version)) return incomplete(`provide debuginfo(build-id) = ${p.version} matches no file`);
  }
  return { complete: true, rows, elfFiles: elf.length };
}

/** Follow a symlink inside the package (relative or absolute), through further symlinks. */
function resolveLink(link: RpmFile, byPath: Map<string, RpmFile>): RpmFile | undefined {
  let cur = link;
  for (let hops = 0; hops < 8; hops++) {
    const target = posix.normalize(cur.linkTo.startsWith('/') ? cur.linkTo : posix.join(posix.dirname(cur.path), cur.linkTo));
    const next = byPath.get(target);
    if (!next || !isSymlink(next.mode)) return next;
    cur = next;
  }
  return undefined;
}
