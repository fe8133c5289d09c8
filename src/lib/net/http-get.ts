// A small whole-body HTTP(S) GET for text-sized documents (kickstarts, comps, repomd.xml):
// redirects followed (mirrors and CDNs answer with them), one deadline for each attempt, a size
// cap checked against Content-Length and again while reading, and the same retries as every other
// request (retry.ts). Errors name `what`: a server's refusal or a network fault is exit 1, a
// document too big exit 2.
import { interceptors, request } from 'undici';
import { UserError } from '../errors.js';
import { httpDispatcher } from './dispatcher.js';
import { discardBody, httpError, HttpStatusError } from './http-error.js';
import { certificateProblem, errorCode, failureReason, RetryOptions, sourceOfUrl, withRetries } from './retry.js';

// The verifying agent (never the global one, which NODE_TLS_REJECT_UNAUTHORIZED=0 would loosen).
const redirecting = httpDispatcher().compose(interceptors.redirect({ maxRedirections: 5 }));

export interface BoundedGet {
  timeoutMs: number;
  maxBytes: number;
  /** How messages name the document, e.g. "kickstart https://…" (default: the URL). */
  what?: string;
  accept?: string;
  /** Retry budget and outage lines (default: the default budget, said nowhere). */
  retry?: RetryOptions;
}

class TooBig extends Error {}

/** The body, or the status when the server says the document is not there (404, 410). */
export async function httpGetBounded(url: URL, o: BoundedGet): Promise<{ body: Buffer } | { missing: number }> {
  const what = o.what ?? url.href;
  const timedOut = Symbol('timeout');
  try {
    return await withRetries(sourceOfUrl(url), o.retry ?? {}, async () => {
      const signal = AbortSignal.timeout(o.timeoutMs);
      try {
        return await getOnce(url, o, signal);
      } catch (e) {
        if (signal.aborted || /TIMEOUT/.test(errorCode(e) ?? '')) throw Object.assign(new Error('timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT', [timedOut]: true });
        throw e;
      }
    }, { reason: (e) => ((e as Record<symbol, unknown>)[timedOut] ? `no complete answer within ${o.timeoutMs / 1000} s` : failureReason(e, { url: url.href })) });
  } catch (e) {
    const retried = (e as { retried?: string }).retried ?? '';
    if (e instanceof TooBig) throw new UserError(`${what} is larger than the ${o.maxBytes} bytes allowed`);
    if (e instanceof HttpStatusError) throw new UserError(`${what}: ${e.message}${retried}`, 1);
    if ((e as Record<symbol, unknown>)[timedOut]) throw new UserError(`${what}: no complete answer within ${o.timeoutMs / 1000} s${retried}`, 1);
    const cert = certificateProblem(e, url.href);
    if (cert) throw new UserError(`cannot fetch ${what}: ${cert}`, 1);
    throw new UserError(`cannot fetch ${what}: ${failureReason(e, { url: url.href })}${retried}`, 1);
  }
}

async function getOnce(url: URL, o: BoundedGet, signal: AbortSignal): Promise<{ body: Buffer } | { missing: number }> {
  const res = await request(url, {
    dispatcher: redirecting, signal, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs,
    headers: { 'user-agent': 'darkforge', ...(o.accept ? { accept: o.accept } : {}) },
  });
  res.body.on('error', () => undefined);
  if (res.statusCode !== 200) {
    if (res.statusCode === 404 || res.statusCode === 410) {
      discardBody(res.body);
      return { missing: res.statusCode };
    }
    throw await httpError(res, url.href, { timeoutMs: o.timeoutMs });
  }
  if (Number(res.headers['content-length']) > o.maxBytes) {
    discardBody(res.body);
    throw new TooBig();
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > o.maxBytes) {
      res.body.destroy();
      throw new TooBig();
    }
    parts.push(chunk as Buffer);
  }
  return { body: Buffer.concat(parts) };
}
