// Which URLs darkforge will fetch from. Every URL a user or a configuration file supplies goes
// through here, so a `gopher:`, `data:` or `javascript:` value (or a typo) is one clear input
// error naming where it came from, before any work starts, never an undici "invalid protocol".
import { UserError } from '../errors.js';

/** Schemes any download may use. Callers narrow this (a Koji hub speaks XML-RPC over http(s) only). */
export const FETCH_SCHEMES = ['http', 'https', 'ftp', 'file'] as const;
export type FetchScheme = (typeof FETCH_SCHEMES)[number];

/** The URL with any password replaced by "***", for messages, logs and records. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (!u.password) return value;
    u.password = '***';
    return u.href;
  } catch {
    // Not parseable: still hide what looks like user:password@ after a scheme.
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:***@');
  }
}

/** "http(s)", or "http, https, ftp or file". */
function kinds(schemes: readonly string[]): string {
  if (schemes.length === 2 && schemes.includes('http') && schemes.includes('https')) return 'http(s)';
  return schemes.length > 1 ? `${schemes.slice(0, -1).join(', ')} or ${schemes[schemes.length - 1]}` : schemes.join('');
}

/**
 * Parse `value` and check its scheme; `where` names its origin for the message
 * ("--hub", "/etc/koji.conf: [koji] topurl", "kickstart repo line 12").
 */
export function checkUrl(value: string, where: string, allowed: readonly string[] = FETCH_SCHEMES): URL {
  return check(value, where, allowed, redactUrl(value));
}

function check(value: string, where: string, allowed: readonly string[], shown: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UserError(`${where}: "${shown}" is not a URL (it must be an ${kinds(allowed)} URL)`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!allowed.includes(scheme)) {
    throw new UserError(`${where}: "${shown}" is not an ${kinds(allowed)} URL (${scheme}: is not allowed here)`);
  }
  if (scheme === 'file') {
    if (url.hostname && url.hostname !== 'localhost') {
      throw new UserError(`${where}: "${shown}" names host "${url.hostname}"; a file: URL must be local (file:///path)`);
    }
  } else if (!url.hostname) {
    throw new UserError(`${where}: "${shown}" has no host name`);
  }
  return url;
}

/** True when `value` is a URL `checkUrl` would accept. */
export function isAllowedUrl(value: string, allowed: readonly string[] = FETCH_SCHEMES): boolean {
  try {
    checkUrl(value, 'url', allowed);
    return true;
  } catch {
    return false;
  }
}

/**
 * A URL pattern with {placeholders} (mirror and retrace patterns): the scheme and host are
 * checked with each placeholder standing in as "x". Returns the pattern unchanged.
 */
export function checkUrlPattern(pattern: string, where: string, allowed: readonly string[] = FETCH_SCHEMES): string {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(pattern)) {
    throw new UserError(`${where}: "${redactUrl(pattern)}" is not a URL pattern (it must be an ${kinds(allowed)} URL)`);
  }
  check(pattern.replace(/\{\w+\}/g, 'x'), where, allowed, redactUrl(pattern));
  return pattern;
}
