// Cached files kept open between requests, as debuginfod keeps its fdcache: a file asked for
// again is served without opening, stat-ing and closing it each time. The files are immutable
// (written once, renamed into place), so a kept size and mtime stay true. At most `max` are
// kept; the least recently used one that no response is reading is closed first, and a file
// evicted from the cache is closed as soon as the last response reading it is done.
//
// The contents of small files (a debuginfo file of a few MB at most) are kept in memory too,
// within a byte budget (--memory-cache): a response then is one write of one Buffer, where
// reading the file again for every request made serving a 1 MB file twice as slow (a Node server
// sending the bytes from memory did ~6 500 requests/s on this machine, darkforge reading them
// each time ~2 900). debuginfod gets the same from the kernel with sendfile; Node has none. The
// least recently used files give their bytes up first; a response already writing them keeps
// its reference, so nothing it sends changes.
import { open, type FileHandle } from 'node:fs/promises';

/** Files larger than this are always read from disk (they would crowd the budget out). */
export const MEMORY_FILE_MAX = 8 * 1024 * 1024;
export const MEMORY_BUDGET_DEFAULT = 256 * 1024 * 1024;

export interface OpenFile {
  path: string;
  fh: FileHandle;
  size: number;
  mtime: Date;
  /** Responses reading it now. */
  refs: number;
  /** Dropped from the table (evicted): closed when refs reaches 0. */
  stale: boolean;
  /** The whole content, while the memory budget keeps it. */
  bytes?: Buffer;
}

export class OpenFiles {
  private readonly table = new Map<string, OpenFile>();
  /** Bytes of file contents kept in memory now. */
  private inMemory = 0;

  /** `memoryBudget`: bytes of file contents kept in memory at most (0: none). */
  constructor(readonly max = 256, readonly memoryBudget = MEMORY_BUDGET_DEFAULT) {}

  /** Bytes of file contents held in memory. */
  get memoryBytes(): number {
    return this.inMemory;
  }

  get size(): number {
    return this.table.size;
  }

  /** The open file for `path`, now counted as read by one more response; undefined if not kept. */
  acquire(path: string): OpenFile | undefined {
    const f = this.table.get(path);
    if (!f) return undefined;
    this.table.delete(path);
    this.table.set(path, f);
    f.refs++;
    return f;
  }

  /** Open `path` (acquired once); undefined when there is no such regular file. */
  async open(path: string): Promise<OpenFile | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch {
      return undefined;
    }
    let st;
    try {
      st = await fh.stat();
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    if (!st.isFile()) {
      await fh.close().catch(() => undefined);
      return undefined;
    }
    // Another request may have opened it meanwhile: keep one.
    const there = this.acquire(path);
    if (there) {
      await fh.close().catch(() => undefined);
      return there;
    }
    const f: OpenFile = { path, fh, size: st.size, mtime: st.mtime, refs: 1, stale: false };
    this.table.set(path, f);
    this.trim();
    await this.remember(f);
    return f;
  }

  /**
   * Keep the content of `f` in memory if it fits the budget, giving up the bytes of the least
   * recently used files first. A file that cannot be read whole is simply read from disk later.
   */
  private async remember(f: OpenFile): Promise<void> {
    if (f.size === 0 || f.size > Math.min(MEMORY_FILE_MAX, this.memoryBudget)) return;
    for (const [, o] of this.table) {
      if (this.inMemory + f.size <= this.memoryBudget) break;
      this.forgetBytes(o);
    }
    let bytes: Buffer;
    try {
      bytes = Buffer.allocUnsafeSlow(f.size);
      let at = 0;
      while (at < f.size) {
        const { bytesRead } = await f.fh.read(bytes, at, f.size - at, at);
        if (bytesRead === 0) return; // shorter than it was: served from disk, where the error shows
        at += bytesRead;
      }
    } catch {
      return;
    }
    // Read while other responses ran: still in the table, not in memory yet, and room left?
    if (f.stale || f.bytes || this.inMemory + f.size > this.memoryBudget) return;
    f.bytes = bytes;
    this.inMemory += f.size;
  }

  private forgetBytes(f: OpenFile): void {
    if (!f.bytes) return;
    this.inMemory -= f.size;
    f.bytes = undefined;
  }

  release(f: OpenFile): void {
    f.refs--;
    if (f.refs <= 0 && f.stale) void f.fh.close().catch(() => undefined);
  }

  /** Stop keeping `path` open (it left the cache); closed once no response reads it. */
  drop(path: string): void {
    const f = this.table.get(path);
    if (!f) return;
    this.table.delete(path);
    f.stale = true;
    this.forgetBytes(f);
    if (f.refs <= 0) void f.fh.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    for (const path of [...this.table.keys()]) this.drop(path);
  }

  private trim(): void {
    if (this.table.size <= this.max) return;
    for (const [path, f] of this.table) {
      if (this.table.size <= this.max) break;
      if (f.refs === 0) this.drop(path);
    }
  }
}
