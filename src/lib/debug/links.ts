// Symbolic links in the debug tree, made atomically (a new link renamed over the old one), in
// folders checked to lie inside the cache.
import { rename, symlink, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { makeCacheFolder } from '../find/cache.js';

export async function placeLink(cacheRoot: string, at: string, target: string): Promise<void> {
  await makeCacheFolder(cacheRoot, dirname(at));
  const tmp = join(dirname(at), `.link-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
  await symlink(target, tmp);
  try {
    await rename(tmp, at);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
