// Payload scans of local RPMs on worker threads, so that decompression uses every core while
// the main thread keeps reading headers and stays the only SQLite writer. One RPM is one task;
// workers are started on first use. If a thread cannot be started at all (no worker support, a
// loader that does not follow into threads), run() answers undefined and the caller scans in
// its own thread.
import { Worker } from 'node:worker_threads';
import { DownloadError, FormatError, UserError } from '../errors.js';
import type { ScanOutcome } from './scan.js';

export interface ScanRequest {
  id: number;
  file: string;
}

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  syscall?: string;
  exitCode?: number;
}

export type ScanReply = { id: number; result: ScanOutcome } | { id: number; error: WireError } | { ready: true };

interface Task {
  file: string;
  /** At most one exclusive task runs at a time (see run()). */
  exclusive: boolean;
  resolve: (r: ScanOutcome | undefined) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task?: Task & { id: number };
}

export class ScanPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private broken = false;
  private closed = false;

  constructor(readonly size: number) {}

  /**
   * Scan `file` (headers and payload) on a worker; undefined when threads are unavailable.
   * `exclusive`: the payload needs an in-process decoder whose garbage runs ahead of the GC
   * (lzma-native, when no xz is installed); one such scan at a time keeps the peak RSS bounded.
   */
  run(file: string, exclusive = false): Promise<ScanOutcome | undefined> {
    if (this.broken || this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.queue.push({ file, exclusive, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) t.resolve(undefined);
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length) {
      const idle = this.slots.find((s) => s.ready && !s.task);
      if (!idle) {
        if (this.slots.length < this.size && !this.slots.some((s) => !s.ready)) this.start();
        return;
      }
      const busyExclusive = this.slots.some((s) => s.task?.exclusive);
      const i = busyExclusive ? this.queue.findIndex((t) => !t.exclusive) : 0;
      if (i < 0) return;
      const t = this.queue.splice(i, 1)[0];
      idle.task = { ...t, id: this.nextId++ };
      idle.worker.postMessage({ id: idle.task.id, file: t.file } satisfies ScanRequest);
    }
  }

  private start(): void {
    let worker: Worker;
    try {
      worker = new Worker(workerUrl());
    } catch {
      return this.giveUp();
    }
    const slot: Slot = { worker, ready: false };
    this.slots.push(slot);
    worker.on('message', (m: ScanReply) => {
      if ('ready' in m) {
        slot.ready = true;
        return this.dispatch();
      }
      const t = slot.task;
      if (!t || t.id !== m.id) return;
      slot.task = undefined;
      if ('result' in m) t.resolve(m.result);
      else t.reject(fromWire(m.error));
      this.dispatch();
    });
    const lost = (why: string): void => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      if (!slot.ready) {
        // It never ran: threads do not work here; the caller scans in its own thread.
        void worker.terminate();
        return this.giveUp();
      }
      slot.task?.reject(new Error(`scan thread ${why}`));
      slot.task = undefined;
      this.dispatch();
    };
    worker.on('error', (e) => lost(`failed: ${e.message}`));
    worker.on('exit', (code) => { if (!this.closed) lost(`exited with code ${code}`); });
  }

  private giveUp(): void {
    if (this.slots.some((s) => s.ready)) return; // others work: leave the queue to them
    this.broken = true;
    for (const t of this.queue.splice(0)) t.resolve(undefined);
  }
}

/** The worker next to this module, .js when built, .ts when run from sources under tsx. */
function workerUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./scan-worker${ext}`, import.meta.url);
}

function fromWire(w: WireError): Error {
  let e: Error;
  if (w.name === 'FormatError') e = new FormatError(w.message);
  else if (w.name === 'DownloadError') e = new DownloadError(w.message);
  else if (w.name === 'UserError') e = new UserError(w.message, w.exitCode);
  else {
    e = new Error(w.message);
    e.name = w.name;
    if (w.code) Object.assign(e, { code: w.code, syscall: w.syscall });
  }
  if (w.stack) e.stack = w.stack;
  return e;
}
