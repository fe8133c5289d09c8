// A small whole-body HTTP(S) GET for text-sized documents (kickstarts, comps, repomd.xml):
// redirects followed (mirrors and CDNs answer with them), one deadline for the whole fetch, and a
// size cap checked against Content-Length and again while reading. Errors name `what`.
import { interceptors, request } from 'undici';
import { UserError } from '../errors.js';
import { httpDispatcher } from './dispatcher.js';
import { certificateProblem, errorCode } from './retry.js';

// The verifying agent (never the global one, which NODE_TLS_REJECT_UNAUTHORIZED=0 would loosen).
const redirecting = httpDispatcher().compose(interceptors.redirect({ maxRedirections: 5 }));

export interface BoundedGet {
  timeoutMs: number;
  maxBytes: number;
  /** How messages name the document, e.g. "kickstart https://…" (default: the URL). */
  what?: string;
  accept?: string;
}

/** The body, or the status when the server says the document is not there (404, 410). */
export async function httpGetBounded(url: URL, o: BoundedGet): Promise<{ body: Buffer } | { missing: number }> {
  const what = o.what ?? url.href;
  const tooBig = (): UserError => new UserError(`${what} is larger than the ${o.maxBytes} bytes allowed`);
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    const res = await request(url, {
      dispatcher: redirecting, signal, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs,
      headers: { 'user-agent': 'darkforge', ...(o.accept ? { accept: o.accept } : {}) },
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      if (res.statusCode === 404 || res.statusCode === 410) return { missing: res.statusCode };
      throw new UserError(`${what} refused (HTTP ${res.statusCode})`);
    }
    if (Number(res.headers['content-length']) > o.maxBytes) {
      await res.body.dump();
      throw tooBig();
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > o.maxBytes) {
        res.body.destroy();
        throw tooBig();
      }
      parts.push(chunk as Buffer);
    }
    return { body: Buffer.concat(parts) };
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = errorCode(e);
    if (signal.aborted || /TIMEOUT/.test(code ?? '')) throw new UserError(`${what}: no complete answer within ${o.timeoutMs / 1000} s`);
    const cert = certificateProblem(e, url.href);
    if (cert) throw new UserError(`cannot fetch ${what}: ${cert}`);
    throw new UserError(`cannot fetch ${what}: ${code ?? (e as Error).message}`);
  }
}
