// A byte range of an open file to an HTTP response, in chunks read into buffers that are reused
// once the socket has taken them: no allocation per request, so a busy server does not spend its
// time collecting megabyte buffers. Memory stays bounded: at most BIG_MAX responses at a time
// read 1 MiB chunks (a ~1 MB debuginfo file goes out in one read and one write); the others,
// however many, read 64 KiB ones.
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

const BIG = 1 << 20;
const SMALL = 64 << 10;
const BIG_MAX = 16;
const SMALL_POOL_MAX = 64;
const bigPool: Buffer[] = [];
const smallPool: Buffer[] = [];
let bigOut = 0;

function takeBuffer(): Buffer {
  if (bigPool.length) { bigOut++; return bigPool.pop()!; }
  if (bigOut < BIG_MAX) { bigOut++; return Buffer.allocUnsafeSlow(BIG); }
  return smallPool.pop() ?? Buffer.allocUnsafeSlow(SMALL);
}

/** `reuse`: the socket is done with it. A buffer it may still hold is only counted out, never reused. */
function giveBack(b: Buffer, reuse: boolean): void {
  if (b.length === BIG) {
    bigOut--;
    if (reuse) bigPool.push(b);
  } else if (reuse && smallPool.length < SMALL_POOL_MAX) {
    smallPool.push(b);
  }
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

/** Send bytes [start, start + length) of `fh`. Throws if the client goes away or the file is shorter. */
export async function sendRange(res: ServerResponse, fh: FileHandle, start: number, length: number, sent: (n: number) => void): Promise<void> {
  let pos = start;
  const end = start + length;
  while (pos < end) {
    const buf = takeBuffer();
    let handed = false;
    let written = false;
    try {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) throw new Error(`the file ends at byte ${pos}, ${end} expected`);
      handed = true;
      await write(res, bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      written = true;
      pos += bytesRead;
      sent(bytesRead);
    } finally {
      giveBack(buf, written || !handed);
    }
  }
}
