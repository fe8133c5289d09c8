// Concurrent callers asking for the same key share one run of the work: fifty requests for
// files of one RPM cause one download of it. The key is forgotten when the run settles, so a
// later caller (after a failure, say) starts afresh.
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  get size(): number {
    return this.running.size;
  }

  /** The running promise for `key`, or a new run of `work`; `joined` says which. */
  run(key: string, work: () => Promise<T>): { promise: Promise<T>; joined: boolean } {
    const current = this.running.get(key);
    if (current) return { promise: current, joined: true };
    const promise = (async () => {
      try {
        return await work();
      } finally {
        this.running.delete(key);
      }
    })();
    this.running.set(key, promise);
    return { promise, joined: false };
  }
}
