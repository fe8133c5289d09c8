// Retries with exponential backoff and full jitter, for transient network trouble only.

export interface RetryOptions {
  /** Further attempts after the first (default 4). */
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
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

/** An HTTP status worth asking again for. */
export const retryableStatus = (status: number): boolean => status >= 500 || status === 429 || status === 408;

export class HttpStatusError extends Error {
  constructor(readonly status: number, readonly url: string) {
    super(`HTTP ${status}`);
    this.name = 'HttpStatusError';
  }
}

export function isTransient(e: unknown): boolean {
  if (e instanceof HttpStatusError) return retryableStatus(e.status);
  return isRetryable(e);
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
  if (e instanceof HttpStatusError) return `HTTP ${e.status}`;
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

export const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Base pause before the first retry; DARKFORGE_BACKOFF_MS shortens it (tests, impatient mirrors). */
export function defaultBackoffMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DARKFORGE_BACKOFF_MS;
  const v = Number(raw);
  return raw && Number.isFinite(v) && v >= 0 ? v : 500;
}

/** The pause before retry number `n` (1 = the first retry): full jitter under a doubling cap. */
export function backoff(opts: RetryOptions, n: number): Promise<void> {
  const base = opts.backoffMs ?? defaultBackoffMs();
  const cap = opts.maxBackoffMs ?? 30_000;
  return (opts.sleep ?? defaultSleep)(Math.random() * Math.min(cap, base * 2 ** (n - 1)));
}

export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {},
  retryable: (e: unknown) => boolean = isTransient): Promise<{ value: T; attempts: number }> {
  const retries = opts.retries ?? 4;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (e) {
      if (attempt > retries || !retryable(e)) throw Object.assign(e as object, { attempts: attempt });
      await backoff(opts, attempt);
    }
  }
}
