// What an indexed file is: its `type` (from the ELF type and the path), and what the RPM
// header's file class (libmagic's description, FILECLASS) says about whether it is ELF at all.
import { ElfKind } from '../elf/header.js';

export type FileType = 'executable' | 'shared-library' | 'kernel-module' | 'debuginfo' | 'relocatable' | 'other';

/**
 * Decided from the ELF type and the path only, so that the header-only and the payload scan
 * (which see different evidence) always agree.
 */
export function classifyFile(kind: ElfKind, path: string): FileType {
  if (path.startsWith('/usr/lib/debug/')) return 'debuginfo';
  const base = path.slice(path.lastIndexOf('/') + 1);
  switch (kind) {
    case 'REL':
      return /\.ko(\.[a-z0-9]+)?$/.test(base) || path.includes('/lib/modules/') ? 'kernel-module' : 'relocatable';
    case 'EXEC':
      return 'executable';
    case 'DYN':
      return /\.so(\.[^/]*)?$/.test(base) ? 'shared-library' : 'executable';
    default:
      return 'other';
  }
}

/**
 * Kernel modules compressed as Linux and kmod know them (CONFIG_MODULE_COMPRESS_GZIP/XZ/ZSTD).
 * These are the only compressed members whose contents are indexed: both scans decide it from
 * the path, so they agree. Other compressed files (man pages, firmware) are not opened.
 */
export const COMPRESSED_MODULE = /\.ko\.(?:xz|zst|gz)$/;

export function isCompressedModulePath(path: string): boolean {
  return COMPRESSED_MODULE.test(path);
}

/**
 * What a file class says a regular file holds:
 * - `elf`: the stored bytes are an ELF file; `kind` when the class names the ELF type.
 * - `compressed`: compressed data; `inner` is what libmagic found inside when rpm let it look
 *   (rpm runs libmagic with MAGIC_COMPRESS), undefined when it did not or could not.
 * - `other`: positively something that is not ELF (text, script, image, archive...).
 * - `unknown`: empty, or a description this rule does not know.
 */
export type ClassVerdict =
  | { what: 'elf'; kind?: ElfKind }
  | { what: 'compressed'; inner?: ClassVerdict }
  | { what: 'other' }
  | { what: 'unknown' };

// libmagic's fsmagic puts the set-id and sticky bits in front of the description, joined by
// ", " and followed by one space ("setuid, setgid ELF 64-bit..."); file 3.x wrote "suid sgid ".
const MODE_PREFIX = /^(?:(?:setuid|setgid|sticky|suid|sgid)(?:, | ))+/;
// MAGIC_COMPRESS: "INNER (OUTER)", OUTER being the compressor's own description, which may hold
// parentheses itself ("Zstandard compressed data (v0.8+), ..."): the greedy INNER takes the last
// " (" whose rest reads as compressed data.
const COMPRESS_WRAPPER = /^(.*) \(((?:[\w.'-]+ )*compress(?:ed|'d) data\b.*)\)$/s;
const COMPRESSED = /^(?:[\w.'-]+ )*compress(?:ed|'d) data\b/;
const ELF_LINE = /^ELF (?:32|64)-bit (?:LSB|MSB) ([^,]*)/;
// What a file class can positively say instead of ELF. rpm stores a class only when it holds
// one of its tokens (build/rpmfc.c rpmfcTokens, RPMFC_INCLUDE; older releases also kept plain
// text classes), so the non-ELF classes a header carries are these; anything else is unknown.
const NOT_ELF = [
  'directory', 'troff or preprocessor input', 'GNU Info', 'perl ', 'Perl5 module source text', 'python ',
  'libtool library ', 'pkgconfig ', 'Objective caml ', 'Mono/.Net assembly', 'current ar archive',
  'Zip archive data', 'tar archive', 'cpio archive', 'RPM v3', 'RPM v4', ' image', ' font', ' Font',
  ' commands', ' script', 'empty', 'HTML', 'SGML', 'XML', ' source', 'GLS_BINARY_LSB_FIRST', ' DB ',
  ' text', ' program text', 'ASCII', 'ISO-8859', 'UTF-8', 'symbolic link to', 'character special',
  'block special', 'fifo (named pipe)', 'socket',
];

/** libmagic's descriptions run to a few hundred characters; a longer one is not read (and costs nothing). */
const MAX_CLASS = 2048;

/** Read a libmagic description (an RPM file class). Sound by construction: only a positive statement is `other`. */
export function readFileClass(cls: string): ClassVerdict {
  if (cls.length > MAX_CLASS) return { what: 'unknown' };
  const text = cls.replace(MODE_PREFIX, '');
  if (text === '') return { what: 'unknown' };
  const wrapped = COMPRESS_WRAPPER.exec(text);
  if (wrapped) {
    const inner = readFileClass(wrapped[1]);
    // libmagic says "empty" when the decompressor it tried gave nothing: that is not the content.
    return { what: 'compressed', inner: inner.what === 'other' && wrapped[1] === 'empty' ? undefined : inner };
  }
  const line = ELF_LINE.exec(text);
  if (line) return { what: 'elf', kind: elfKindOf(line[1].trim()) };
  // "ELF" in any other shape ("ELF 64-bit invalid byte order", "ELF, unknown class 3"): ELF
  // without a type we can read.
  if (/\bELF\b/.test(text)) return { what: 'elf' };
  if (COMPRESSED.test(text)) return { what: 'compressed' };
  if (NOT_ELF.some((t) => text.includes(t))) return { what: 'other' };
  return { what: 'unknown' };
}

/** The ELF type word(s) after "ELF 64-bit LSB " (libmagic's Magdir/elf, old and new). */
function elfKindOf(what: string): ElfKind | undefined {
  switch (what) {
    case 'relocatable': return 'REL';
    case 'executable': return 'EXEC';
    case 'pie executable':
    case 'shared object': return 'DYN';
    case 'no file type':
    case 'processor-specific': return 'OTHER';
    default:
      // Old magic printed core files without a comma ("core file of 'x' (signal 11)").
      return what.startsWith('core file') ? 'CORE' : undefined;
  }
}

/** ELF type from a file class such as "setuid ELF 64-bit LSB pie executable, x86-64, ...". */
export function kindFromFileClass(cls: string): ElfKind | undefined {
  const v = readFileClass(cls);
  return v.what === 'elf' ? v.kind : undefined;
}
