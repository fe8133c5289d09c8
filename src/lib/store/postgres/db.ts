// One pool of connections to the PostgreSQL server, with every failure of the server or of the
// connection turned into one DatabaseError naming the server (never the password), and no
// 'error' event left without a listener: a backend that dies while a connection sits idle in
// the pool, or between two statements, is noted and reported by the next statement instead of
// crashing the process.
import pg from 'pg';
import type { PoolClient, QueryConfig, QueryResultRow } from 'pg';
import { pgDatabaseError, isRetryableTx, sqlState } from './errors.js';
import type { PgTarget } from './target.js';

// int8 (count(*), bigint columns) and numeric (sum over bigint) as numbers: every value the
// store keeps is far below 2^53, and SQLite gives numbers too.
const INT8 = 20;
const NUMERIC = 1700;
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === INT8 || oid === NUMERIC
    ? (v: string) => (v === null ? null : Number(v))
    : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/**
 * A client that closes its socket when the connection cannot be set up (a login refused on the
 * client's side, such as no password for a server that asks for one): pg leaves it open, and the
 * server would keep the process alive until its authentication_timeout (a minute).
 */
class Client extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super(config);
    const connect = this.connect.bind(this) as (cb?: (err: Error | null) => void) => Promise<unknown> | undefined;
    const drop = (err: Error | null | undefined): void => {
      if (err) this.connection.stream.destroy();
    };
    // pg-pool connects with a callback; other callers get the promise.
    (this as unknown as { connect: typeof connect }).connect = (cb) => {
      if (cb) return connect((err) => { drop(err); cb(err); });
      return connect()!.catch((err: Error) => { drop(err); throw err; });
    };
  }
}

/** How many times a transaction that hit a deadlock or a serialization failure is run again. */
const TX_ATTEMPTS = 8;

export type Sql = string | QueryConfig;

export class PgDb {
  private readonly pool: pg.Pool;
  /** A connection error nobody was waiting for (an idle connection's backend ended). */
  private lastError?: unknown;

  constructor(readonly target: PgTarget, o: { max?: number } = {}) {
    this.pool = new pg.Pool({
      host: target.host, port: target.port, user: target.user, database: target.database,
      password: (async () => target.password()) as () => Promise<string>,
      ssl: target.ssl === false ? false : target.ssl,
      connectionTimeoutMillis: target.connectTimeoutS * 1000,
      application_name: target.applicationName,
      options: target.options,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // A process stopped in the middle of a transaction (SIGSTOP, a frozen VM) must not hold its
      // row locks for ever: the server ends such a session after a minute. Transactions here
      // never wait on anything but the server between their statements.
      idle_in_transaction_session_timeout: 60_000,
      max: o.max ?? 8,
      idleTimeoutMillis: 10_000,
      // An idle pool does not keep the process alive: a command ends when its work does.
      allowExitOnIdle: true,
      types,
      Client,
    });
    this.pool.on('error', (e) => { this.lastError = e; });
    this.pool.on('connect', (client) => { client.on('error', (e) => { this.lastError = e; }); });
  }

  get display(): string {
    return this.target.display;
  }

  /** `e` as a DatabaseError when it is a failure of the server or the connection; else `e` itself. */
  mapError(e: unknown): unknown {
    return pgDatabaseError(this.display, e, this.target.secrets()) ?? e;
  }

  async query<R extends QueryResultRow = QueryResultRow>(sql: Sql, values?: unknown[]): Promise<R[]> {
    try {
      const r = typeof sql === 'string' ? await this.pool.query<R>(sql, values) : await this.pool.query<R>({ ...sql, values });
      return r.rows;
    } catch (e) {
      throw this.mapError(e);
    }
  }

  /**
   * `fn` in one transaction on one connection, run again from the start after a deadlock or a
   * serialization failure (concurrent writers interning the same names). `fn` must only touch
   * the database through `c`, so that a retry repeats all of it.
   */
  async tx<T>(fn: (c: TxClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (e) {
        throw this.mapError(e);
      }
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const out = await fn(new TxClient(client));
        await client.query('COMMIT');
        return out;
      } catch (e) {
        // A failure that is not the server's answer (a lost connection) leaves the connection unusable.
        if (!sqlState(e) && e instanceof Error && !(e instanceof TypeError)) broken = e;
        if (!broken) await client.query('ROLLBACK').catch((r: Error) => { broken = r; });
        if (isRetryableTx(e) && attempt < TX_ATTEMPTS) {
          await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
          continue;
        }
        throw this.mapError(e);
      } finally {
        client.release(broken);
      }
    }
  }

  /**
   * One connection for a session of many statements (a snapshot read through cursors, a bulk
   * load): give it back with release(), or release(true) to close it, which also ends (and so
   * rolls back) any transaction it still has open.
   */
  async connect(): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      throw this.mapError(e);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

/** The connection of one transaction. */
export class TxClient {
  constructor(private readonly c: PoolClient) {}

  async query<R extends QueryResultRow = QueryResultRow>(sql: Sql, values?: unknown[]): Promise<R[]> {
    const r = typeof sql === 'string' ? await this.c.query<R>(sql, values) : await this.c.query<R>({ ...sql, values });
    return r.rows;
  }
}

/**
 * The server's clock in milliseconds, for leases: every machine that shares the store judges a
 * lease by this one clock, so their own clocks may disagree.
 */
export const NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

/** Unix seconds by this machine's clock: times that are compared with this machine's processes (pid start times). */
export const nowS = (): number => Math.floor(Date.now() / 1000);
