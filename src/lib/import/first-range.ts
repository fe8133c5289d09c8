// How many bytes the first Range request of an RPM asks for: enough for the lead, the signature
// header and the main header of a typical package, so that most RPMs cost one request. Measured
// (lead + signature + main header): the test fixtures 2.6-17 KB, real Fedora and RHEL packages
// 16-33 KB (hello, rpm-sign, info, imsettings), packages of many files far more (each file costs
// some 140 bytes of header, an IMA signature more). The run starts at 64 KiB and then asks for
// the 90th percentile of the header sizes it has seen, so that about one RPM in ten needs a
// second request and the bytes fetched stay close to the headers themselves.

export const INITIAL_FIRST_RANGE = 64 * 1024;
/** Below this, a request costs more in round trips than it saves in bytes. */
export const MIN_FIRST_RANGE = 16 * 1024;
export const MAX_FIRST_RANGE = 1024 * 1024;
/** Sizes seen before the learnt figure replaces the initial one. */
const WARM_UP = 16;
/** The most recent sizes kept (a run moves on from one kind of package to another). */
const WINDOW = 512;
const PERCENTILE = 90;
const ROUND = 4096;

export class FirstRange {
  private readonly seen: number[] = [];
  private next = 0;
  private cached?: number;

  /** Bytes for the first request of an RPM of `size` bytes (Koji's size, when known): never more than the file. */
  bytes(size?: number | null): number {
    const want = this.cached ??= this.learnt();
    return size && size > 0 ? Math.min(want, size) : want;
  }

  /** Where an RPM's payload started (lead + signature + main header), once its headers were read. */
  record(headerEnd: number): void {
    if (!(headerEnd > 0)) return;
    if (this.seen.length < WINDOW) this.seen.push(headerEnd);
    else { this.seen[this.next] = headerEnd; this.next = (this.next + 1) % WINDOW; }
    this.cached = undefined;
  }

  private learnt(): number {
    if (this.seen.length < WARM_UP) return INITIAL_FIRST_RANGE;
    const sorted = [...this.seen].sort((a, b) => a - b);
    const p = sorted[Math.min(sorted.length - 1, Math.ceil((PERCENTILE / 100) * sorted.length) - 1)];
    return Math.min(MAX_FIRST_RANGE, Math.max(MIN_FIRST_RANGE, Math.ceil(p / ROUND) * ROUND));
  }
}
