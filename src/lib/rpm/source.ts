// Sequential byte sources for reading an RPM front to back: the headers are read in exact
// pieces, then the rest (the payload) is handed over as a stream.
import { open, FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { FormatError } from '../errors.js';

export interface ByteSource {
  /** Bytes consumed so far. */
  readonly position: number;
  /** Total size when known up front (local files). */
  readonly size?: number;
  readExact(n: number, what: string): Promise<Buffer>;
  /** Everything after `position`, as a stream. */
  rest(): Readable;
  /**
   * Everything after `position` when it is already fetched or on its way in an answer asked for
   * (a download whose first range held the whole file): read from memory, no new request.
   * Undefined when the rest would need another request. Sources that read local files lack it.
   */
  fetchedRest?(): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

export class FileSource implements ByteSource {
  position = 0;
  private constructor(private readonly fh: FileHandle, readonly size: number) {}

  static async open(path: string): Promise<FileSource> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new FormatError('not a regular file');
      return new FileSource(fh, st.size);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async readExact(n: number, what: string): Promise<Buffer> {
    if (this.position + n > this.size) {
      throw new FormatError(`file ends at byte ${this.size} inside the ${what} (needs ${this.position + n} bytes)`);
    }
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(buf, got, n - got, this.position + got);
      if (bytesRead === 0) throw new FormatError(`file ends at byte ${this.position + got} inside the ${what}`);
      got += bytesRead;
    }
    this.position += n;
    return buf;
  }

  rest(): Readable {
    return this.fh.createReadStream({ start: this.position, autoClose: false, highWaterMark: 256 * 1024 });
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}
