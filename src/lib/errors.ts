// Errors a user can act on. Commands print `message` as one sentence and exit with `exitCode`;
// anything else is a bug and keeps its stack.

export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UserError';
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
