// What an RPM's headers say about it: NEVRA, digests, payload format and the file list.
import { FormatError } from '../errors.js';
import { Header } from './header.js';
import { RpmHeaders } from './reader.js';
import { FileFlag, SigTag, Tag } from './tags.js';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export interface RpmFile {
  index: number;
  path: string;
  mode: number;
  size: number;
  linkTo: string;
  flags: number;
  inode: number;
  device: number;
  /** Hex digest of the file's content (algorithm: RpmInfo.fileDigestAlgo); "" for non-regular files. */
  digest: string;
  /** libmagic description from FILECLASS/CLASSDICT; undefined when the header has none. */
  fileClass?: string;
}

export interface Provide {
  name: string;
  version: string;
}

export interface RpmInfo {
  name: string;
  epoch?: number;
  version: string;
  release: string;
  /** Package arch; "src" for source packages. */
  arch: string;
  isSource: boolean;
  sourceRpm?: string;
  nvr: string;
  nvra: string;
  payloadFormat: string;
  payloadCompressor: string;
  /** MD5 over header + payload from the signature header (Koji's payloadhash), hex. */
  sigmd5?: string;
  /** SHA-256 of the header from the signature header, hex. */
  sha256?: string;
  sha1?: string;
  payloadDigest?: string;
  files: RpmFile[];
  provides: Provide[];
  /** True when the header carries file classes (FILECLASS + CLASSDICT). */
  hasFileClasses: boolean;
  /** True when files are stored in rpm's stripped large-file cpio form. */
  largeFiles: boolean;
  /** PGP hash algorithm of the file digests: 1 MD5 (the default), 8 SHA256, ... */
  fileDigestAlgo: number;
}

export const isRegular = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;
export const isSymlink = (mode: number): boolean => (mode & S_IFMT) === S_IFLNK;

export function describeRpm(h: RpmHeaders): RpmInfo {
  const hdr = h.header;
  const name = required(hdr, Tag.NAME, 'NAME');
  const version = required(hdr, Tag.VERSION, 'VERSION');
  const release = required(hdr, Tag.RELEASE, 'RELEASE');
  const epoch = hdr.number(Tag.EPOCH);
  const sourceRpm = hdr.string(Tag.SOURCERPM);
  // Source packages carry no SOURCERPM (and say so in the lead and with SOURCEPACKAGE).
  const isSource = h.lead.type === 1 || hdr.has(Tag.SOURCEPACKAGE) || !sourceRpm;
  const arch = isSource ? 'src' : (hdr.string(Tag.ARCH) ?? 'noarch');
  const nvr = `${name}-${version}-${release}`;
  const md5 = h.signature.binary(SigTag.MD5);
  const names = hdr.strings(Tag.PROVIDENAME) ?? [];
  const versions = hdr.strings(Tag.PROVIDEVERSION) ?? [];
  return {
    name, epoch, version, release, arch, isSource, sourceRpm, nvr,
    nvra: `${nvr}.${arch}`,
    payloadFormat: hdr.string(Tag.PAYLOADFORMAT) ?? 'cpio',
    payloadCompressor: hdr.string(Tag.PAYLOADCOMPRESSOR) ?? 'gzip',
    sigmd5: md5 && md5.length === 16 ? md5.toString('hex') : undefined,
    sha256: h.signature.string(SigTag.SHA256),
    sha1: h.signature.string(SigTag.SHA1),
    payloadDigest: hdr.strings(Tag.PAYLOADDIGEST)?.[0],
    files: fileList(hdr),
    provides: names.map((n, i) => ({ name: n, version: versions[i] ?? '' })),
    hasFileClasses: hdr.has(Tag.FILECLASS) && hdr.has(Tag.CLASSDICT),
    largeFiles: hdr.has(Tag.LONGFILESIZES),
    fileDigestAlgo: hdr.number(Tag.FILEDIGESTALGO) ?? 1,
  };
}

function required(hdr: Header, tag: number, label: string): string {
  const v = hdr.string(tag);
  if (!v) throw new FormatError(`main header has no ${label}`);
  return v;
}

function fileList(hdr: Header): RpmFile[] {
  const basenames = hdr.strings(Tag.BASENAMES);
  if (!basenames || basenames.length === 0) return [];
  const count = basenames.length;
  const dirnames = hdr.strings(Tag.DIRNAMES) ?? [];
  const dirindexes = hdr.numbers(Tag.DIRINDEXES) ?? [];
  const sizes = hdr.numbers(Tag.LONGFILESIZES) ?? hdr.numbers(Tag.FILESIZES) ?? [];
  const modes = hdr.numbers(Tag.FILEMODES) ?? [];
  const links = hdr.strings(Tag.FILELINKTOS) ?? [];
  const flags = hdr.numbers(Tag.FILEFLAGS) ?? [];
  const inodes = hdr.numbers(Tag.FILEINODES) ?? [];
  const devices = hdr.numbers(Tag.FILEDEVICES) ?? [];
  const digests = hdr.strings(Tag.FILEDIGESTS) ?? [];
  const classIdx = hdr.numbers(Tag.FILECLASS);
  const dict = hdr.strings(Tag.CLASSDICT);
  // Parallel arrays must agree, or every index below would be a guess.
  const check = (arr: unknown[] | undefined, label: string): void => {
    if (arr && arr.length > 0 && arr.length !== count) throw new FormatError(`main header lists ${count} files but ${arr.length} ${label}`);
  };
  check(dirindexes, 'DIRINDEXES'); check(sizes, 'file sizes'); check(modes, 'FILEMODES');
  check(links, 'FILELINKTOS'); check(flags, 'FILEFLAGS'); check(inodes, 'FILEINODES');
  check(devices, 'FILEDEVICES'); check(classIdx, 'FILECLASS'); check(digests, 'FILEDIGESTS');
  if (dirindexes.length !== count) throw new FormatError(`main header lists ${count} files but no DIRINDEXES`);

  const out: RpmFile[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const dir = dirnames[dirindexes[i]];
    if (dir === undefined) throw new FormatError(`main header file ${i} points at directory ${dirindexes[i]} of ${dirnames.length}`);
    const ci = classIdx?.[i];
    out[i] = {
      index: i,
      path: dir + basenames[i],
      mode: modes[i] ?? 0,
      size: sizes[i] ?? 0,
      linkTo: links[i] ?? '',
      flags: flags[i] ?? 0,
      inode: inodes[i] ?? 0,
      device: devices[i] ?? 0,
      digest: digests[i] ?? '',
      fileClass: dict && ci !== undefined ? dict[ci] : undefined,
    };
  }
  return out;
}

export const isGhost = (f: RpmFile): boolean => (f.flags & FileFlag.GHOST) !== 0;

/**
 * Hard-link sets as rpm builds them (rpmfi.c rpmfilesBuildNLink): regular, non-ghost files
 * sharing device and inode. Maps each member's index to the whole set, in index order.
 */
export function hardLinkSets(files: RpmFile[]): Map<number, number[]> {
  const byId = new Map<string, number[]>();
  for (const f of files) {
    if (!isRegular(f.mode) || isGhost(f) || f.inode <= 0) continue;
    const key = `${f.device}:${f.inode}`;
    const set = byId.get(key);
    if (set) set.push(f.index); else byId.set(key, [f.index]);
  }
  const out = new Map<number, number[]>();
  for (const set of byId.values()) if (set.length > 1) for (const i of set) out.set(i, set);
  return out;
}

/** The payload's size as the header tells it: its regular files plus cpio headers and names. */
export function archiveSize(info: RpmInfo): number {
  let n = 0;
  for (const f of info.files) n += (isRegular(f.mode) ? f.size : 0) + 120 + f.path.length;
  return n;
}
