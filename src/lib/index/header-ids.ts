// Build-ids from the RPM header alone. Three kinds of evidence, all written by rpm at build time:
// the /usr/lib/.build-id and /usr/lib/debug/.build-id symlinks (rpm >= 4.14), libmagic's
// "BuildID[sha1]=..." in FILECLASS, and `debuginfo(build-id) = ...` provides. The header
// answers only when every file the payload scan could index gets exactly one id and every
// provide is matched; otherwise the caller streams the payload.
import { posix } from 'node:path';
import { ElfKind } from '../elf/header.js';
import { ClassVerdict, classifyFile, isCompressedModulePath, readFileClass } from './filetype.js';
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
// Paths where an ELF file with an empty file class would hide.
const ELFISH_PATH = /\.so(\.|$)|\.ko(\.|$)|\.debug$|^\/usr\/lib\/debug\/|\/s?bin\/|\/libexec\/|^\/(?:usr\/)?lib(64)?\/modules\//;
/** The payload scan reads nothing shorter as ELF: an ELF32 file header is 52 bytes. */
const MIN_ELF = 52;

/**
 * What the header says about one regular, non-empty file that is in the payload:
 * - `no`: the payload scan will index nothing for it;
 * - `elf`: the payload scan may index it, so it needs one build-id from the header, and `kind`
 *   (the ELF type, for the row's type) must be known;
 * - `undecided`: the header cannot say; the payload must be read (the reason says why).
 *
 * Sound by construction: a file is `no` only when its class positively says it is something
 * else than ELF, or when it is compressed data the payload scan does not open (anything but a
 * kernel module), or when an empty class sits on a file that cannot be ELF or is where no ELF
 * file is found. rpm gives every file libmagic reads as ELF a class ("ELF 64-bit", with any
 * "setuid, " prefix); an empty class means libmagic called it something rpm does not keep
 * (data, message catalogs, compressed data) or failed on it.
 */
export type HeaderVerdict = { is: 'no' } | { is: 'elf'; kind?: ElfKind } | { is: 'undecided'; reason: string };

export function headerVerdict(f: Pick<RpmFile, 'path' | 'mode' | 'size' | 'fileClass'>,
  read: (cls: string) => ClassVerdict = readFileClass): HeaderVerdict {
  const cls = f.fileClass ?? '';
  const v = read(cls);
  const module = isCompressedModulePath(f.path);
  switch (v.what) {
    case 'other':
      return { is: 'no' };
    case 'elf':
      return { is: 'elf', kind: v.kind };
    case 'compressed': {
      // Only kernel modules are decompressed by the payload scan.
      if (!module) return { is: 'no' };
      const inner = v.inner?.what;
      if (inner === 'other') return { is: 'no' };
      return { is: 'elf', kind: inner === 'elf' ? (v.inner as { kind?: ElfKind }).kind : undefined };
    }
    case 'unknown':
      if (cls !== '') return { is: 'undecided', reason: `the file class of ${f.path} ("${cls}") does not say whether it is ELF` };
      if (module || (f.size >= MIN_ELF && ((f.mode & 0o111) !== 0 || ELFISH_PATH.test(f.path)))) {
        return { is: 'undecided', reason: `${f.path} has no file class` };
      }
      return { is: 'no' };
  }
}

export function buildIdsFromHeader(info: RpmInfo): HeaderScan {
  const incomplete = (reason: string): HeaderScan => ({ complete: false, rows: [], elfFiles: 0, reason });
  if (!info.hasFileClasses) return incomplete('the header has no file classes');

  const byPath = new Map<string, RpmFile>();
  for (const f of info.files) byPath.set(f.path, f);

  // Files share a few classes (CLASSDICT): each is read once.
  const classes = new Map<string, ClassVerdict>();
  const read = (cls: string): ClassVerdict => {
    let v = classes.get(cls);
    if (!v) classes.set(cls, (v = readFileClass(cls)));
    return v;
  };
  const elf = new Map<number, ElfKind | undefined>();
  for (const f of info.files) {
    if (!isRegular(f.mode) || isGhost(f) || f.size === 0) continue;
    const v = headerVerdict(f, read);
    if (v.is === 'undecided') return incomplete(v.reason);
    if (v.is === 'elf') elf.set(f.index, v.kind);
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
    if (target && elf.has(target.index)) add(target, m[1] + m[2]);
  }
  for (const i of elf.keys()) {
    const m = CLASS_ID_RE.exec(info.files[i].fileClass ?? '');
    if (m) add(info.files[i], m[1]);
  }

  // Every path of a hard-link set holds the same bytes, so the same id.
  for (const set of hardLinkSets(info.files).values()) {
    const union = new Set<string>();
    for (const i of set) for (const id of ids.get(i) ?? []) union.add(id);
    if (union.size) for (const i of set) ids.set(i, new Set(union));
  }

  const rows: FileRow[] = [];
  const found = new Set<string>();
  for (const [i, kind] of elf) {
    const f = info.files[i];
    const s = ids.get(i);
    if (!s || s.size === 0) return incomplete(`no build-id for ${f.path} in the header`);
    if (s.size > 1) return incomplete(`the header gives ${f.path} ${s.size} different build-ids`);
    if (!kind) return incomplete(`the file class of ${f.path} does not give its ELF type`);
    const id = [...s][0];
    rows.push({ path: f.path, buildId: id, type: classifyFile(kind, f.path) });
    found.add(id);
  }
  for (const p of info.provides) {
    if (p.name !== 'debuginfo(build-id)') continue;
    if (PROVIDE_RE.test(p.version) && !found.has(p.version)) return incomplete(`provide debuginfo(build-id) = ${p.version} matches no file`);
  }
  return { complete: true, rows, elfFiles: elf.size };
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
