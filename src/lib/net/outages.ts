// What the user hears of a server that stops answering: one line when a source starts failing
// long enough to notice, one when it answers again or when the run gives up on it; never a line
// per attempt of each of 32 parallel workers. Shared by every request of a run (the hub client
// and every download), it also remembers since when each source has been failing, so a request
// that starts in the middle of an outage does not wait a whole budget again, and it wakes the
// requests waiting on a source as soon as one of them gets through (the others need not sleep out
// a backoff of many seconds against a server that is back).

export interface OutageLogOptions {
  now?: () => number;
  /** Failures shorter than this (and waits shorter than this) are not announced. Default 1 s. */
  quietMs?: number;
  /** How the user sets the budget, added to the waiting line, e.g. "--retry-time". */
  budgetHint?: string;
}

interface Outage {
  since: number;
  announced: boolean;
  gaveUp: boolean;
}

export class OutageLog {
  private readonly down = new Map<string, Outage>();
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly now: () => number;
  private readonly quietMs: number;
  private readonly hint: string;

  /** `say` prints one line (without the command's label); without it, nothing is said. */
  constructor(private readonly say?: (line: string) => void, o: OutageLogOptions = {}) {
    this.now = o.now ?? Date.now;
    this.quietMs = o.quietMs ?? 1000;
    this.hint = o.budgetHint ? `, ${o.budgetHint}` : '';
  }

  /** When the current outage of `source` began (its first failure with no success since), if it is failing. */
  since(source: string): number | undefined {
    return this.down.get(source)?.since;
  }

  /** A request to `source` failed for `reason` and waits `waitMs` before it asks again, `leftMs` of its budget left. */
  waiting(source: string, reason: string, waitMs: number, leftMs: number, asked = false): void {
    const now = this.now();
    let o = this.down.get(source);
    if (!o) {
      o = { since: now, announced: false, gaveUp: false };
      this.down.set(source, o);
    }
    if (o.announced || o.gaveUp || (waitMs < this.quietMs && now - o.since < this.quietMs)) return;
    o.announced = true;
    const next = asked ? `the server asks to wait ${formatDuration(waitMs)}` : `next try in ${formatDuration(waitMs)}`;
    this.say?.(`${source}: ${reason}; waiting for it and retrying for up to ${formatDuration(leftMs)} (${next}${this.hint})`);
  }

  /** A promise that resolves when `source` answers a request again; `cancel` when it is no longer awaited. */
  whenBack(source: string): { promise: Promise<void>; cancel: () => void } {
    let wake!: () => void;
    const promise = new Promise<void>((resolve) => { wake = resolve; });
    let set = this.wakers.get(source);
    if (!set) {
      set = new Set();
      this.wakers.set(source, set);
    }
    const mine = set;
    mine.add(wake);
    return {
      promise,
      cancel: () => {
        mine.delete(wake);
        if (!mine.size && this.wakers.get(source) === mine) this.wakers.delete(source);
      },
    };
  }

  /** `source` answered: its outage, if any, is over, and the requests waiting on it try again now. */
  recovered(source: string): void {
    const waiting = this.wakers.get(source);
    if (waiting) {
      this.wakers.delete(source);
      for (const wake of waiting) wake();
    }
    const o = this.down.get(source);
    if (!o) return;
    this.down.delete(source);
    if (o.announced) this.say?.(`${source}: answering again after ${formatDuration(this.now() - o.since)}`);
  }

  /** A request to `source` ran out of budget; the last failure was `reason`. */
  gaveUp(source: string, reason: string): void {
    const o = this.down.get(source);
    if (!o || o.gaveUp) return;
    o.gaveUp = true;
    if (o.announced) this.say?.(`${source}: still failing after ${formatDuration(this.now() - o.since)} (${reason}); giving up`);
  }
}

/** "0.3 s", "12 s", "4 min 10 s", "2 h 5 min". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 9.95) return `${(Math.round(s * 10) / 10).toString()} s`;
  const total = Math.round(s);
  if (total < 60) return `${total} s`;
  if (total < 3600) return `${Math.floor(total / 60)} min${total % 60 ? ` ${total % 60} s` : ''}`;
  const m = Math.round(total / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}
