// `darkserver serve`: the index over HTTP (node:http; the routes are few and fixed, and a file
// answer is a plain stream from the cache). One log line per request on stderr (method, path,
// status, bytes, milliseconds), metrics at /metrics, bounded requests (URL, header size, time to
// send them), and a graceful stop: no new connections, what is in flight is finished.
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { inputText } from '../errors.js';
import type { Store } from '../store/port.js';
import type { NetOptions } from '../net/dispatcher.js';
import { Artifacts } from './artifacts.js';
import { DiskCache } from './disk-cache.js';
import { HttpError } from './http-error.js';
import { Limiter } from './limiter.js';
import { Metrics, serveMetrics } from './metrics.js';
import type { Reply } from './reply.js';
import { RpmFetcher } from './rpm-fetch.js';
import { sendRange } from './send-file.js';
import { ARTIFACT_TYPES, buildIdRoute } from './routes-debuginfod.js';
import { buildIdsRoute, homePage, packageRoute, rpmRoute, versionRoute } from './routes-darkserver.js';
import { Upstreams, type UpstreamContext } from './upstream.js';

/** Longest request URL (a source path may be PATH_MAX long, escaped). */
export const MAX_URL_BYTES = 16 * 1024;
/** Request line and headers together (Node's parser answers 431 beyond it). */
export const MAX_HEADER_BYTES = 32 * 1024;

export interface ServeConfig {
  host: string;
  port: number;
  store: Store;
  cacheRoot: string;
  cacheSize?: number;
  /** Bytes of small cached files kept in memory at most (--memory-cache; default OpenFiles'). */
  memoryCache?: number;
  upstreams: string[];
  /** Downloads (and extractions) at once. */
  jobs: number;
  net: NetOptions;
  version: string;
  /** One line on stderr (request lines, notes). */
  log: (line: string) => void;
  logRequests: boolean;
  forwardedTtl?: number;
  /** Extractions waiting for a slot before new ones are refused with 503 (default 1024). */
  maxWaiting?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  metrics: Metrics;
  cache: DiskCache;
  fetcher: RpmFetcher;
  /** Stop accepting, finish the requests in flight, close. */
  stop(): Promise<void>;
}

type Family = 'debuginfod' | 'json' | 'text';

export async function startServer(cfg: ServeConfig): Promise<RunningServer> {
  const metrics = serveMetrics();
  const artifactsRef: { current?: Artifacts } = {};
  const cache = new DiskCache(cfg.cacheRoot, cfg.cacheSize, (r) => {
    metrics.add('darkforge_cache_evictions_total', {});
    metrics.add('darkforge_cache_evicted_bytes_total', {}, r.size);
    artifactsRef.current?.forget(r.path);
  });
  await cache.scan();
  const downloads = new Limiter(cfg.jobs, cfg.maxWaiting ?? 1024);
  const extractions = new Limiter(cfg.jobs, cfg.maxWaiting ?? 1024);
  const fetcher = new RpmFetcher({
    cache, net: cfg.net, limiter: downloads,
    indexed: async (instance, pkgid) => await cfg.store.hasRpm(instance, pkgid),
    onFetch: (r) => {
      metrics.add('darkforge_fetches_total', { source: r.source, result: r.ok ? 'ok' : 'error' });
      metrics.add('darkforge_fetch_bytes_total', { source: r.source }, r.bytes);
      metrics.add('darkforge_fetch_duration_milliseconds_sum', { source: r.source }, r.ms);
      metrics.add('darkforge_fetch_duration_milliseconds_count', { source: r.source });
      if (cfg.logRequests || !r.ok) cfg.log(`fetch ${r.url} ${r.ok ? 'ok' : 'failed'} ${r.bytes} ${r.ms.toFixed(0)}ms`);
    },
  });
  const upstreams = new Upstreams(cfg.upstreams, {
    ...cfg.net, metrics, cacheRoot: cfg.cacheRoot, maxBytes: cfg.cacheSize, forwardedTtl: cfg.forwardedTtl,
  });
  const artifacts = new Artifacts({ store: cfg.store, cache, fetcher, extractions, metrics, net: cfg.net, upstreams, memoryBudget: cfg.memoryCache });
  artifactsRef.current = artifacts;
  metrics.gauge('darkforge_cache_bytes', 'Bytes of the files the cache accounts for.', () => cache.account.total);
  metrics.gauge('darkforge_cache_files', 'Files the cache accounts for.', () => cache.account.count);
  metrics.gauge('darkforge_memory_cache_bytes', 'Bytes of small cached files held in memory (--memory-cache).', () => artifacts.files.memoryBytes);
  metrics.gauge('darkforge_cache_limit_bytes', 'The --cache-size bound (0: none).', () => cfg.cacheSize ?? 0);
  metrics.gauge('darkforge_fetches_running', 'RPM downloads running now.', () => downloads.running);
  metrics.gauge('darkforge_fetches_waiting', 'RPM downloads waiting for a --jobs slot.', () => downloads.waiting);
  metrics.gauge('darkforge_extractions_running', 'Extractions running now.', () => extractions.running);
  metrics.gauge('darkforge_extractions_waiting', 'Extractions waiting for a --jobs slot.', () => extractions.waiting);

  let stopping = false;

  async function route(path: string, ctx: UpstreamContext, at: { type: string; family: Family }): Promise<Reply> {
    if (path.startsWith('/buildid/')) {
      at.family = 'debuginfod';
      const rest = path.slice('/buildid/'.length);
      const s1 = rest.indexOf('/');
      if (s1 < 0) throw new HttpError(400, 'expected /buildid/ID/TYPE');
      const s2 = rest.indexOf('/', s1 + 1);
      const rawType = s2 < 0 ? rest.slice(s1 + 1) : rest.slice(s1 + 1, s2);
      at.type = (ARTIFACT_TYPES as readonly string[]).includes(rawType) ? rawType : 'invalid';
      return buildIdRoute(artifacts, rest.slice(0, s1), rawType, s2 < 0 ? '' : rest.slice(s2), ctx);
    }
    if (path === '/metrics') {
      at.type = 'metrics';
      return { kind: 'body', status: 200, contentType: 'text/plain; version=0.0.4', body: metrics.render() };
    }
    // The original service lived under /darkserver behind Apache.
    const p = path === '/darkserver' ? '/' : path.startsWith('/darkserver/') ? path.slice('/darkserver'.length) : path;
    if (p === '/') {
      at.type = '/';
      return homePage(cfg.version);
    }
    at.family = 'json';
    const arg = (prefix: string): string | undefined => (p.startsWith(prefix) ? p.slice(prefix.length) : undefined);
    let a: string | undefined;
    if ((a = arg('/buildids/')) !== undefined) { at.type = 'buildids'; return buildIdsRoute(cfg.store, a); }
    if ((a = arg('/rpm2buildids/')) !== undefined) { at.type = 'rpm2buildids'; return rpmRoute(cfg.store, a); }
    if ((a = arg('/package/')) !== undefined) { at.type = 'package'; return packageRoute(cfg.store, a); }
    if (p === '/serverversion') { at.type = 'serverversion'; return versionRoute(cfg.version); }
    at.family = 'text';
    throw new HttpError(404, 'no such page (see / for the API)');
  }

  function errorReply(e: unknown, family: Family): Reply & { kind: 'body' } {
    let status = 500;
    let message: string;
    let headers: Record<string, string> = {};
    if (e instanceof HttpError) {
      status = e.status;
      message = e.message;
      headers = e.headers;
    } else {
      message = `internal error: ${(e as Error)?.message ?? String(e)}`;
      cfg.log(`error: ${process.env.DARKFORGE_DEBUG ? ((e as Error)?.stack ?? message) : message}`);
    }
    message = inputText(message, 2000);
    if (family === 'json') return { kind: 'body', status, contentType: 'application/json', body: `${JSON.stringify({ error: message })}\n`, headers };
    return { kind: 'body', status, contentType: 'text/plain; charset=utf-8', body: `${message}\n`, headers };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = req.url ?? '/';
    const at: { type: string; family: Family } = { type: 'invalid', family: 'text' };
    let sent = 0;
    let result = 'error';
    res.once('close', () => {
      const ms = performance.now() - t0;
      const code = String(res.statusCode);
      metrics.add('http_requests_total', { type: at.type });
      metrics.add('http_responses_total', { result });
      metrics.add('http_responses_transfer_bytes_sum', { code, type: at.type }, sent);
      metrics.add('http_responses_transfer_bytes_count', { code, type: at.type });
      metrics.add('http_responses_duration_milliseconds_sum', { code, type: at.type }, ms);
      metrics.add('http_responses_duration_milliseconds_count', { code, type: at.type });
      if (cfg.logRequests) {
        const cut = res.writableFinished ? '' : ' (cut short)';
        cfg.log(`${req.method} ${inputText(url, 300)} ${res.statusCode} ${sent} ${ms.toFixed(1)}ms${cut}`);
      }
    });
    let reply: Reply;
    try {
      if (Buffer.byteLength(url) > MAX_URL_BYTES) throw new HttpError(414, `the request URL is longer than ${MAX_URL_BYTES} bytes`);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET and HEAD are served', { Allow: 'GET, HEAD' });
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const ctx: UpstreamContext = {
        clientIp: req.socket.remoteAddress,
        forwardedFor: headerText(req.headers['x-forwarded-for']),
        userAgent: headerText(req.headers['user-agent']),
      };
      reply = await route(path, ctx, at);
      if (reply.kind === 'file') {
        const length = reply.length ?? reply.artifact.size;
        const max = Number(headerText(req.headers['x-debuginfod-maxsize']));
        if (max > 0 && length > max) {
          await reply.artifact.release();
          throw new HttpError(406, `the file is ${length} bytes, more than the ${max} bytes X-DEBUGINFOD-MAXSIZE allows`);
        }
      }
    } catch (e) {
      reply = errorReply(e, at.family);
    }
    if (res.destroyed) {
      if (reply.kind === 'file') await reply.artifact.release();
      return;
    }
    const common: Record<string, string> = stopping ? { Connection: 'close' } : {};
    if (reply.kind === 'body') {
      const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
      res.writeHead(reply.status, { ...common, ...reply.headers, 'Content-Type': reply.contentType, 'Content-Length': String(body.length) });
      if (req.method === 'HEAD') res.end();
      else { sent = body.length; res.end(body); }
      result = reply.status < 400 ? 'ok' : 'error';
      return;
    }
    const a = reply.artifact;
    const start = reply.start ?? 0;
    const length = reply.length ?? a.size;
    result = a.how === 'cache' ? 'file' : a.how;
    res.writeHead(200, {
      ...common,
      ...reply.headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(length),
      'X-DEBUGINFOD-SIZE': String(length),
      'Last-Modified': a.mtime.toUTCString(),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      await a.release();
      return;
    }
    if (a.bytes) {
      // Kept in memory: one write, and the file is free for eviction at once (the Buffer stays).
      res.end(a.bytes.subarray(start, start + length), (err?: Error | null) => { if (!err) sent = length; });
      await a.release();
      return;
    }
    try {
      await sendRange(res, a.fh, start, length, (n) => { sent += n; });
      res.end();
    } catch {
      // The client went away, or the file could not be read: the connection is closed short of
      // Content-Length, so no client takes a partial file for a whole one.
      res.destroy();
    } finally {
      await a.release();
    }
  }

  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 30_000, headersTimeout: 20_000, keepAliveTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      cfg.log(`error: ${(e as Error)?.message ?? String(e)}`);
      res.destroy();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = err.code ?? '';
    if (!socket.writable || code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = `${status === 431 ? `request line and headers are longer than ${MAX_HEADER_BYTES} bytes` : status === 408 ? 'the request was not sent in time' : 'malformed HTTP request'}\n`;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    metrics.add('http_requests_total', { type: 'invalid' });
    metrics.add('http_responses_total', { result: 'error' });
    if (cfg.logRequests) cfg.log(`- - ${status} ${body.length} (${code || err.message} from ${socket.remoteAddress ?? '?'})`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => cfg.log(`error: ${(e as Error).message}`));
  const port = (server.address() as AddressInfo).port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;

  return {
    url: `http://${host}:${port}`, port, metrics, cache, fetcher,
    stop: () => {
      stopping = true;
      return new Promise<void>((resolve) => {
        // Keep-alive connections that finish an answer after close() are idle then: close them too.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        server.close(() => {
          clearInterval(sweep);
          void artifacts.close().then(resolve);
        });
        server.closeIdleConnections();
      });
    },
  };
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

