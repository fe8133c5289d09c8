// How every darkforge command talks to the user: one-sentence errors on stderr ("LABEL: sentence")
// with the contract's exit codes (1 not found / some inputs failed, 2 usage or input error), JSON on
// stdout. No oclif here: the fast path (fast-path.ts) prints through it too.
// On a terminal, errors are red and warnings yellow (chalk); see colourLevel for when not.
import type { ChalkInstance, ColorSupportLevel } from 'chalk';
import { ioMessage, UserError } from '../errors.js';
import { InterruptedError } from './interrupt.js';

let colourOff = false;
/** chalk for stderr, once loaded: loading it costs the `darkserver query` fast path time it needs no colour for. */
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
 * How much colour messages on stderr get. chalk decides for stderr (`chalkLevel`): none when it is
 * not a terminal or TERM is dumb, and FORCE_COLOR (0 to 3, as chalk reads it) overrides that. On
 * top of chalk: NO_COLOR set to anything but "" turns colour off (no-color.org) unless FORCE_COLOR
 * is set too (as Node itself ranks them), and --no-color always does.
 */
export function colourLevel(chalkLevel: ColorSupportLevel, env: NodeJS.ProcessEnv = process.env): ColorSupportLevel {
  if (colourOff) return 0;
  if (env.FORCE_COLOR === undefined && env.NO_COLOR) return 0;
  return chalkLevel;
}

/**
 * Load chalk when messages may be coloured: stderr is a terminal or FORCE_COLOR is set (and
 * neither NO_COLOR nor --no-color rules colour out). Until this has run, messages are plain.
 */
export async function prepareColour(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (stderrChalk || colourLevel(3, env) === 0 || (!process.stderr.isTTY && env.FORCE_COLOR === undefined)) return;
  const { Chalk, supportsColorStderr } = await import('chalk');
  const level = colourLevel(supportsColorStderr ? supportsColorStderr.level : 0, env);
  if (level > 0) stderrChalk = new Chalk({ level });
}

const paint = {
  bold: (s: string): string => stderrChalk?.bold(s) ?? s,
  red: (s: string): string => stderrChalk?.red(s) ?? s,
  warning: (s: string): string => stderrChalk?.yellow.bold(s) ?? s,
};

export function note(label: string, message: string): void {
  process.stderr.write(`${label}: ${message}\n`);
}

/** A warning: the run goes on. "LABEL: warning: sentence", the word in yellow on a terminal. */
export function warn(label: string, message: string): void {
  process.stderr.write(`${paint.bold(label)}: ${paint.warning('warning:')} ${message}\n`);
}

/** Print the sentence (red on a terminal) and raise the exit code to `code` (never lower it). */
export function fail(label: string, message: string, code = 1): void {
  process.stderr.write(`${paint.bold(label)}: ${paint.red(message)}\n`);
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
