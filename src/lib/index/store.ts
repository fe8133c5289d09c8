// The index's record types, now part of the store port (store/port.ts); kept here for the
// modules that import them from the index. Open a store with openStore() (store/open.ts).
export type {
  IndexStats, InstanceRecord, Match, MatchCoordinates, MatchRow, RpmRecord, RpmSummary, Store, StoreOptions,
} from '../store/port.js';
