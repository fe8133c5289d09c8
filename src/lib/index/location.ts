// Where the index lives: --db, else $DARKFORGE_DB, else $XDG_DATA_HOME/darkforge/buildids.sqlite.
import { join, resolve } from 'node:path';
import { darkforgeDir } from '../xdg.js';

export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DARKFORGE_DB) return resolve(env.DARKFORGE_DB);
  return join(darkforgeDir('data', env), 'buildids.sqlite');
}

export function resolveDbPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ? resolve(flag) : defaultDbPath(env);
}
