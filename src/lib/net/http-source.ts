// An RPM read over HTTP, front to back, with Range requests: a first range big enough for the
// lead and headers of a typical package (the caller picks it), the rest of the header in one
// more request if it is longer, and the payload only if asked for, from where the headers end,
// so no byte is fetched twice. No request asks for a few bytes: each later one asks for at
// least as much again as has come so far. A range read to its end leaves the connection open
// for the next request (keep-alive). A server that ignores Range (200)
// still works: its one response is read as far as needed. Dropped transfers resume from the
// last byte received. A body that ends early without saying so (no Content-Length, a server that
// ignores Range) is caught against the size the publisher states, and resumed too. Failures and
// resumes share one retry budget (retry.ts), renewed whenever bytes arrive.
import { Readable } from 'node:stream';
import { Dispatcher, request } from 'undici';
import { DownloadError, FormatError } from '../errors.js';
import { ByteSource } from '../rpm/source.js';
import { DEFAULT_TIMEOUT_MS, httpDispatcher, NetOptions } from './dispatcher.js';
import { discardBody, httpError } from './http-error.js';
import { failureReason, HttpStatusError, isTransient, RetriesExhausted, RetryClock, sourceOfUrl } from './retry.js';
import { redactUrl } from './url-policy.js';

export interface HttpSourceOptions extends NetOptions {
  /** Default: the shared verifying agent (or the --insecure one). */
  dispatcher?: Dispatcher;
  /** Size of the first range request (default 64 KiB: the lead and headers of most packages; see import/first-range.ts). */
  probeBytes?: number;
  userAgent?: string;
  /** The file's size as its publisher states it (Koji's `size`): a body that stops short of it was cut off. */
  expectedSize?: number | null;
}

interface Response {
  /** Offset of the first body byte in the file. */
  start: number;
  /** Last byte asked for, when the range was bounded. */
  end?: number;
  body: AsyncIterator<Buffer>;
  close: () => void;
}

/** The least a request after the first asks for. */
const MIN_READ = 16 * 1024;
/** A bounded range with at most this much left is read to its end on close, so its connection is kept. */
const DRAIN_MAX = 1024 * 1024;
const DRAIN_MS = 2000;

export class HttpSource implements ByteSource {
  position = 0;
  size?: number;
  /** Body bytes received over the network. */
  fetched = 0;
  requests = 0;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  /** Open response positioned at bufStart + buf.length (a 200 reply, or an open-ended range). */
  private open?: Response;

  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher;
  /** The URL as messages show it (no password). */
  private readonly shown: string;
  /** Every retry and resume of this file, one budget. */
  private readonly clock: RetryClock;

  constructor(readonly url: string, private readonly opts: HttpSourceOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.dispatcher = opts.dispatcher ?? httpDispatcher(opts);
    this.shown = redactUrl(url);
    this.clock = new RetryClock(opts, `downloads from ${sourceOfUrl(url)}`);
  }

  private reason(e: unknown): string {
    return failureReason(e, { url: this.url, timeoutMs: this.timeoutMs, tlsHint: this.opts.tlsHint });
  }

  /** Where the file ends as far as anyone has said: the server's size, else the publisher's. */
  private get knownEnd(): number | undefined {
    return this.size ?? (this.opts.expectedSize ?? undefined);
  }

  async readExact(n: number, what: string): Promise<Buffer> {
    const end = this.position + n;
    if (this.size !== undefined && end > this.size) {
      throw new FormatError(`file ends at byte ${this.size} inside the ${what} (needs ${end} bytes)`);
    }
    while (this.bufStart + this.buf.length < end) {
      const got = await this.fill(end);
      if (!got) throw new FormatError(`file ends at byte ${this.bufStart + this.buf.length} inside the ${what}`);
      if (this.size !== undefined && end > this.size) {
        throw new FormatError(`file ends at byte ${this.size} inside the ${what} (needs ${end} bytes)`);
      }
    }
    const off = this.position - this.bufStart;
    const out = Buffer.from(this.buf.subarray(off, off + n));
    this.position = end;
    // Keep only what lies ahead of the read position.
    this.buf = this.buf.subarray(off + n);
    this.bufStart = this.position;
    return out;
  }

  async fetchedRest(): Promise<Buffer | undefined> {
    const size = this.size;
    if (size === undefined) return undefined;
    try {
      while (this.bufStart + this.buf.length < size) {
        // Only what the answer under way brings: a bounded range that reaches the end of the file.
        const open = this.open;
        if (!open || open.end === undefined || open.end + 1 < size) return undefined;
        if (!await this.fill(size)) return undefined;
      }
    } catch {
      return undefined; // the headers are read and checked; the rest was a bonus
    }
    return this.buf.subarray(this.position - this.bufStart);
  }

  /** Everything after `position`, continuing any open response, resuming after drops. */
  rest(): Readable {
    return Readable.from(this.restChunks(), { objectMode: false });
  }

  async close(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    if (!open) return;
    // undici closes a connection whose answer is dropped half-read. What is left of a range we
    // asked for is small: reading it keeps the connection for the next RPM (no new TCP and TLS
    // handshake). A whole-file answer (a server that ignores Range) is cut.
    const left = open.end === undefined ? Infinity : open.end + 1 - (this.bufStart + this.buf.length);
    if (left > 0 && left <= DRAIN_MAX) {
      let timer: NodeJS.Timeout | undefined;
      const giveUp = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), DRAIN_MS); });
      try {
        for (;;) {
          const next = open.body.next();
          next.catch(() => undefined); // left pending when time is up: cut below, it must not reject unheard
          const r = await Promise.race([next, giveUp]);
          if (r === 'late' || r.done) break;
          this.fetched += r.value.length;
        }
      } catch {
        // The RPM is read; a connection that fails now only means a new one for the next.
      } finally {
        clearTimeout(timer);
      }
    }
    open.close();
  }

  private async *restChunks(): AsyncGenerator<Buffer> {
    let pos = this.position;
    const ahead = this.buf.subarray(pos - this.bufStart);
    this.buf = Buffer.alloc(0);
    if (ahead.length) { yield ahead; pos += ahead.length; }
    if (this.size !== undefined && pos >= this.size) return;
    for (;;) {
      let fresh = false;
      const from = pos;
      try {
        if (!this.open) { this.open = await this.get(pos); fresh = true; }
        for (;;) {
          const r = await this.open.body.next();
          if (r.done) break;
          this.fetched += r.value.length;
          pos += r.value.length;
          this.clock.progress();
          yield r.value;
        }
        const bounded = this.open.end !== undefined && pos > this.open.end;
        this.open = undefined;
        const end = this.knownEnd;
        if (end === undefined || pos >= end) return;
        if (bounded) continue; // the header probe ended: ask for the rest
        if (fresh && pos === from && this.size === undefined) {
          // Asked again from here and given nothing: the server's copy ends here.
          throw new DownloadError(`${this.shown}: the server's copy ends at byte ${pos}, ${end} bytes expected`);
        }
        throw Object.assign(new Error('terminated'), { code: 'UND_ERR_SOCKET' });
      } catch (e) {
        this.open?.close();
        this.open = undefined;
        if (e instanceof FormatError || e instanceof DownloadError) throw e;
        if (await this.resume(e)) continue;
        throw this.transferFailed(pos, e);
      }
    }
  }

  /** After a transfer broke off: wait and say yes to asking again from the last byte, or no when the budget is spent. */
  private resume(e: unknown): Promise<boolean> {
    return isTransient(e) ? this.clock.again(this.reason(e)) : Promise.resolve(false);
  }

  private transferFailed(at: number, e: unknown): DownloadError {
    const msg = `${this.shown}: transfer failed at byte ${at}${this.knownEnd !== undefined ? ` of ${this.knownEnd}` : ''} (${this.reason(e)})${this.clock.summary()}`;
    return isTransient(e) ? new RetriesExhausted(msg) : new DownloadError(msg);
  }

  /** Bring more bytes into the buffer; false at end of file. */
  private async fill(need: number): Promise<boolean> {
    for (let fresh = false; ; fresh = false) {
      const have = this.bufStart + this.buf.length;
      if (this.size !== undefined && have >= this.size) return false;
      if (!this.open) {
        const probe = this.opts.probeBytes ?? 64 * 1024;
        // A later request asks for at least as much again as has come so far: a header bigger
        // than the first range costs one more request, not one per piece the reader asks for.
        const end = (this.requests === 0 ? Math.max(need, probe) : Math.max(need, have + Math.max(MIN_READ, have))) - 1;
        this.open = await this.get(have, this.size !== undefined ? Math.min(end, this.size - 1) : end);
        fresh = true;
      }
      let r: IteratorResult<Buffer>;
      try {
        r = await this.open.body.next();
      } catch (e) {
        this.open.close();
        this.open = undefined;
        if (await this.resume(e)) continue; // ask again from the last byte received
        throw this.transferFailed(have, e);
      }
      if (!r.done) {
        this.fetched += r.value.length;
        this.clock.progress();
        this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
        return true;
      }
      this.open = undefined;
      // A bounded range that ended is not the end of the file; an empty fresh answer is.
      if (fresh) return false;
    }
  }

  /** GET from `start` (to `end` inclusive, or to the end of the file), retried on transient errors. */
  private async get(start: number, end?: number): Promise<Response> {
    const range = `bytes=${start}-${end ?? ''}`;
    for (;;) {
      let failure: unknown;
      try {
        this.requests++;
        const res = await request(this.url, {
          method: 'GET',
          headers: { range, 'user-agent': this.opts.userAgent ?? 'darkforge' },
          dispatcher: this.dispatcher,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
        // Errors of an abandoned body surface through its iterator, never as an unhandled event.
        res.body.on('error', () => undefined);
        if (res.statusCode === 206 || res.statusCode === 200) return this.shape(res, start, end, range);
        if (res.statusCode === 416 && start === 0) {
          discardBody(res.body);
          this.size = 0;
          throw new FormatError('empty file');
        }
        failure = await httpError(res, this.shown, { timeoutMs: this.timeoutMs });
      } catch (e) {
        if (e instanceof FormatError || e instanceof DownloadError) throw e;
        failure = e;
      }
      const transient = isTransient(failure);
      if (transient && await this.clock.again(this.reason(failure), failure instanceof HttpStatusError ? failure.retryAfterMs : undefined)) continue;
      const msg = `${this.shown}: ${this.reason(failure)}${this.clock.summary()}`;
      throw transient ? new RetriesExhausted(msg) : new DownloadError(msg);
    }
  }

  private shape(res: Dispatcher.ResponseData, start: number, end: number | undefined, range: string): Response {
    const body = res.body;
    const it = bodyChunks(body);
    const close = (): void => { body.destroy(); };
    if (res.statusCode === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== start) { close(); throw new DownloadError(`${this.shown}: server answered ${range} with Content-Range "${res.headers['content-range']}"`); }
      if (m[3] !== '*') this.size = Number(m[3]);
      return { start, end, body: it, close };
    }
    // 200: the server ignored Range and sends the whole file; skip to `start`.
    const len = Number(res.headers['content-length']);
    if (Number.isFinite(len)) this.size = len;
    return { start, body: skipTo(it, start, (n) => { this.fetched += n; }), close };
  }
}

/**
 * The chunks of a response body. A body destroyed by a reset before it was read can end an
 * async iteration quietly, as if complete; only one that reached its end really is.
 */
async function* bodyChunks(body: Readable): AsyncGenerator<Buffer> {
  for await (const chunk of body) yield chunk as Buffer;
  if (!body.readableEnded) throw body.errored ?? Object.assign(new Error('terminated'), { code: 'UND_ERR_SOCKET' });
}

async function* skipToGen(it: AsyncIterator<Buffer>, skip: number, counted: (n: number) => void): AsyncGenerator<Buffer> {
  let left = skip;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    if (left >= r.value.length) { left -= r.value.length; counted(r.value.length); continue; }
    const chunk = left > 0 ? r.value.subarray(left) : r.value;
    if (left > 0) counted(left);
    left = 0;
    yield chunk;
  }
}

function skipTo(it: AsyncIterator<Buffer>, skip: number, counted: (n: number) => void): AsyncIterator<Buffer> {
  return skip > 0 ? skipToGen(it, skip, counted) : it;
}
