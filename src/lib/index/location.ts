// Where the index lives: --db, else $DARKFORGE_DB, else $XDG_DATA_HOME/darkforge/buildids.sqlite.
// A postgresql:// (or postgres://) URL names a PostgreSQL database and is kept as it is.
import { join, resolve } from 'node:path';
import { darkforgeDir } from '../xdg.js';

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db);

const asGiven = (db: string): string => (isPostgresUrl(db) ? db : resolve(db));

export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DARKFORGE_DB) return asGiven(env.DARKFORGE_DB);
  return join(darkforgeDir('data', env), 'buildids.sqlite');
}

export function resolveDbPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ? asGiven(flag) : defaultDbPath(env);
}
