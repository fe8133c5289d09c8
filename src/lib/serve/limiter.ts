// At most N jobs at once (--jobs); the rest wait in arrival order. The queue is bounded: past
// `maxWaiting` a caller is refused at once (the server answers 503) rather than piling up.
export class QueueFullError extends Error {
  constructor(readonly waiting: number) {
    super(`${waiting} jobs are already waiting`);
    this.name = 'QueueFullError';
  }
}

export class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly max: number, readonly maxWaiting = Infinity) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`limiter size must be a whole number >= 1, not ${max}`);
  }

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      if (this.queue.length >= this.maxWaiting) throw new QueueFullError(this.queue.length);
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so `active` never dips below the queue's need.
      const next = this.queue.shift();
      if (next) next(); else this.active--;
    }
  }
}
