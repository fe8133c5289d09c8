// The index database of a darkserver command: --db, else $DARKFORGE_DB, else the XDG data folder.
import { Store } from '../index/store.js';
import { resolveDbPath } from '../index/location.js';

/**
 * `mustExist`: the command needs an index that is already there (query, find, stats, jobs). Those
 * commands only read it, so an index they cannot write (a read-only mount) is opened for reading;
 * the others are refused one up front ("…is read-only").
 */
export function openStore(flag: string | undefined, opts: { mustExist?: boolean } = {}): Store {
  return new Store(resolveDbPath(flag), { mustExist: opts.mustExist, readOnlyOk: opts.mustExist });
}
