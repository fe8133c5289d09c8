// openStore(target): the adapter a --db value names. A postgresql:// or postgres:// URL is a
// PostgreSQL database; anything else is an SQLite file. Each adapter loads only when used, so a
// query on an SQLite index never loads the PostgreSQL client.
import { isPostgresUrl } from '../index/location.js';
import type { IndexLoad, LoadOptions, Store, StoreOptions } from './port.js';

export async function openStore(target: string, opts: StoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(target)) {
    const { openPostgresStore } = await import('./postgres/store.js');
    return openPostgresStore(target, opts);
  }
  const { SqliteStore } = await import('./sqlite/store.js');
  return new SqliteStore(target, opts);
}

/**
 * The --db argument and environment that give a child process (a detached image job) the same
 * store, with no password on its command line: a password from a PostgreSQL URL goes in its
 * PGPASSWORD instead.
 */
export async function storeForChild(target: string): Promise<{ arg: string; env: NodeJS.ProcessEnv }> {
  if (!isPostgresUrl(target)) return { arg: target, env: {} };
  const { parsePgTarget } = await import('./postgres/target.js');
  return parsePgTarget(target).child;
}

/**
 * A bulk load of a whole index into the store `target` names (darkserver db copy): a new or empty
 * store, or one whose index and queue are replaced when `o.replace`. Created when absent.
 */
export async function openIndexLoad(target: string, o: LoadOptions = {}): Promise<IndexLoad> {
  if (isPostgresUrl(target)) {
    const { PgIndexLoad } = await import('./postgres/copy.js');
    return PgIndexLoad.open(target, o);
  }
  const { SqliteIndexLoad } = await import('./sqlite/copy.js');
  return SqliteIndexLoad.open(target, o);
}
