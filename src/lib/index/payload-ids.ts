// Build-ids from the payload: decompress, walk the cpio archive, read only the bytes of each
// regular member that the ELF scanner asks for. Hard links: rpm stores the data once, with the
// last path of the set; the other paths come as empty members and get the same result.
import { Readable } from 'node:stream';
import { ChunkReader, CpioArchive, StrippedInfo } from '../cpio/reader.js';
import { ElfBuildIdScanner, ElfScanResult, ScannerOptions } from '../elf/scanner.js';
import { FormatError } from '../errors.js';
import { decodePayload } from '../compress/decompress.js';
import { hardLinkSets, isRegular, RpmInfo, S_IFMT, S_IFREG, S_IFLNK } from '../rpm/package.js';
import { classifyFile } from './filetype.js';
import { FileRow } from './rows.js';

export interface PayloadScan {
  rows: FileRow[];
  elfFiles: number;
  elfWithoutBuildId: number;
  /** Bytes of decompressed archive walked. */
  archiveBytes: number;
}

export async function buildIdsFromPayload(info: RpmInfo, payload: Readable, opts: ScannerOptions = {}): Promise<PayloadScan> {
  if (info.payloadFormat !== 'cpio') throw new FormatError(`unsupported payload format "${info.payloadFormat}"`);
  const reader = new ChunkReader(decodePayload(payload, info.payloadCompressor));
  const archive = new CpioArchive(reader, { stripped: info.largeFiles ? strippedResolver(info) : undefined });

  const rows: FileRow[] = [];
  let elfFiles = 0;
  let elfWithoutBuildId = 0;
  const waiting = new Map<string, string[]>(); // link set -> empty members seen before the data
  const seen = new Map<string, ElfScanResult>(); // link set -> result of its data member

  const record = (path: string, r: ElfScanResult): void => {
    if (!r.elf) return;
    elfFiles++;
    if (r.buildId) rows.push({ path, buildId: r.buildId, type: classifyFile(r.kind!, path) });
    else elfWithoutBuildId++;
  };

  try {
    for (;;) {
      const e = await archive.next();
      if (!e) break;
      if ((e.mode & S_IFMT) !== S_IFREG) continue;
      if (e.size === 0) {
        if (e.nlink > 1) {
          const r = seen.get(e.linkKey);
          if (r) record(e.path, r);
          else waiting.set(e.linkKey, [...(waiting.get(e.linkKey) ?? []), e.path]);
        }
        continue;
      }
      const scanner = new ElfBuildIdScanner(e.size, opts);
      for await (const chunk of archive.body()) {
        if (scanner.push(chunk)) break;
      }
      const r = scanner.finish();
      record(e.path, r);
      if (e.nlink > 1) {
        seen.set(e.linkKey, r);
        for (const p of waiting.get(e.linkKey) ?? []) record(p, r);
        waiting.delete(e.linkKey);
      }
    }
    // Whatever follows the trailer is still part of the signed bytes.
    await reader.drain();
  } finally {
    payload.destroy();
  }
  return { rows, elfFiles, elfWithoutBuildId, archiveBytes: reader.position };
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
