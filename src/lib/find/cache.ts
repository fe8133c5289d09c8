// The download cache, laid out as debuginfod's client does it:
// $XDG_CACHE_HOME/darkforge/BUILDID/{executable,debuginfo,source-##usr##src##debug##...}.
import { join } from 'node:path';
import { darkforgeDir } from '../xdg.js';

export type FindKind = 'executable' | 'debuginfo' | 'source';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return darkforgeDir('cache', env);
}

/** Where a found file lives. Only the build-id (validated hex) and fixed names form the path. */
export function cachePath(root: string, buildId: string, kind: FindKind, sourcePath?: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(buildId)) throw new Error(`not a build-id: ${buildId}`);
  if (kind !== 'source') return join(root, buildId, kind);
  // One flat name per source path: '/' becomes '#', so no part of it can climb out.
  return join(root, buildId, `source-${(sourcePath ?? '').replace(/\//g, '#')}`);
}
