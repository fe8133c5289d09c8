// Where the index lives: --db, else $DARKFORGE_DB, else $XDG_DATA_HOME/darkforge/buildids.sqlite.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DARKFORGE_DB) return resolve(env.DARKFORGE_DB);
  const data = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(data, 'darkforge', 'buildids.sqlite');
}

export function resolveDbPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ? resolve(flag) : defaultDbPath(env);
}
