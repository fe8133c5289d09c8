// Claims taken from the queue for the workers waiting at the moment, in one store transaction:
// the --jobs workers of a run's start share one claim, not --jobs of them. Only waiting workers
// are claimed for, so nothing is held that no worker has started (`darkserver jobs` shows as
// running only what is in flight). Claimed RPMs are reported (`onClaim`) as they are taken, so
// their leases are renewed from then on.
import type { RpmJob } from '../store/port.js';

/**
 * Work that is still being added to the queue (builds resolved page by page): a count of the
 * additions, and whether more can come.
 */
export class Feed {
  private generation = 0;
  private open = true;
  private wake: (() => void)[] = [];

  get now(): number {
    return this.generation;
  }

  added(): void {
    this.generation++;
    this.fire();
  }

  close(): void {
    this.open = false;
    this.fire();
  }

  /** Waits until work was added after `since` (true), or no more can come (false). */
  async wait(since: number): Promise<boolean> {
    while (this.open && this.generation === since) await new Promise<void>((r) => this.wake.push(r));
    return this.generation !== since;
  }

  private fire(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }
}

export class ClaimBuffer {
  private readonly buf: RpmJob[] = [];
  private refilling?: Promise<void>;
  private empty = false;
  /** Workers waiting for an RPM now. */
  private waiting = 0;

  constructor(
    private readonly claim: (n: number) => Promise<RpmJob[]>,
    private readonly batch: number,
    private readonly onClaim: (job: RpmJob) => void = () => undefined,
    /** While it is open, an empty queue means "wait", not "done". */
    private readonly feed?: Feed,
  ) {}

  /** The next claimed RPM; undefined once the queue had nothing more to give. */
  async next(): Promise<RpmJob | undefined> {
    this.waiting++;
    try {
      while (!this.buf.length && !this.empty) {
        this.refilling ??= this.refill().finally(() => { this.refilling = undefined; });
        await this.refilling;
      }
      return this.buf.shift();
    } finally {
      this.waiting--;
    }
  }

  private async refill(): Promise<void> {
    for (;;) {
      const since = this.feed?.now ?? 0;
      // Let the answers that came in with this turn of the event loop finish first: the workers
      // they free wait too, and one claim serves them all.
      await new Promise((r) => setImmediate(r));
      const got = await this.claim(Math.max(1, Math.min(this.batch, this.waiting - this.buf.length)));
      for (const j of got) this.onClaim(j);
      if (got.length) { this.buf.push(...got); return; }
      if (!this.feed || !await this.feed.wait(since)) { this.empty = true; return; }
    }
  }
}
