// A job's log in the store, beside its file: what the runner writes (its own lines and the
// tools' output) is gathered and appended in pieces a few times a second, so `imagebuild logs`
// on any machine sharing the store can read and follow it. The store keeps the newest
// DARKFORGE_DB_LOG_BYTES of each job (default 8 MiB); the file on the machine that ran the job
// keeps all of it. A store that is slow or away never holds the build up: pieces wait in a
// bounded buffer (older bytes beyond what the store would keep are dropped, and the gap is said
// in the log), and a failed append is tried again with the next one.

/** The size of one appended piece: a follower reads the log in pieces of about this size. */
export const LOG_PIECE_BYTES = 64 * 1024;
const FLUSH_MS = 250;

/** DARKFORGE_DB_LOG_BYTES: how much of each job's log the store keeps (its newest part). */
export function dbLogKeepBytes(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.DARKFORGE_DB_LOG_BYTES);
  return Number.isInteger(n) && n >= 1024 ? n : 8 * 1024 * 1024;
}

export class DbLogSink {
  private pending: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;

  constructor(
    private readonly append: (data: Buffer) => Promise<void>,
    private readonly o: { keepBytes: number; onError: (e: unknown) => void; flushMs?: number },
  ) {}

  push(data: string | Buffer): void {
    if (this.closed) return;
    const b = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    if (!b.length) return;
    this.pending.push(b);
    this.size += b.length;
    // Bounded: the store keeps only the newest keepBytes anyway.
    const limit = this.o.keepBytes + LOG_PIECE_BYTES;
    while (this.size > limit && this.pending.length > 1) {
      const old = this.pending.shift()!;
      this.size -= old.length;
      this.dropped += old.length;
    }
    if (this.size >= LOG_PIECE_BYTES) this.kick();
    else this.timer ??= setTimeout(() => { this.timer = undefined; this.kick(); }, this.o.flushMs ?? FLUSH_MS).unref();
  }

  /** Everything pushed so far is appended (or its append failed) when this settles. */
  async flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    while (this.size > 0 || this.running) {
      this.kick();
      const before = this.size;
      await this.running;
      // An append that failed leaves its bytes: one try each is all a flush waits for.
      if (this.size > 0 && this.size >= before) return;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private kick(): void {
    if (this.running || !this.size) return;
    this.running = this.drain().finally(() => { this.running = undefined; });
  }

  private async drain(): Promise<void> {
    while (this.size > 0) {
      const piece = this.take();
      const note = this.dropped ? Buffer.from(`\n[… ${this.dropped} bytes of this log were not stored in the database: it was too slow or could not be reached; the log file on the job's machine has them …]\n`) : undefined;
      try {
        await this.append(note ? Buffer.concat([note, piece]) : piece);
      } catch (e) {
        // Back at the front, tried again with the next push (or flush).
        this.pending.unshift(piece);
        this.size += piece.length;
        this.o.onError(e);
        return;
      }
      if (note) this.dropped = 0;
    }
  }

  /** Up to one piece's bytes off the front of the buffer. */
  private take(): Buffer {
    const parts: Buffer[] = [];
    let n = 0;
    while (this.pending.length && n < LOG_PIECE_BYTES) {
      const b = this.pending[0];
      const want = LOG_PIECE_BYTES - n;
      if (b.length <= want) {
        parts.push(b);
        this.pending.shift();
        n += b.length;
      } else {
        parts.push(b.subarray(0, want));
        this.pending[0] = b.subarray(want);
        n += want;
      }
    }
    this.size -= n;
    return Buffer.concat(parts);
  }
}
