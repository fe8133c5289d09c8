// The two store backends the behavioural tests run on: an SQLite file, and a database on a
// throwaway PostgreSQL cluster (helpers/pg.ts) that this test file starts on first use and
// stops when it ends.
import { join } from 'node:path';
import { after } from 'node:test';
import { tempDir } from './cli.ts';
import { startPg, type PgCluster } from './pg.ts';

export type Backend = 'sqlite' | 'postgresql';
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgresql'];

let cluster: Promise<PgCluster> | undefined;
// Registered when this module loads (a hook registered inside a test would belong to that test).
after(async () => { if (cluster) await (await cluster).stop(); });

/** This test file's PostgreSQL cluster, started on first use. */
export function pgCluster(): Promise<PgCluster> {
  cluster ??= startPg();
  return cluster;
}

/** A new empty store of `backend`: the --db value (an SQLite file path, or a postgresql:// URL with its password). */
export async function freshDb(backend: Backend, name = 'i'): Promise<string> {
  if (backend === 'sqlite') return join(tempDir(), `${name}.sqlite`);
  return (await pgCluster()).newDatabase(name.replace(/\W/g, '_'));
}
