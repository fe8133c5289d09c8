// The files `darkserver serve` keeps in the find cache, accounted for --cache-size: the
// extracted files (BUILDID/executable|debuginfo|source-…|section-…, as `darkserver find` writes
// them) and the RPMs fetched for them (serve-rpms/). Other things in the folder (a `darkserver
// debug` tree, files of other tools) are neither counted nor ever deleted.
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LruAccount } from './lru.js';

export const RPM_FOLDER = 'serve-rpms';
const ID_FOLDER = /^[0-9a-f]{8,64}$/;
const CACHE_FILE = /^(executable|debuginfo|source-.+|section-.+)$/;

export interface EvictionReport {
  path: string;
  size: number;
}

export class DiskCache {
  readonly account: LruAccount;

  constructor(readonly root: string, limit: number | undefined, private readonly onEvict: (r: EvictionReport) => void = () => undefined) {
    this.account = new LruAccount(limit);
  }

  /** Account for what an earlier run left, oldest use first (atime where the mount keeps it, else mtime). */
  async scan(): Promise<void> {
    const found: { path: string; size: number; used: number }[] = [];
    const add = async (path: string): Promise<void> => {
      try {
        const st = await stat(path);
        if (st.isFile()) found.push({ path, size: st.size, used: Math.max(st.atimeMs, st.mtimeMs) });
      } catch { /* gone meanwhile */ }
    };
    let top: string[];
    try {
      top = await readdir(this.root);
    } catch {
      return; // no cache yet
    }
    for (const name of top) {
      if (name === RPM_FOLDER) {
        for (const f of await readdir(join(this.root, name)).catch(() => [] as string[])) {
          if (f.endsWith('.rpm')) await add(join(this.root, name, f));
        }
      } else if (ID_FOLDER.test(name)) {
        for (const f of await readdir(join(this.root, name)).catch(() => [] as string[])) {
          if (CACHE_FILE.test(f)) await add(join(this.root, name, f));
        }
      }
    }
    found.sort((a, b) => a.used - b.used);
    for (const f of found) this.account.add(f.path, f.size);
    await this.evict();
  }

  /** A file now in the cache: count it as just used, then get back under the bound. */
  async added(path: string): Promise<void> {
    try {
      const st = await stat(path);
      this.account.add(path, st.size);
    } catch {
      return;
    }
    await this.evict();
  }

  used(path: string): void {
    this.account.touch(path);
  }

  pin(path: string): () => void {
    return this.account.pin(path);
  }

  /** A cached file found missing (deleted by hand, or by another process): forget it. */
  forget(path: string): void {
    this.account.remove(path);
  }

  async evict(): Promise<void> {
    for (const v of this.account.takeVictims()) {
      try {
        await unlink(v.key);
        this.onEvict({ path: v.key, size: v.size });
      } catch { /* already gone */ }
      // The emptied build-id folder stays: removing it could pull it from under an extraction
      // that has just made it.
    }
  }
}
