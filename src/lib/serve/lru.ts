// Which cache files go first when the cache is over its bound (--cache-size): the least
// recently used ones that nobody is using. A pinned file (being served, or an RPM being read) is
// never a victim, however old; if only pinned files are left, the cache stays over its bound
// until they are released.
interface Entry {
  size: number;
}

export class LruAccount {
  /** Map order is use order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly pins = new Map<string, number>();
  private bytes = 0;

  constructor(readonly limit?: number) {}

  get total(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** A file came into the cache (or was replaced): it is now the most recently used. */
  add(key: string, size: number): void {
    this.remove(key);
    this.entries.set(key, { size });
    this.bytes += size;
  }

  /** The file was used: it moves to the most recent end. */
  touch(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.entries.set(key, e);
  }

  remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.size;
  }

  /** Keep `key` out of eviction until the returned function is called (once). Works before `add`. */
  pin(key: string): () => void {
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.pins.get(key) ?? 1) - 1;
      if (n > 0) this.pins.set(key, n); else this.pins.delete(key);
    };
  }

  pinned(key: string): boolean {
    return this.pins.has(key);
  }

  /** Keys in eviction order (least recently used first), for tests and diagnostics. */
  order(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Take out of the account, least recently used first and skipping pinned files, as many files
   * as it takes to get under the bound; their keys, for the caller to delete.
   */
  takeVictims(): { key: string; size: number }[] {
    if (this.limit === undefined || this.bytes <= this.limit) return [];
    const out: { key: string; size: number }[] = [];
    for (const [key, e] of this.entries) {
      if (this.bytes <= this.limit) break;
      if (this.pins.has(key)) continue;
      this.entries.delete(key);
      this.bytes -= e.size;
      out.push({ key, size: e.size });
    }
    return out;
  }
}
