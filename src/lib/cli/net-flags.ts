// Flags shared by the commands that talk to Koji and download RPMs (darkserver import, find).
import { Flags } from '@oclif/core';
import { UserError } from '../errors.js';
import type { NetOptions } from '../net/dispatcher.js';
import { OutageLog } from '../net/outages.js';
import { note, warn } from './output.js';

export const netFlags = {
  // Strings, checked here: oclif would rewrap a parse error into several lines.
  timeout: Flags.string({
    description: 'Give up on a hub or a download that sends nothing for this long, in seconds (decimals allowed); retried like a dropped connection. [default: 60]',
    helpValue: 'SECONDS',
  }),
  'retry-time': Flags.string({
    description: 'Keep retrying what fails for a passing reason (such as HTTP 503, a lost connection or Koji\'s ServerOffline) this long in all, in seconds; 0: never. [default: 300]',
    helpValue: 'SECONDS',
  }),
  insecure: Flags.boolean({
    description: 'Do not verify TLS certificates, for this run only (a test hub with a self-signed certificate). Nothing else turns verification off.',
  }),
};

/** A number of seconds from the command line: above 0 (or from 0 when `zero` is allowed) and at most `max`. */
function seconds(flag: string, value: string, max: number, zero = false): number {
  const s = Number(value);
  if (!value.trim() || !Number.isFinite(s) || s < 0 || (s === 0 && !zero) || s > max) {
    throw new UserError(`--${flag} "${value}": expected a number of seconds ${zero ? 'from 0 to' : 'above 0 and at most'} ${max}`, 2);
  }
  return s;
}

/**
 * NetOptions from the parsed flags; --insecure says so on stderr, every time. Waits for a server
 * that is down are said on stderr too, one line per server and outage (as "LABEL: …", or through `say`).
 */
export function netOptions(label: string, flags: { timeout?: string; insecure?: boolean; 'retry-time'?: string }, say?: (line: string) => void): NetOptions {
  let timeoutMs: number | undefined;
  if (flags.timeout !== undefined) timeoutMs = Math.max(1, Math.round(seconds('timeout', flags.timeout, 86_400) * 1000));
  let retryTimeMs: number | undefined;
  if (flags['retry-time'] !== undefined) retryTimeMs = Math.round(seconds('retry-time', flags['retry-time'], 604_800, true) * 1000);
  if (flags.insecure) warn(label, '--insecure: TLS certificates are not verified in this run');
  return {
    timeoutMs, retryTimeMs, insecure: flags.insecure === true, tlsHint: flags.insecure ? undefined : '--insecure skips the check',
    outages: new OutageLog(say ?? ((line) => note(label, line)), { budgetHint: '--retry-time' }),
  };
}
