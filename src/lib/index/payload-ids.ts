// Build-ids from the payload: decompress, walk the cpio archive, read only the bytes of each
// regular member that the ELF scanner asks for. Hard links: rpm stores the data once, with the
// last path of the set; the other paths come as empty members and get the same result.
// Compressed kernel modules (`.ko.xz`, `.ko.zst`, `.ko.gz`) are decompressed on the way, by a
// synchronous decoder per member, and indexed under their own (compressed) path.
import { CpioBodySink, CpioEntry, CpioParser, StrippedInfo } from '../cpio/reader.js';
import { CompressedElfScanner } from '../elf/compressed.js';
import { ElfBuildIdScanner, ElfScanResult, ScannerOptions } from '../elf/scanner.js';
import { FormatError } from '../errors.js';
import { decodePayloadInto } from '../compress/decompress.js';
import { archiveSize, hardLinkSets, isRegular, RpmInfo, S_IFMT, S_IFREG, S_IFLNK } from '../rpm/package.js';
import { classifyFile, isCompressedModulePath } from './filetype.js';
import { FileRow } from './rows.js';

export interface PayloadScan {
  rows: FileRow[];
  elfFiles: number;
  elfWithoutBuildId: number;
  /** Bytes of decompressed archive walked. */
  archiveBytes: number;
}

/** `payload`: the compressed payload bytes; the caller closes its source. */
export async function buildIdsFromPayload(info: RpmInfo, payload: AsyncIterable<Buffer>, opts: ScannerOptions = {}): Promise<PayloadScan> {
  if (info.payloadFormat !== 'cpio') throw new FormatError(`unsupported payload format "${info.payloadFormat}"`);
  const scanner = new PayloadIdScanner(info, opts);
  try {
    // Whatever follows the trailer is still decoded: it is part of the signed bytes.
    await decodePayloadInto(payload, info.payloadCompressor, (chunk) => scanner.push(chunk), { expectedSize: archiveSize(info) });
    return scanner.finish();
  } finally {
    scanner.close();
  }
}

/**
 * Build-ids from a decompressed payload pushed in synchronously, chunk by chunk: the cpio
 * parser hands each regular member's bytes to an ELF scanner until it has the note, and the
 * rest of the member is skipped. Keeps no reference to a chunk once push returns.
 */
export class PayloadIdScanner {
  private readonly parser: CpioParser;
  private readonly rows: FileRow[] = [];
  private elfFiles = 0;
  private elfWithoutBuildId = 0;
  private readonly waiting = new Map<string, string[]>(); // link set -> empty members seen before the data
  private readonly seen = new Map<string, ElfScanResult>(); // link set -> result of its data member
  private scanner?: ElfBuildIdScanner | CompressedElfScanner;

  constructor(info: RpmInfo, private readonly opts: ScannerOptions = {}) {
    this.parser = new CpioParser({
      entry: (e) => this.entry(e),
      end: (e) => this.end(e),
    }, { stripped: info.largeFiles ? strippedResolver(info) : undefined });
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  /** At the end of the payload: the rows, or a FormatError when the archive is incomplete. */
  finish(): PayloadScan {
    this.parser.end();
    return { rows: this.rows, elfFiles: this.elfFiles, elfWithoutBuildId: this.elfWithoutBuildId, archiveBytes: this.parser.position };
  }

  /** Releases what a member left half read holds (a spill file), after an error. */
  close(): void {
    this.scanner?.finish();
    this.scanner = undefined;
  }

  private record(path: string, r: ElfScanResult): void {
    if (!r.elf) return;
    this.elfFiles++;
    if (r.buildId) this.rows.push({ path, buildId: r.buildId, type: classifyFile(r.kind!, path) });
    else this.elfWithoutBuildId++;
  }

  private entry(e: CpioEntry): CpioBodySink | undefined {
    this.scanner = undefined;
    if ((e.mode & S_IFMT) !== S_IFREG || e.size === 0) return undefined;
    this.scanner = isCompressedModulePath(e.path) ? new CompressedElfScanner(e.size, this.opts) : new ElfBuildIdScanner(e.size, this.opts);
    return this.scanner;
  }

  private end(e: CpioEntry): void {
    if ((e.mode & S_IFMT) !== S_IFREG) return;
    if (e.size === 0) {
      if (e.nlink > 1) {
        const r = this.seen.get(e.linkKey);
        if (r) this.record(e.path, r);
        else this.waiting.set(e.linkKey, [...(this.waiting.get(e.linkKey) ?? []), e.path]);
      }
      return;
    }
    const r = this.scanner!.finish();
    this.scanner = undefined;
    this.record(e.path, r);
    if (e.nlink > 1) {
      this.seen.set(e.linkKey, r);
      for (const p of this.waiting.get(e.linkKey) ?? []) this.record(p, r);
      this.waiting.delete(e.linkKey);
    }
  }
}

/** Stripped (07070X) members carry only a file index; the header has the rest. */
export function strippedResolver(info: RpmInfo): (fx: number) => StrippedInfo | undefined {
  const sets = hardLinkSets(info.files);
  return (fx) => {
    const f = info.files[fx];
    if (!f) return undefined;
    const set = sets.get(fx);
    let size = 0;
    if (isRegular(f.mode)) size = set && set[set.length - 1] !== fx ? 0 : f.size;
    else if ((f.mode & S_IFMT) === S_IFLNK) size = f.size;
    return { path: f.path, mode: f.mode, size, nlink: set?.length ?? 1, linkKey: `${f.device}:${f.inode}` };
  };
}
