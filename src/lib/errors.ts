// Errors a user can act on. Commands print `message` as one sentence and exit with `exitCode`;
// anything else is a bug and keeps its stack.

export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UserError';
  }
}

/** A job stopped because it was canceled (imagebuild cancel, Ctrl-C): not a failure of its steps. */
export class CanceledError extends UserError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'CanceledError';
  }
}

/** The bytes of an input file are not what the format says (damaged, truncated, not an RPM). */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

/** A download that did not succeed; the message names the URL. */
export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** One short phrase for a filesystem error, instead of Node's "ENOENT: ..., stat 'x'". */
export function ioMessage(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a directory';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    case 'EMFILE': case 'ENFILE': return 'too many open files';
    case 'EIO': return 'input/output error';
    case 'ENOSPC': return 'no space left on device';
    case 'EROFS': return 'read-only file system';
    default: return (e as Error)?.message ?? String(e);
  }
}

/** One sentence for a failed input: the error's own words, or an I/O phrase; bugs say so. */
export function describeFailure(e: unknown): string {
  if (e instanceof FormatError || e instanceof DownloadError || e instanceof UserError) return e.message;
  if ((e as NodeJS.ErrnoException)?.code) return ioMessage(e);
  if (process.env.DARKFORGE_DEBUG) return (e as Error)?.stack ?? String(e);
  return `internal error: ${(e as Error)?.message ?? String(e)} (set DARKFORGE_DEBUG=1 for details)`;
}

/**
 * Text from an input (a member name, a package name) as a message quotes it: on one line, with
 * control characters escaped, and cut after `max` characters.
 */
export function inputText(s: string, max = 200): string {
  const t = /[\x00-\x1f\x7f\u2028\u2029]/.test(s)
    ? s.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => {
      const n = c.charCodeAt(0);
      return n > 0xff ? `\\u${n.toString(16)}` : `\\x${n.toString(16).padStart(2, '0')}`;
    })
    : s;
  return t.length > max ? `${t.slice(0, max)}…` : t;
}
