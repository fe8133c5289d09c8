// An RPM read over FTP, for mirrors that still offer it. FTP has no ranges: one RETR streams the
// file from the front, REST resumes a dropped transfer where it stopped, and a read that needs
// only the headers ends by closing the connection.
import { PassThrough, Readable } from 'node:stream';
import { Client, FTPError } from 'basic-ftp';
import { DownloadError, FormatError } from '../errors.js';
import { ByteSource } from '../rpm/source.js';
import { DEFAULT_TIMEOUT_MS, NetOptions } from './dispatcher.js';
import { backoff, failureReason, RetryOptions } from './retry.js';
import { redactUrl } from './url-policy.js';

export interface FtpSourceOptions extends RetryOptions, NetOptions {
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
  private failures = 0;
  private readonly shown: string;
  private readonly path: string;

  constructor(private readonly url: URL, private readonly opts: FtpSourceOptions = {}) {
    this.shown = redactUrl(url.href);
    this.path = decodeURIComponent(url.pathname);
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
          return r.value;
        }
        const end = this.size ?? this.opts.expectedSize ?? undefined;
        if (end === undefined || this.received >= end) return undefined;
        throw Object.assign(new Error('terminated'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      } catch (e) {
        await this.close();
        // 5xx is the server's answer (no such file, no permission): asking again changes nothing.
        if (e instanceof FTPError && e.code >= 500) throw new DownloadError(`${this.shown}: FTP ${e.code} ${e.message.replace(/^\d+\s*/, '')}`);
        const reason = failureReason(e, { timeoutMs: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS });
        if (this.failures >= (this.opts.retries ?? 4)) {
          throw new DownloadError(`${this.shown}: transfer failed at byte ${this.received} (${reason}) after ${this.failures + 1} attempts`);
        }
        await backoff(this.opts, ++this.failures);
      }
    }
  }
}
