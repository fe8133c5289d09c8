// Cached files kept open between requests, as debuginfod keeps its fdcache: a file asked for
// again is served without opening, stat-ing and closing it each time. The files are immutable
// (written once, renamed into place), so a kept size and mtime stay true. At most `max` are
// kept; the least recently used one that no response is reading is closed first, and a file
// evicted from the cache is closed as soon as the last response reading it is done.
import { open, type FileHandle } from 'node:fs/promises';

export interface OpenFile {
  path: string;
  fh: FileHandle;
  size: number;
  mtime: Date;
  /** Responses reading it now. */
  refs: number;
  /** Dropped from the table (evicted): closed when refs reaches 0. */
  stale: boolean;
}

export class OpenFiles {
  private readonly table = new Map<string, OpenFile>();

  constructor(readonly max = 256) {}

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
    return f;
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
