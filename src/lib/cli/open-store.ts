// The index database of a darkserver command: --db, else $DARKFORGE_DB, else the XDG data folder.
import { Store } from '../index/store.js';
import { resolveDbPath } from '../index/location.js';

export function openStore(flag: string | undefined, opts: { mustExist?: boolean } = {}): Store {
  return new Store(resolveDbPath(flag), opts);
}
