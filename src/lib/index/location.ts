// Where the index lives: --db, else $DARKFORGE_DB, else $XDG_DATA_HOME/darkforge/buildids.sqlite.
// A postgresql:// (or postgres://) URL names a PostgreSQL database and is kept as it is. Anything
// else is a SQLite file, and a value that cannot be one is refused here with one sentence naming
// it, before anything is opened or created: another URL (it would become a folder named
// "mysql:"), a folder, a device, or a file this process cannot read (SQLite would only say
// "unable to open database file", or "no index database there yet" for a file in a folder it
// cannot search).
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { ioMessage, UserError } from '../errors.js';
import { redactUrl } from '../net/url-policy.js';
import { darkforgeDir } from '../xdg.js';

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db);

const asGiven = (db: string): string => (isPostgresUrl(db) ? db : resolve(db));

export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DARKFORGE_DB) return asGiven(env.DARKFORGE_DB);
  return join(darkforgeDir('data', env), 'buildids.sqlite');
}

/** `SCHEME://…` in any scheme; also database and URL schemes written without `//` (sqlite:x.db). */
const URL_FORM = /^([a-z][a-z0-9+.-]*):\/\//i;
const SCHEME_FORM = /^(file|sqlite3?|postgres|postgresql|mysql|mariadb|https?|ftp):/i;

/** The scheme of a --db value written as a URL ("postgresql"), or undefined for a file path. */
export function dbUrlScheme(value: string): string | undefined {
  return (URL_FORM.exec(value) ?? SCHEME_FORM.exec(value))?.[1].toLowerCase();
}

/**
 * The index database file named by --db (`flag`), else $DARKFORGE_DB, else the XDG default.
 * Throws a UserError (exit 2) for a URL and for a path that cannot be an index (checkDbFile).
 */
export function resolveDbPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const [value, where] = flag ? [flag, '--db'] : [env.DARKFORGE_DB, '$DARKFORGE_DB'];
  return value ? resolveStoreArg(value, where) : checkDbFile(defaultDbPath(env));
}

/**
 * A store named on the command line (`where` says how, for the message: "--db", "FROM"): a
 * postgresql:// URL as it is, else the SQLite file it names (checkDbFile). Throws a UserError
 * (exit 2) for a URL of another scheme.
 */
export function resolveStoreArg(value: string, where: string): string {
  if (isPostgresUrl(value)) return value;
  // Any other scheme is refused: the index is a SQLite file or a PostgreSQL database.
  const scheme = dbUrlScheme(value);
  if (scheme) {
    throw new UserError(`${where} ${redactUrl(value)}: a ${scheme} URL, which darkforge cannot open (give the path of a SQLite file, or a postgresql:// URL)`, 2);
  }
  return checkDbFile(resolve(value));
}

/**
 * `file`, when it can be an index database: absent (whether it may be created is the command's
 * business), or a regular file this process can read. Otherwise a UserError naming it, exit 2.
 */
export function checkDbFile(file: string): string {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return file;
    // EACCES: a folder on the way that this process cannot search; ENOTDIR: a file on the way.
    throw new UserError(`${file}: cannot be the index database (${ioMessage(e)})`, 2);
  }
  if (st.isDirectory()) {
    throw new UserError(`${file}: a folder, not an index database file (give the path of a file, such as ${join(file, 'buildids.sqlite')})`, 2);
  }
  if (!st.isFile()) throw new UserError(`${file}: not a regular file, so not an index database`, 2);
  try {
    accessSync(file, constants.R_OK);
  } catch (e) {
    throw new UserError(`${file}: cannot read the index database (${ioMessage(e)})`, 2);
  }
  return file;
}
