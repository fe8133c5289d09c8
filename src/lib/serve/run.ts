// The `darkserver serve` command's work, between parsing its flags and exiting: open the index,
// start the server, say where it listens, and on SIGTERM or SIGINT stop accepting, finish what
// is in flight and return (exit 0). A second signal exits at once.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ioMessage, UserError } from '../errors.js';
import type { Store } from '../store/port.js';
import type { NetOptions } from '../net/dispatcher.js';
import { startServer } from './server.js';
import { upstreamUrls } from './upstream.js';

export interface ServeRequest {
  listen: string;
  port: number;
  cacheRoot: string;
  cacheSize?: number;
  /** Bytes of small cached files kept in memory at most (--memory-cache). */
  memoryCache?: number;
  upstream: string[];
  jobs: number;
  net: NetOptions;
  version: string;
  quiet: boolean;
  /** Told where the server listens, once it does. */
  onListening?: (url: string, port: number) => void;
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

/** Loopback names: a server that is told to reach itself as its own upstream would only loop. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export async function runServe(store: Store, req: ServeRequest, note: (line: string) => void): Promise<void> {
  const r = { ...req, cacheRoot: resolve(req.cacheRoot) };
  try {
    await mkdir(r.cacheRoot, { recursive: true });
  } catch (e) {
    throw new UserError(`cannot use ${r.cacheRoot} as the cache folder: ${ioMessage(e)}`, 2);
  }
  const urls = upstreamUrls(r.upstream, process.env.DEBUGINFOD_URLS).filter((u) => {
    const url = new URL(u);
    const self = Number(url.port || (url.protocol === 'https:' ? 443 : 80)) === r.port && (LOOPBACK.has(url.hostname) || url.hostname === r.listen);
    if (self) note(`not using ${u} as an upstream: it is this server`);
    return !self;
  });
  // Listening for the stop signals before the server exists: a signal that comes as it starts
  // still stops it cleanly once it has.
  const stopSignal = new Promise<keyof typeof SIGNALS>((resolve) => {
    let first: keyof typeof SIGNALS | undefined;
    const handler = (s: NodeJS.Signals): void => {
      const sig = s as keyof typeof SIGNALS;
      if (first) process.exit(128 + SIGNALS[sig]);
      first = sig;
      resolve(sig);
    };
    for (const s of Object.keys(SIGNALS)) process.on(s, handler);
  });
  let server;
  try {
    server = await startServer({
      host: r.listen, port: r.port, store, cacheRoot: r.cacheRoot, cacheSize: r.cacheSize, memoryCache: r.memoryCache, upstreams: urls, jobs: r.jobs,
      net: r.net, version: r.version, log: note, logRequests: !r.quiet,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    const where = `${r.listen}:${r.port}`;
    if (code === 'EADDRINUSE') throw new UserError(`cannot listen on ${where}: the port is in use (another darkserver serve or debuginfod?); choose another with --port`, 1);
    if (code === 'EACCES') throw new UserError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`, 2);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new UserError(`cannot listen on ${where}: no such local address`, 2);
    throw e;
  }
  r.onListening?.(server.url, server.port);
  if (!LOOPBACK.has(r.listen)) note(`warning: listening on ${r.listen}, not only on loopback: every file of the index and the cache can be read by anyone who reaches this port`);
  note(`listening on ${server.url} (index ${store.file}, cache ${r.cacheRoot}${r.cacheSize ? ` up to ${r.cacheSize} bytes` : ''}${urls.length ? `, upstream ${urls.join(' ')}` : ''})`);
  const signal = await stopSignal;
  note(`${signal}: not accepting new connections; finishing the requests in flight`);
  await server.stop();
  note('stopped');
}
