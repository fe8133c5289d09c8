// A byte range of an open file to an HTTP response, in chunks read into buffers that are reused
// once the socket has taken them: no allocation per request, so a busy server does not spend its
// time collecting megabyte buffers, and memory stays bounded (a chunk per response in flight; at
// most POOL_MAX chunks are kept for reuse).
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

const CHUNK = 1 << 20;
const POOL_MAX = 16;
const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

function giveBack(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

/** Resolves once the socket has taken `chunk`; rejects if the response is closed first. */
function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = (): void => reject(new Error('the client closed the connection'));
    res.once('close', closed);
    res.write(chunk, (err) => {
      res.off('close', closed);
      if (err) reject(err); else resolve();
    });
  });
}

/** Send bytes [start, start + length) of `fh`; the number sent. Throws if the client goes away or the file is shorter. */
export async function sendRange(res: ServerResponse, fh: FileHandle, start: number, length: number, sent: (n: number) => void): Promise<void> {
  let pos = start;
  const end = start + length;
  while (pos < end) {
    const buf = takeBuffer();
    let handed = false;
    let written = false;
    try {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, end - pos), pos);
      if (bytesRead === 0) throw new Error(`the file ends at byte ${pos}, ${end} expected`);
      handed = true;
      await write(res, bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      written = true;
      pos += bytesRead;
      sent(bytesRead);
    } finally {
      // A buffer the socket may still hold (a write cut short) is never reused.
      if (written || !handed) giveBack(buf);
    }
  }
}
