// Prepared statements made on first use: opening a store prepares nothing it will not run, and a
// reader of an older schema (read-only, not migrated) never prepares a statement that names a
// column it lacks.
import type { Database, Statement } from 'better-sqlite3';

/** SQL, or [SQL, 'pluck'] for a statement that returns its first column only. */
export type StatementSql = string | [string, 'pluck'];

export function lazyStatements<K extends string>(db: Database, defs: Record<K, StatementSql>): Record<K, Statement> {
  const out = {} as Record<K, Statement>;
  for (const name of Object.keys(defs) as K[]) {
    Object.defineProperty(out, name, {
      configurable: true,
      get(): Statement {
        const def = defs[name];
        const st = typeof def === 'string' ? db.prepare(def) : db.prepare(def[0]).pluck();
        Object.defineProperty(out, name, { value: st });
        return st;
      },
    });
  }
  return out;
}
