// Build-id of an ELF file stored compressed inside an archive (a kernel module `.ko.xz`,
// `.ko.zst`, `.ko.gz`), read as the member streams by: the compressor is recognised from the
// member's first bytes, its output goes straight to an ElfBuildIdScanner, and decoding stops as
// soon as that has what it needs. A member that does not start with a compressor's magic is read
// as it is. Nothing is kept from a pushed chunk after push returns.
import { MemberDecoder, memberCompressor, openMemberDecoder } from '../compress/member.js';
import { FormatError } from '../errors.js';
import { ElfBuildIdScanner, ElfScanResult, ScannerOptions } from './scanner.js';

/**
 * Decompressed bytes read from one member at most. The largest kernel modules are tens of MiB;
 * past this a member is a decompression bomb and is read no further (what was found stands).
 */
export const MAX_DECOMPRESSED = 1 << 30;
const MAGIC_BYTES = 6;

export class CompressedElfScanner {
  /** Copies of the first chunks while they are shorter than a magic (rare). */
  private early: Buffer[] = [];
  private earlyLen = 0;
  private decoder?: MemberDecoder;
  private elf?: ElfBuildIdScanner;
  private produced = 0;
  private failed = false;
  private readonly max: number;
  done = false;

  /** `size`: the member's (compressed) size. */
  constructor(private readonly size: number, private readonly opts: ScannerOptions = {}) {
    this.max = opts.maxDecompressed ?? MAX_DECOMPRESSED;
  }

  /** Feed the next bytes of the member; true once nothing more is needed. */
  push(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return this.done;
    if (this.elf) return this.feed(chunk);
    const have = this.earlyLen + chunk.length;
    if (have < MAGIC_BYTES && have < this.size) {
      this.early.push(Buffer.from(chunk));
      this.earlyLen = have;
      return false;
    }
    this.start(Buffer.concat([...this.early, chunk.subarray(0, MAGIC_BYTES)]));
    const early = this.early;
    this.early = [];
    for (const b of early) if (this.feed(b)) return true;
    return this.feed(chunk);
  }

  /** Call at the end of the member (or once push returned true). */
  finish(): ElfScanResult {
    if (!this.elf) {
      // Shorter than any magic: read as it is.
      this.start(Buffer.concat(this.early));
      for (const b of this.early) this.feed(b);
      this.early = [];
    }
    if (!this.done && this.decoder && !this.failed) {
      try {
        this.decoder.end((b) => this.out(b));
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    }
    this.decoder?.close();
    this.decoder = undefined;
    this.done = true;
    return this.elf!.finish();
  }

  private start(head: Buffer): void {
    const kind = memberCompressor(head);
    if (kind) {
      this.decoder = openMemberDecoder(kind);
      this.elf = new ElfBuildIdScanner(this.max, this.opts);
    } else {
      this.elf = new ElfBuildIdScanner(this.size, this.opts);
    }
  }

  private feed(chunk: Buffer): boolean {
    if (this.done) return true;
    if (!this.decoder) {
      if (this.elf!.push(chunk)) this.done = true;
      return this.done;
    }
    try {
      if (!this.decoder.push(chunk, (b) => this.out(b))) this.done = true;
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      // Not decodable (damaged, or a dictionary over the memory limit): what the ELF scanner
      // has seen so far is the answer.
      this.failed = true;
      this.done = true;
    }
    return this.done;
  }

  private out(b: Buffer): boolean {
    if (this.produced + b.length > this.max) return false;
    this.produced += b.length;
    return !this.elf!.push(b);
  }
}
