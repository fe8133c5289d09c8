// Failures of the store itself (disk full, read-only, I/O error, damaged, locked, server gone), as
// opposed to one bad input: trying the next RPM cannot help, so a run stops at the first one and
// says so in one sentence naming the store. Each adapter turns its own errors into these
// (store/sqlite/errors.ts, store/postgres/errors.ts).
import { UserError } from '../errors.js';

/**
 * A database-level failure, as one sentence: "STORE: problem[: what was done before it][; hint]",
 * the hint saying what to do about it when there is something to say. STORE is the file, or the
 * server's URL without its password.
 */
export class DatabaseError extends UserError {
  constructor(readonly file: string, readonly problem: string, exitCode: number, readonly hint?: string, readonly progress?: string) {
    super(`${file}: ${problem}${progress ? `: ${progress}` : ''}${hint ? `; ${hint}` : ''}`, exitCode);
    this.name = 'DatabaseError';
  }

  /** The same failure, saying what the run had done when it stopped. */
  after(progress: string): DatabaseError {
    return new DatabaseError(this.file, this.problem, this.exitCode, this.hint, progress);
  }
}

/**
 * The store cannot be reached for now (the server is down, restarting or out of connections, the
 * network between is cut): nothing is wrong with the store itself, and the same work may succeed
 * once it answers again. A service (an import worker) waits this out; a command stops.
 */
export class StoreUnreachable extends DatabaseError {
  constructor(file: string, problem: string, hint?: string) {
    super(file, problem, 1, hint);
    this.name = 'StoreUnreachable';
  }
}

/** `e` says the store cannot be reached for now, and trying again later may succeed. */
export const isStoreUnreachable = (e: unknown): e is StoreUnreachable => e instanceof StoreUnreachable;

export function diskFull(file: string): DatabaseError {
  return new DatabaseError(file, 'no space left on device (disk full), the index database cannot grow', 1,
    'free some space and run the same command again');
}

/** `upFront`: found before anything was done, so the sentence can say that nothing changed. */
export function readOnly(file: string, why: string, upFront = false): DatabaseError {
  return new DatabaseError(file, `the index database is read-only (${why})`, 2, upFront ? 'nothing was changed' : undefined);
}

/** `e` is a failure of the store itself, not of the input being worked on. */
export function isDatabaseFailure(e: unknown): boolean {
  return e instanceof DatabaseError;
}

/** The store failure `e` is, or undefined when it is none (the adapters throw them already mapped). */
export function databaseError(e: unknown): DatabaseError | undefined {
  return e instanceof DatabaseError ? e : undefined;
}
