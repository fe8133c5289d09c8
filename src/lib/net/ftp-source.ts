// An RPM read over FTP, for mirrors that still offer it. FTP has no ranges: one RETR streams the
// file from the front, REST resumes a dropped transfer where it stopped, and a read that needs
// only the headers ends by closing the connection. Failures and resumes share one retry budget
// with the HTTP sources' rules (retry.ts): FTP's 4xx replies and lost connections are retried,
// its 5xx replies are answers.
import { PassThrough, Readable } from 'node:stream';
import { Client, FTPError } from 'basic-ftp';
import { DownloadError, FormatError } from '../errors.js';
import { ByteSource } from '../rpm/source.js';
import { DEFAULT_TIMEOUT_MS, NetOptions } from './dispatcher.js';
import { failureReason, isRetryable, RetriesExhausted, RetryClock, sourceOfUrl } from './retry.js';
import { redactUrl } from './url-policy.js';

export interface FtpSourceOptions extends NetOptions {
  /** The file's size as its publisher states it: a transfer that stops short of it was cut off. */
  expectedSize?: number | null;
}

export class FtpSource implements ByteSource {
  position = 0;
  size?: number;
  /** Bytes received over the network. */
  fetched = 0;
  private buf: Buffer = Buffer.alloc(0);
  private client?: Client;
  private it?: AsyncIterator<Buffer>;
  /** File offset of the next byte the open transfer delivers. */
  private received = 0;
  private readonly shown: string;
  private readonly path: string;
  private readonly clock: RetryClock;

  constructor(private readonly url: URL, private readonly opts: FtpSourceOptions = {}) {
    this.shown = redactUrl(url.href);
    this.path = decodeURIComponent(url.pathname);
    this.clock = new RetryClock(opts, `downloads from ${sourceOfUrl(url)}`);
  }

  async readExact(n: number, what: string): Promise<Buffer> {
    while (this.buf.length < n) {
      const chunk = await this.next();
      if (!chunk) throw new FormatError(`file ends at byte ${this.position + this.buf.length} inside the ${what} (needs ${this.position + n} bytes)`);
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    }
    const out = Buffer.from(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    this.position += n;
    return out;
  }

  rest(): Readable {
    const self = this;
    return Readable.from((async function* () {
      const ahead = self.buf;
      self.buf = Buffer.alloc(0);
      if (ahead.length) yield ahead;
      for (let c = await self.next(); c; c = await self.next()) yield c;
    })(), { objectMode: false });
  }

  async close(): Promise<void> {
    this.it = undefined;
    this.client?.close();
    this.client = undefined;
  }

  private async open(offset: number): Promise<void> {
    const client = new Client(this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.client = client;
    await client.access({
      host: this.url.hostname, port: Number(this.url.port) || 21,
      user: decodeURIComponent(this.url.username) || 'anonymous',
      password: decodeURIComponent(this.url.password) || 'anonymous@',
    });
    if (this.size === undefined) {
      try { this.size = await client.size(this.path); } catch { /* SIZE is optional in FTP */ }
    }
    const pass = new PassThrough({ highWaterMark: 256 * 1024 });
    // Its iterator hears errors while it is read; one abandoned mid-transfer must not crash.
    pass.on('error', () => undefined);
    // A refused RETR (550) or a dropped data connection surfaces through the stream.
    client.downloadTo(pass, this.path, offset).catch((e: unknown) => pass.destroy(e as Error));
    this.it = pass[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.received = offset;
  }

  /** The next piece of the file, resuming a dropped transfer; undefined at the end. */
  private async next(): Promise<Buffer | undefined> {
    for (;;) {
      try {
        if (!this.it) await this.open(this.received);
        const r = await this.it!.next();
        if (!r.done) {
          this.received += r.value.length;
          this.fetched += r.value.length;
          this.clock.progress();
          return r.value;
        }
        const end = this.size ?? this.opts.expectedSize ?? undefined;
        if (end === undefined || this.received >= end) return undefined;
        throw Object.assign(new Error('terminated'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      } catch (e) {
        await this.close();
        const reason = ftpFailure(e, this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        if (!isTransientFtp(e)) throw new DownloadError(`${this.shown}: ${reason}`);
        if (!(await this.clock.again(reason))) {
          throw new RetriesExhausted(`${this.shown}: transfer failed at byte ${this.received} (${reason})${this.clock.summary()}`);
        }
      }
    }
  }
}

/**
 * An FTP failure worth another attempt: a 4xx reply (421 service not available, 425/426 data
 * connection trouble, 450/451 busy or local error), or a control or data connection that was
 * refused, lost or timed out. 5xx replies are the server's answer (no such file, no permission,
 * login refused): asking again changes nothing.
 */
export function isTransientFtp(e: unknown): boolean {
  if (e instanceof FTPError) return e.code >= 400 && e.code < 500;
  return isRetryable(e) || /^(Timeout \(|Server sent FIN|Server closed connection unexpectedly|Socket closed due to)/.test((e as Error)?.message ?? '');
}

/** "FTP 550 No such file", "connection refused (ECONNREFUSED)". */
export function ftpFailure(e: unknown, timeoutMs?: number): string {
  if (e instanceof FTPError) return `FTP ${e.code} ${e.message.replace(/^\d+\s*/, '')}`;
  const m = /^Timeout \((\w+) socket\)/.exec((e as Error)?.message ?? '');
  if (m) return `no answer${timeoutMs !== undefined ? ` within ${timeoutMs / 1000} s` : ''} on the ${m[1]} connection (timeout)`;
  return failureReason(e, { timeoutMs });
}
