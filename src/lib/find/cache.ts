// The download cache, laid out as debuginfod's client does it:
// $XDG_CACHE_HOME/darkforge/BUILDID/{executable,debuginfo,source-##usr##src##debug##...}.
import { mkdir, realpath } from 'node:fs/promises';
import { join, relative, isAbsolute, sep } from 'node:path';
import { UserError, inputText } from '../errors.js';
import { darkforgeDir } from '../xdg.js';

export type FindKind = 'executable' | 'debuginfo' | 'source';

/** Longest file name most file systems take (NAME_MAX). */
const NAME_MAX = 255;

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return darkforgeDir('cache', env);
}

/** Where a found file lives. Only the build-id (validated hex) and fixed names form the path. */
export function cachePath(root: string, buildId: string, kind: FindKind, sourcePath?: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(buildId)) throw new UserError(`not a build-id: ${inputText(buildId)}`, 2);
  if (kind !== 'source') return join(root, buildId, kind);
  // One flat name per source path: '/' becomes '#', so no part of it can climb out.
  const name = `source-${(sourcePath ?? '').replace(/\//g, '#')}`;
  if (name.includes('\0') || Buffer.byteLength(name) > NAME_MAX) {
    throw new UserError(`source path ${inputText(sourcePath ?? '')} cannot be a cache file name (too long, or a NUL byte)`, 2);
  }
  return join(root, buildId, name);
}

/**
 * Make the folder that will hold `dest` and check that, with every symlink resolved, it lies
 * inside the cache root: a link planted in the cache cannot send a download elsewhere.
 */
export async function makeCacheFolder(root: string, folder: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  const [realRoot, realFolder] = await Promise.all([realpath(root), realpath(folder)]);
  const rel = relative(realRoot, realFolder);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new UserError(`cache folder ${folder} resolves to ${realFolder}, outside the cache ${realRoot}; not writing there`, 1);
  }
}
