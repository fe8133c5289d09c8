// How every darkforge command talks to the user: one-sentence errors on stderr ("LABEL: sentence")
// with the contract's exit codes (1 not found / some inputs failed, 2 usage or input error), JSON on
// stdout. No oclif here: the fast path (fast-path.ts) prints through it too.
// On a terminal, errors are red and warnings yellow (chalk); see stderrColourLevel for when not.
import { Chalk, supportsColorStderr, type ChalkInstance, type ColorSupportLevel } from 'chalk';
import { ioMessage, UserError } from '../errors.js';
import { InterruptedError } from './interrupt.js';

let colourOff = false;
let stderrChalk: ChalkInstance | undefined;

/** `--no-color`: no colour from this process, whatever the terminal and the environment say. */
export function disableColour(): void {
  colourOff = true;
  stderrChalk = undefined;
}

/** Whether ARGV (a command's arguments) asks for --no-color before any `--`. */
export function wantsNoColour(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--no-color');
}

/**
 * How much colour messages on stderr get. chalk decides for stderr: none when it is not a terminal
 * or TERM is dumb, and FORCE_COLOR (0 to 3, as chalk reads it) overrides that. On top of chalk:
 * NO_COLOR set to anything but "" turns colour off (no-color.org) unless FORCE_COLOR is set too
 * (as Node itself ranks them), and --no-color always does.
 */
export function stderrColourLevel(env: NodeJS.ProcessEnv = process.env, supported = supportsColorStderr): ColorSupportLevel {
  if (colourOff) return 0;
  if (env.FORCE_COLOR === undefined && env.NO_COLOR) return 0;
  return supported ? supported.level : 0;
}

function paint(): ChalkInstance {
  stderrChalk ??= new Chalk({ level: stderrColourLevel() });
  return stderrChalk;
}

export function note(label: string, message: string): void {
  process.stderr.write(`${label}: ${message}\n`);
}

/** A warning: the run goes on. "LABEL: warning: sentence", the word in yellow on a terminal. */
export function warn(label: string, message: string): void {
  const c = paint();
  process.stderr.write(`${c.bold(label)}: ${c.yellow.bold('warning:')} ${message}\n`);
}

/** Print the sentence (red on a terminal) and raise the exit code to `code` (never lower it). */
export function fail(label: string, message: string, code = 1): void {
  const c = paint();
  process.stderr.write(`${c.bold(label)}: ${c.red(message)}\n`);
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
