// Retries of transient network trouble, for every request darkforge makes (the Koji hub, package
// stores and mirrors over HTTP and FTP, kickstarts, FTP staging): a budget of total time per
// request rather than a count, since outages last minutes; exponential backoff with jitter under
// a cap; the server's Retry-After honoured within the budget; one line on stderr per outage
// (outages.ts), not one per attempt.
import { DownloadError } from '../errors.js';
import { HttpStatusError } from './http-error.js';
import { formatDuration, OutageLog } from './outages.js';

export { HttpStatusError } from './http-error.js';

export interface RetryOptions {
  /**
   * Total time one request may keep retrying, counted from its first failure (or from the start of
   * its source's outage, if that is earlier), in ms. 0: no retries. Default: DARKFORGE_RETRY_TIME
   * seconds, else 5 minutes.
   */
  retryTimeMs?: number;
  /** Base of the exponential backoff (default DARKFORGE_BACKOFF_MS, else 500). */
  backoffMs?: number;
  /** Cap of one backoff wait (default 20 s, Koji's own retry interval); Retry-After is capped by the budget only (and floored at backoffMs). */
  maxBackoffMs?: number;
  /** Shared by every request of a run: coalesced "waiting" lines, and outage start times. */
  outages?: OutageLog;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

export const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const DROP_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** The most telling error code in an undici error, its causes and (happy-eyeballs) AggregateErrors. */
export function errorCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue = [err];
  let fallback: string | undefined;
  while (queue.length) {
    const e = queue.shift() as { code?: unknown; cause?: unknown; errors?: unknown } | null;
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    if (typeof e.code === 'string') {
      if (CONNECT_CODES.has(e.code) || DROP_CODES.has(e.code) || /^UND_ERR_.*_TIMEOUT$/.test(e.code)) return e.code;
      fallback ??= e.code;
    }
    queue.push(e.cause, ...(Array.isArray(e.errors) ? e.errors : []));
  }
  return fallback;
}

/** A connection that could not be made or was lost, or a timeout: worth another attempt. */
export function isRetryable(err: unknown, code = errorCode(err)): boolean {
  if (code && (CONNECT_CODES.has(code) || DROP_CODES.has(code) || /^UND_ERR_.*_TIMEOUT$/.test(code))) return true;
  return /other side closed|socket hang up|terminated/i.test(String((err as Error)?.message));
}

/** HTTP statuses that say "not now": a timeout, too many requests, a gateway or a server that is down. */
export const retryableStatus = (status: number): boolean => [408, 429, 502, 503, 504].includes(status);

/** Koji's ServerOffline fault ("database outage", a hub in maintenance): a reason to wait, as koji's offline_retry does. */
export const SERVER_OFFLINE = 1014;

export function isTransient(e: unknown): boolean {
  if (e instanceof HttpStatusError) return retryableStatus(e.status);
  return isRetryable(e) && !certificateProblem(e);
}

/** Node's codes for a certificate that cannot be trusted, in words. */
const CERT_PROBLEMS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a self-signed certificate that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'its issuer is unknown',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is unknown',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its issuer is unknown',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet',
  CERT_REVOKED: 'it has been revoked',
  CERT_SIGNATURE_FAILURE: 'its signature is wrong',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it is for another host name',
  HOSTNAME_MISMATCH: 'it is for another host name',
};

/** "the TLS certificate of HOST is not trusted (it is self-signed)", for certificate failures; else undefined. */
export function certificateProblem(e: unknown, url?: string, hint?: string): string | undefined {
  const code = errorCode(e);
  const problem = code && (CERT_PROBLEMS[code] ?? (/CERT|_SIGNATURE|UNABLE_TO_/.test(code) ? `${code}` : undefined));
  if (!problem) return undefined;
  let host = '';
  try { host = url ? ` of ${new URL(url).host}` : ''; } catch { /* no host to name */ }
  return `the TLS certificate${host} is not trusted (${problem}${hint ? `; ${hint}` : ''})`;
}

/** Short reason for the last failure, in words with the code: "HTTP 503", "connection refused (ECONNREFUSED)", ... */
export function failureReason(e: unknown, o: { url?: string; timeoutMs?: number; tlsHint?: string } = {}): string {
  if (e instanceof HttpStatusError) return e.message;
  const cert = certificateProblem(e, o.url, o.tlsHint);
  if (cert) return cert;
  const code = errorCode(e);
  const limit = o.timeoutMs !== undefined ? ` within ${o.timeoutMs / 1000} s` : '';
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT': return `no response${limit} (timeout)`;
    case 'UND_ERR_BODY_TIMEOUT': return `no data${limit} (timeout)`;
    case 'UND_ERR_CONNECT_TIMEOUT': case 'ETIMEDOUT': return `no connection${limit} (${code})`;
    case 'ECONNREFUSED': return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET': return 'connection reset by the server (ECONNRESET)';
    case 'UND_ERR_SOCKET': case 'UND_ERR_CLOSED': case 'ERR_STREAM_PREMATURE_CLOSE': case 'EPIPE': case 'ECONNABORTED':
      return `connection closed before the end of the answer (${code})`;
    case 'ENOTFOUND': case 'EAI_AGAIN': return `host name not found (${code})`;
    case 'EHOSTUNREACH': case 'ENETUNREACH': return `host unreachable (${code})`;
    default: break;
  }
  const msg = (e as Error)?.message ?? String(e);
  if (/other side closed|terminated|socket hang up/i.test(msg)) return `connection closed before the end of the answer (${code ?? msg})`;
  return code ? `${code}: ${msg}` : msg;
}

function envNumber(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[name];
  const v = Number(raw);
  return raw && raw.trim() && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Base pause before the first retry; DARKFORGE_BACKOFF_MS shortens it (tests, impatient mirrors). */
export function defaultBackoffMs(env: NodeJS.ProcessEnv = process.env): number {
  return envNumber('DARKFORGE_BACKOFF_MS', env) ?? 500;
}

export const DEFAULT_RETRY_TIME_MS = 5 * 60_000;

/** The retry budget when no --retry-time is given: DARKFORGE_RETRY_TIME seconds, else 5 minutes. */
export function defaultRetryTimeMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = envNumber('DARKFORGE_RETRY_TIME', env);
  return s === undefined ? DEFAULT_RETRY_TIME_MS : Math.round(s * 1000);
}

/**
 * The retries of one request (or of one download, across its resumes) to one source. `again`
 * after each transient failure waits and says whether to try again; `progress` when bytes or an
 * answer arrive ends the streak of failures. The budget counts from the first failure of the
 * streak, or from when the source's outage began if that is earlier.
 */
export class RetryClock {
  /** Attempts in the current streak, the one under way included. */
  attempts = 1;
  private first?: number;
  private waits = 0;
  private readonly log: OutageLog;
  private readonly now: () => number;
  private readonly budget: number;

  constructor(private readonly o: RetryOptions, readonly source: string) {
    this.log = o.outages ?? new OutageLog();
    this.now = o.now ?? Date.now;
    this.budget = Math.max(0, o.retryTimeMs ?? defaultRetryTimeMs());
  }

  /** After a transient failure (`reason`, and the server's Retry-After if it gave one): wait, then true; false when the budget is spent. */
  async again(reason: string, retryAfterMs?: number): Promise<boolean> {
    const now = this.now();
    this.first ??= now;
    const since = this.log.since(this.source);
    const left = Math.min(this.first, since ?? this.first) + this.budget - now;
    if (this.budget <= 0 || left <= 0) {
      this.log.gaveUp(this.source, reason);
      return false;
    }
    this.waits++;
    const base = this.o.backoffMs ?? defaultBackoffMs();
    const step = Math.min(this.o.maxBackoffMs ?? 20_000, base * 2 ** Math.min(this.waits - 1, 30));
    // Half fixed, half random: waits grow for sure, and parallel workers spread out.
    const backoff = step / 2 + (this.o.random ?? Math.random)() * (step / 2);
    // The server's Retry-After (seconds or a date) is honoured up to what the budget has left, but
    // never below the first backoff step: "Retry-After: 0" on every answer must not become a loop
    // that hammers a server already in trouble.
    const wait = Math.max(0, Math.min(left, retryAfterMs === undefined ? backoff : Math.max(retryAfterMs, base)));
    this.log.waiting(this.source, reason, wait, left, retryAfterMs !== undefined && retryAfterMs <= left);
    await this.pause(wait);
    this.attempts++;
    return true;
  }

  /** `ms`, or less if another request to the source gets through meanwhile. */
  private async pause(ms: number): Promise<void> {
    const back = this.log.whenBack(this.source);
    try {
      if (this.o.sleep) {
        await Promise.race([this.o.sleep(ms), back.promise]);
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); }), back.promise]);
      clearTimeout(timer);
    } finally {
      back.cancel();
    }
  }

  /** Bytes or an answer came: the source works, the streak of failures is over. */
  progress(): void {
    this.log.recovered(this.source);
    if (this.first === undefined && this.attempts === 1) return;
    this.first = undefined;
    this.waits = 0;
    this.attempts = 1;
  }

  /** " after 7 attempts in 3.2 s" for a streak of several attempts, else "". */
  summary(): string {
    if (this.attempts <= 1) return '';
    return ` after ${this.attempts} attempts in ${formatDuration(this.now() - (this.first ?? this.now()))}`;
  }
}

/** A download that kept failing for a transient reason until its retry budget ran out. */
export class RetriesExhausted extends DownloadError {
  constructor(message: string) {
    super(message);
    this.name = 'RetriesExhausted';
  }
}

/** The source a URL's requests share (for outage lines and budgets): its scheme, host and port. */
export function sourceOfUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}`;
  } catch {
    return String(url);
  }
}

/**
 * `fn` until it succeeds, retrying what `transient` accepts within the budget. The error that
 * ends it carries `attempts` and `retried` (" after N attempts in T", or "").
 */
export async function withRetries<T>(source: string, opts: RetryOptions, fn: (attempt: number) => Promise<T>,
  o: { transient?: (e: unknown) => boolean; reason?: (e: unknown) => string } = {}): Promise<T> {
  const clock = new RetryClock(opts, source);
  const transient = o.transient ?? isTransient;
  for (;;) {
    try {
      const v = await fn(clock.attempts);
      clock.progress();
      return v;
    } catch (e) {
      const again = transient(e)
        && await clock.again((o.reason ?? failureReason)(e), e instanceof HttpStatusError ? e.retryAfterMs : undefined);
      if (!again) throw Object.assign(e as object, { attempts: clock.attempts, retried: clock.summary() });
    }
  }
}
