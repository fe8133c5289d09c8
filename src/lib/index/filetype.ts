// The `type` of an indexed file. Decided from the ELF type and the path only, so that the
// header-only and the payload scan (which see different evidence) always agree.
import { ElfKind } from '../elf/header.js';

export type FileType = 'executable' | 'shared-library' | 'kernel-module' | 'debuginfo' | 'relocatable' | 'other';

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

/** ELF type from a libmagic description such as "ELF 64-bit LSB pie executable, x86-64, ...". */
export function kindFromFileClass(cls: string): ElfKind | undefined {
  if (!cls.startsWith('ELF ')) return undefined;
  const what = cls.split(',')[0];
  if (/\brelocatable\b/.test(what)) return 'REL';
  if (/\bpie executable\b/.test(what) || /\bshared object\b/.test(what)) return 'DYN';
  if (/\bexecutable\b/.test(what)) return 'EXEC';
  if (/\bcore file\b/.test(what)) return 'CORE';
  return 'OTHER';
}
