// A scan thread (see scan-pool.ts): reads one local RPM at a time, headers and payload, and
// posts back the RpmScan. It never touches the database.
import { parentPort } from 'node:worker_threads';
import { scanRpmFile } from './scan.js';
import type { ScanRequest, ScanReply, WireError } from './scan-pool.js';

const port = parentPort!;

function toWire(e: unknown): WireError {
  const x = e as NodeJS.ErrnoException;
  return {
    name: x?.name ?? 'Error', message: x?.message ?? String(e), stack: x?.stack, code: x?.code, syscall: x?.syscall,
    exitCode: (x as { exitCode?: number })?.exitCode,
  };
}

port.on('message', (m: ScanRequest) => {
  scanRpmFile(m.file, { full: true }).then(
    (r) => port.postMessage({ id: m.id, result: r } satisfies ScanReply),
    (e) => port.postMessage({ id: m.id, error: toWire(e) } satisfies ScanReply),
  );
});
port.postMessage({ ready: true });
