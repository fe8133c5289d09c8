// How every darkforge command talks to the user: one-sentence errors on stderr ("LABEL: sentence")
// with the contract's exit codes (1 not found / some inputs failed, 2 usage or input error), JSON on
// stdout. No oclif here: the fast path (fast-path.ts) prints through it too.
import { ioMessage, UserError } from '../errors.js';
import { InterruptedError } from './interrupt.js';

export function note(label: string, message: string): void {
  process.stderr.write(`${label}: ${message}\n`);
}

/** Print the sentence and raise the exit code to `code` (never lower it). */
export function fail(label: string, message: string, code = 1): void {
  note(label, message);
  if (Number(process.exitCode ?? 0) < code) process.exitCode = code;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Report an error that ended a command: a UserError's own sentence and code (an interrupted command
 * then exits at once), a filesystem error
 * as "path: phrase" (exit 1), anything else as an internal error (exit 1). Returns false, having
 * printed nothing, for a bug when DARKFORGE_DEBUG is set: the caller rethrows it for the stack.
 */
export function reportError(label: string, err: unknown): boolean {
  if (err instanceof InterruptedError) {
    // Work still in flight (a payload being read, a download) is abandoned: none of it was
    // written, and waiting for it would not make the exit prompt.
    fail(label, err.message, err.exitCode);
    process.exit(err.exitCode);
  }
  if (err instanceof UserError) {
    fail(label, err.message, err.exitCode);
    return true;
  }
  const io = err as NodeJS.ErrnoException;
  if (io?.syscall && io.code) {
    // Filesystem trouble the user can fix (full disk, permissions, read-only): say where and what.
    fail(label, `${io.path ?? io.syscall}: ${ioMessage(io)}`, 1);
    return true;
  }
  if (process.env.DARKFORGE_DEBUG) return false;
  fail(label, `internal error: ${(err as Error)?.message} (set DARKFORGE_DEBUG=1 for details)`, 1);
  return true;
}
