// `imagebuild logs --follow`: print a log as it grows, until its job is no longer running.
import { open } from 'node:fs/promises';

export async function followLog(path: string, write: (chunk: Buffer) => void, running: () => boolean | Promise<boolean>, pollMs = 250): Promise<void> {
  let pos = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const stillRunning = await running();
    const fh = await open(path, 'r').catch(() => undefined);
    if (fh) {
      try {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (!bytesRead) break;
          pos += bytesRead;
          write(Buffer.from(buf.subarray(0, bytesRead)));
        }
      } finally {
        await fh.close();
      }
    }
    // Read once more after the job ended, so its last lines are not lost.
    if (!stillRunning) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
