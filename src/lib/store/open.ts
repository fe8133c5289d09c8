// openStore(target): the adapter a --db value names. A postgresql:// or postgres:// URL is a
// PostgreSQL database; anything else is an SQLite file. Each adapter loads only when used, so a
// query on an SQLite index never loads the PostgreSQL client.
import { UserError } from '../errors.js';
import { isPostgresUrl } from '../index/location.js';
import type { Store, StoreOptions } from './port.js';

export async function openStore(target: string, opts: StoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(target)) throw new UserError(`${target.replace(/\/\/[^@/]*@/, '//')}: PostgreSQL is not supported yet`, 2);
  const { SqliteStore } = await import('./sqlite/store.js');
  return new SqliteStore(target, opts);
}
