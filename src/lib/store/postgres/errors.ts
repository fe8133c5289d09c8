// PostgreSQL's failures of the store itself, as DatabaseErrors (index/db-errors.ts) naming the
// server by its URL without password: a server that cannot be reached or went away, a refused
// login, a missing database, a full disk, no write permission, a certificate that does not
// verify. Anything else (a bug, a value the server rejects) is left to the caller.
import { DatabaseError, diskFull, readOnly, StoreUnreachable } from '../../index/db-errors.js';
import { certificateProblem, errorCode } from '../../net/retry.js';

/** SQLSTATE of a server error ("28P01"), if `e` is one. */
export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && (e as { severity?: unknown }).severity !== undefined ? code : undefined;
}

/** A deadlock or a serialization failure: the transaction may simply be run again. */
export const isRetryableTx = (e: unknown): boolean => ['40001', '40P01'].includes(sqlState(e) ?? '');

function text(e: unknown): string {
  return String((e as Error)?.message ?? e);
}

/**
 * The store failure `e` stands for, or undefined. `display` names the server; `secrets` are
 * passwords that must not appear in the sentence (cut out should a message ever carry one).
 */
export function pgDatabaseError(display: string, e: unknown, secrets: string[] = []): DatabaseError | undefined {
  if (e instanceof DatabaseError) return e;
  const mapped = map(display, e);
  if (!mapped) return undefined;
  const clean = (s: string | undefined): string | undefined => (s === undefined ? s : secrets.reduce((t, p) => (p ? t.split(p).join('***') : t), s));
  if (mapped instanceof StoreUnreachable) return new StoreUnreachable(display, clean(mapped.problem)!, clean(mapped.hint));
  return new DatabaseError(display, clean(mapped.problem)!, mapped.exitCode, clean(mapped.hint));
}

function map(display: string, e: unknown): DatabaseError | undefined {
  const state = sqlState(e);
  const msg = text(e);
  if (state) {
    switch (state) {
      case '28P01': case '28000':
        return new DatabaseError(display, `the PostgreSQL server refused the login (${msg})`, 2,
          'check the user, and the password in the URL, PGPASSWORD or ~/.pgpass');
      case '3D000':
        return new DatabaseError(display, `no such database on the PostgreSQL server (${msg})`, 2, 'create it first (createdb), or pass another --db');
      case '53300':
        return new StoreUnreachable(display, `the PostgreSQL server has no connection to spare (${msg})`, 'run the same command again later');
      case '53100':
        return diskFull(display);
      case '53200':
        return new DatabaseError(display, 'the PostgreSQL server is out of memory', 1);
      case '42501':
        return readOnly(display, `no write permission: ${msg}`);
      case '25006':
        return readOnly(display, 'the server only accepts reads (a standby, or default_transaction_read_only)');
      case '58030':
        return new DatabaseError(display, `input/output error on the PostgreSQL server (${msg})`, 1);
      case 'XX001': case 'XX002':
        return new DatabaseError(display, `the index database is damaged (${msg})`, 1, 'restore a copy, or index again into a new database');
      case '40001': case '40P01': case '55P03':
        return new DatabaseError(display, `the index database stayed locked by another process (${msg})`, 1, 'run the same command again');
      case '57P01': case '57P02': case '57P03':
        return new StoreUnreachable(display, `the PostgreSQL server is shutting down or starting up (${msg})`, 'run the same command again when it is up');
      default:
        if (state.startsWith('08') || state.startsWith('57')) return lost(display, msg);
        return undefined;
    }
  }
  const cert = certificateProblem(e);
  if (cert) return new DatabaseError(display, `cannot connect to the PostgreSQL server: ${cert}`, 2, 'give its CA with sslrootcert=FILE, or fix the host name');
  if (/does not support SSL/i.test(msg)) return new DatabaseError(display, 'the PostgreSQL server does not support TLS, and sslmode asks for it', 2);
  if (/SASL|client password must be a string|password authentication/i.test(msg)) {
    return new DatabaseError(display, 'the PostgreSQL server asks for a password and none was given', 2, 'put it in ~/.pgpass or PGPASSWORD');
  }
  const code = errorCode(e);
  switch (code) {
    case 'ECONNREFUSED':
      return new StoreUnreachable(display, 'cannot connect to the PostgreSQL server (connection refused)', 'is it running, and listening there?');
    case 'ENOENT':
      return new StoreUnreachable(display, 'cannot connect to the PostgreSQL server (no server socket in that folder)', 'is it running, and listening there?');
    case 'ENOTFOUND':
      return new DatabaseError(display, 'cannot connect to the PostgreSQL server (host name not found)', 2);
    case 'EAI_AGAIN':
      return new StoreUnreachable(display, 'cannot connect to the PostgreSQL server (host name lookup failed for now)');
    case 'EHOSTUNREACH': case 'ENETUNREACH':
      return new StoreUnreachable(display, `cannot connect to the PostgreSQL server (host unreachable, ${code})`);
    case 'ETIMEDOUT':
      return new StoreUnreachable(display, 'cannot connect to the PostgreSQL server (no answer in time)');
    case 'EACCES':
      return new DatabaseError(display, 'cannot connect to the PostgreSQL server (permission denied on its socket)', 2);
    case 'ECONNRESET': case 'EPIPE':
      return lost(display, code);
    default:
      break;
  }
  if (/timeout expired|Connection terminated due to connection timeout/i.test(msg)) {
    return new StoreUnreachable(display, 'cannot connect to the PostgreSQL server (no answer within connect_timeout)');
  }
  if (/Connection terminated|connection ended|Client has encountered a connection error|not queryable|Cannot use a pool after calling end/i.test(msg)) {
    return lost(display, msg);
  }
  return undefined;
}

function lost(display: string, why: string): DatabaseError {
  return new StoreUnreachable(display, `the connection to the PostgreSQL server was lost (${why})`,
    'what was committed stays; run the same command again');
}
