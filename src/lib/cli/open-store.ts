// The store of a command: --db, else $DARKFORGE_DB, else the XDG data folder. A postgresql:// URL
// is a PostgreSQL database, anything else an SQLite file (store/open.ts).
import { resolveDbPath } from '../index/location.js';
import { openStore as openTarget } from '../store/open.js';
import type { Store } from '../store/port.js';

/**
 * `mustExist`: the command needs an index that is already there (query, find, stats, jobs). Those
 * commands only read it, so an index they cannot write (a read-only mount) is opened for reading;
 * the others are refused one up front ("…is read-only").
 */
export function openStore(flag: string | undefined, opts: { mustExist?: boolean } = {}): Promise<Store> {
  return openTarget(resolveDbPath(flag), { mustExist: opts.mustExist, readOnlyOk: opts.mustExist });
}
