// Federation as elfutils does it: a build-id the index cannot answer is asked of the upstream
// debuginfod servers (--upstream, and $DEBUGINFOD_URLS when set), all at once; the first 200
// wins and is kept in the cache, the others are dropped. Every request has a deadline for its
// headers and for each read of its body (--timeout); a server that hangs makes a 504, one that
// says 404 counts as "not there". X-Forwarded-For grows by one hop per server, and a request that
// already went through --forwarded-ttl-limit servers is not sent on, so two servers naming each
// other cannot loop forever.
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import { UserError } from '../errors.js';
import { makeCacheFolder } from '../find/cache.js';
import type { FindRequest } from '../find/finder.js';
import { DEFAULT_TIMEOUT_MS, httpDispatcher, type NetOptions } from '../net/dispatcher.js';
import { errorCode, failureReason } from '../net/retry.js';
import { checkUrl, redactUrl } from '../net/url-policy.js';
import { HttpError } from './http-error.js';
import type { Metrics } from './metrics.js';
import type { Origin } from './artifacts.js';

export interface UpstreamContext {
  /** The client's address, added to X-Forwarded-For. */
  clientIp?: string;
  /** The incoming X-Forwarded-For, if any. */
  forwardedFor?: string;
  userAgent?: string;
}

export interface UpstreamOptions extends NetOptions {
  /** Hops (X-Forwarded-For entries) after which a request is not sent on (debuginfod's default: 8). */
  forwardedTtl?: number;
  /** Largest file accepted from an upstream server (the cache bound, when there is one). */
  maxBytes?: number;
  metrics?: Metrics;
  cacheRoot: string;
}

/** Upstream URLs from --upstream and $DEBUGINFOD_URLS (space-separated; tags like ima:enforcing skipped). */
export function upstreamUrls(flags: string[], env: string | undefined): string[] {
  const fromEnv = (env ?? '').split(/\s+/).filter((u) => /^https?:\/\//i.test(u));
  const out: string[] = [];
  for (const [value, where] of [...flags.map((u) => [u, '--upstream'] as const), ...fromEnv.map((u) => [u, '$DEBUGINFOD_URLS'] as const)]) {
    const u = checkUrl(value, where, ['http', 'https']);
    const base = u.href.replace(/\/+$/, '');
    if (!out.includes(base)) out.push(base);
  }
  return out;
}

/** curl_easy_escape, as libdebuginfod applies it to each segment of a source path. */
export function escapeSegment(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'), (b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

export function upstreamPath(req: FindRequest): string {
  const base = `/buildid/${req.buildId}/${req.kind}`;
  return req.kind === 'source' ? `${base}${(req.sourcePath ?? '').split('/').map(escapeSegment).join('/')}` : base;
}

type Answer = { ok: Dispatcher.ResponseData } | { status: number } | { error: unknown };

export class Upstreams {
  private readonly dispatcher: Dispatcher;
  private readonly timeoutMs: number;

  constructor(readonly urls: string[], private readonly o: UpstreamOptions) {
    this.dispatcher = httpDispatcher(o);
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get enabled(): boolean {
    return this.urls.length > 0;
  }

  /**
   * Fetch the file into `dest`. Throws HttpError: 404 when every server says it has no such file
   * (`indexFailure`: why the index's own sources failed, said instead), 504 when one timed out
   * and none had it, 502 for other failures.
   */
  async fetch(req: FindRequest, dest: string, ctx: UpstreamContext, indexFailure?: string): Promise<Origin> {
    const hops = (ctx.forwardedFor ?? '').split(',').filter((s) => s.trim()).length;
    const ttl = this.o.forwardedTtl ?? 8;
    if (hops >= ttl) throw new HttpError(404, `${req.buildId}: not found here, and the request already passed ${hops} servers (X-Forwarded-For), so it is not sent upstream`);
    const path = upstreamPath(req);
    const headers: Record<string, string> = {
      'user-agent': ctx.userAgent || 'darkforge',
      'x-forwarded-for': [ctx.forwardedFor, ctx.clientIp].filter(Boolean).join(', '),
    };
    const controllers = this.urls.map(() => new AbortController());
    const t0 = performance.now();
    const answers = this.urls.map((base, i) => this.ask(`${base}${path}`, headers, controllers[i].signal));
    const winner = await firstOk(answers);
    for (const [i, c] of controllers.entries()) if (i !== winner?.index) c.abort();
    if (winner) {
      const url = this.urls[winner.index];
      try {
        const bytes = await this.save(winner.res, dest, `${redactUrl(url)}${path}`);
        this.count('ok', bytes, performance.now() - t0);
        const h = winner.res.headers;
        const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
        return { file: one(h['x-debuginfod-file']), archive: one(h['x-debuginfod-archive']) ?? `${redactUrl(url)}${path}` };
      } catch (e) {
        this.count('error', 0, performance.now() - t0);
        if (e instanceof HttpError) throw e;
        if (['ENOSPC', 'EDQUOT'].includes((e as NodeJS.ErrnoException)?.code ?? '')) {
          throw new HttpError(507, `the cache disk is full (${this.o.cacheRoot}): the file could not be written there`);
        }
        throw new HttpError(502, `${redactUrl(url)}${path}: ${failureReason(e, { url, timeoutMs: this.timeoutMs })}`);
      }
    }
    const settled = await Promise.all(answers);
    const reasons: string[] = [];
    let timedOut = false;
    let allMissing = true;
    for (const [i, a] of settled.entries()) {
      const shown = redactUrl(this.urls[i]);
      if ('status' in a) {
        if (a.status !== 404 && a.status !== 410) allMissing = false;
        reasons.push(`${shown}: HTTP ${a.status}`);
      } else if ('error' in a) {
        allMissing = false;
        if (/TIMEOUT/.test(errorCode(a.error) ?? '')) timedOut = true;
        reasons.push(`${shown}: ${failureReason(a.error, { url: this.urls[i], timeoutMs: this.timeoutMs })}`);
      }
      this.count('error', 0, performance.now() - t0);
    }
    const said = reasons.join('; ');
    // The index has the file but its sources failed: that is a bad gateway, whatever upstream says.
    if (allMissing && !indexFailure) throw new HttpError(404, `${req.buildId}: not in the index, and no upstream server has it (${said})`);
    if (allMissing) throw new HttpError(502, `${indexFailure}; upstream: ${said}`);
    throw new HttpError(timedOut ? 504 : 502, `${req.buildId}: ${indexFailure ? `${indexFailure}; ` : 'not in the index; '}upstream servers failed (${said})`);
  }

  private count(result: string, bytes: number, ms: number): void {
    const m = this.o.metrics;
    if (!m) return;
    m.add('darkforge_fetches_total', { source: 'upstream', result });
    m.add('darkforge_fetch_bytes_total', { source: 'upstream' }, bytes);
    m.add('darkforge_fetch_duration_milliseconds_sum', { source: 'upstream' }, ms);
    m.add('darkforge_fetch_duration_milliseconds_count', { source: 'upstream' });
  }

  private async ask(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Answer> {
    try {
      const res = await request(url, {
        method: 'GET', headers, signal, dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs,
      });
      // Errors of a body nobody reads surface nowhere else: never as an unhandled 'error' event.
      res.body.on('error', () => undefined);
      if (res.statusCode === 200) return { ok: res };
      await res.body.dump().catch(() => undefined);
      return { status: res.statusCode };
    } catch (e) {
      return { error: e };
    }
  }

  /** Stream the body to a temporary file beside `dest`, then rename it into place. */
  private async save(res: Dispatcher.ResponseData, dest: string, shown: string): Promise<number> {
    const declared = Number(res.headers['content-length']);
    const max = this.o.maxBytes;
    if (max !== undefined && Number.isFinite(declared) && declared > max) {
      res.body.destroy();
      throw new HttpError(502, `${shown}: the file is ${declared} bytes, more than the cache may hold (--cache-size ${max})`);
    }
    await makeCacheFolder(this.o.cacheRoot, dirname(dest)).catch((e) => {
      res.body.destroy();
      if (e instanceof UserError) throw new HttpError(500, e.message);
      throw e;
    });
    const part = join(dirname(dest), `.part-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (max !== undefined && bytes > max) done(new HttpError(502, `${shown}: the file is larger than the cache may hold (--cache-size ${max})`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(res.body, counter, createWriteStream(part, { flags: 'wx', mode: 0o644 }));
      if (Number.isFinite(declared) && bytes !== declared) throw new HttpError(502, `${shown}: the answer ended after ${bytes} of ${declared} bytes`);
      await rename(part, dest);
      return bytes;
    } catch (e) {
      await unlink(part).catch(() => undefined);
      throw e;
    }
  }
}

/** The first answer that is a 200, or undefined once all have answered otherwise. */
function firstOk(answers: Promise<Answer>[]): Promise<{ index: number; res: Dispatcher.ResponseData } | undefined> {
  return new Promise((resolve) => {
    let left = answers.length;
    let done = false;
    if (!left) resolve(undefined);
    for (const [index, p] of answers.entries()) {
      void p.then((a) => {
        left--;
        if ('ok' in a) {
          if (!done) {
            done = true;
            resolve({ index, res: a.ok });
          } else {
            a.ok.body.destroy();
          }
        } else if (!left && !done) {
          done = true;
          resolve(undefined);
        }
      });
    }
  });
}
