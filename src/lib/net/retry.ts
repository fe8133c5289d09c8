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

/** Short reason for the last failure: "HTTP 503", "ECONNREFUSED", ... */
export function failureReason(e: unknown): string {
  if (e instanceof HttpStatusError) return `HTTP ${e.status}`;
  return errorCode(e) ?? (e as Error)?.message ?? String(e);
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Base pause before the first retry; DARKFORGE_BACKOFF_MS shortens it (tests, impatient mirrors). */
export function defaultBackoffMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DARKFORGE_BACKOFF_MS;
  const v = Number(raw);
  return raw && Number.isFinite(v) && v >= 0 ? v : 500;
}

export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {},
  retryable: (e: unknown) => boolean = isTransient): Promise<{ value: T; attempts: number }> {
  const retries = opts.retries ?? 4;
  const base = opts.backoffMs ?? defaultBackoffMs();
  const cap = opts.maxBackoffMs ?? 30_000;
  const sleep = opts.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (e) {
      if (attempt > retries || !retryable(e)) throw Object.assign(e as object, { attempts: attempt });
      await sleep(Math.random() * Math.min(cap, base * 2 ** (attempt - 1)));
    }
  }
}
