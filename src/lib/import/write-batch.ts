// Group commit: results handed in one by one are written together, `max` at a time or `delayMs`
// after the first one waits, one batch after the other (never two at once). Each caller gets
// its own answer. A batch the store refuses as a whole for a reason of one of its items (not the
// database itself) is written again item by item, so that only the culprit fails.

export interface WriteBatchOptions {
  max: number;
  delayMs: number;
  /** True for failures of the database itself: those fail the whole batch, nothing is retried. */
  fatal: (e: unknown) => boolean;
}

interface Pending<I, R> { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }

export class WriteBatch<I, R> {
  private pending: Pending<I, R>[] = [];
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(private readonly write: (items: I[]) => Promise<R[]>, private readonly o: WriteBatchOptions) {}

  /** Items waiting or being written. */
  get size(): number {
    return this.pending.length;
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Write everything handed in so far, now. */
  async drain(): Promise<void> {
    while (this.pending.length || this.running) {
      if (this.running) await this.running;
      else this.flush();
    }
  }

  private schedule(): void {
    if (this.running) return; // the running batch schedules the next one when it ends
    if (this.pending.length >= this.o.max) { this.flush(); return; }
    this.timer ??= setTimeout(() => this.flush(), this.o.delayMs);
  }

  private flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.running || !this.pending.length) return;
    const batch = this.pending.splice(0, this.o.max);
    this.running = this.writeBatch(batch).finally(() => {
      this.running = undefined;
      if (this.pending.length) this.schedule();
    });
  }

  private async writeBatch(batch: Pending<I, R>[]): Promise<void> {
    try {
      const out = await this.write(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(out[i]));
      return;
    } catch (e) {
      if (batch.length === 1 || this.o.fatal(e)) { for (const p of batch) p.reject(e); return; }
    }
    for (const p of batch) {
      try {
        p.resolve((await this.write([p.item]))[0]);
      } catch (e) {
        p.reject(e);
      }
    }
  }
}
