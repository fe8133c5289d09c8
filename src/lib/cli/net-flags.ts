// Flags shared by the commands that talk to Koji and download RPMs (darkserver import, find).
import { Flags } from '@oclif/core';
import { UserError } from '../errors.js';
import type { NetOptions } from '../net/dispatcher.js';
import { warn } from './output.js';

export const netFlags = {
  // A string, checked here: oclif would rewrap a parse error into several lines.
  timeout: Flags.string({
    description: 'Give up on a hub or a download that sends nothing for this long, in seconds (decimals allowed); retried like a dropped connection. [default: 60]',
    helpValue: 'SECONDS',
  }),
  insecure: Flags.boolean({
    description: 'Do not verify TLS certificates, for this run only (a test hub with a self-signed certificate). Nothing else turns verification off.',
  }),
};

/** NetOptions from the parsed flags; --insecure says so on stderr, every time. */
export function netOptions(label: string, flags: { timeout?: string; insecure?: boolean }): NetOptions {
  let timeoutMs: number | undefined;
  if (flags.timeout !== undefined) {
    const s = Number(flags.timeout);
    if (!flags.timeout.trim() || !Number.isFinite(s) || s <= 0 || s > 86_400) {
      throw new UserError(`--timeout "${flags.timeout}": expected a number of seconds above 0 and at most 86400`, 2);
    }
    timeoutMs = Math.max(1, Math.round(s * 1000));
  }
  if (flags.insecure) warn(label, '--insecure: TLS certificates are not verified in this run');
  return { timeoutMs, insecure: flags.insecure === true, tlsHint: flags.insecure ? undefined : '--insecure skips the check' };
}
