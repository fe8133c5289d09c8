// The undici dispatchers every darkforge HTTP(S) request goes through. Certificate verification
// is always stated explicitly: undici would otherwise leave it to Node's default, which an
// inherited NODE_TLS_REJECT_UNAUTHORIZED=0 silently turns off. The one way to skip it is a
// command's --insecure flag, for that run only.
import { Agent, type Dispatcher } from 'undici';
import type { RetryOptions } from './retry.js';

/** How a run talks to servers: timeouts, TLS, and how long it keeps retrying (retry.ts). */
export interface NetOptions extends RetryOptions {
  /** Longest wait for a connection, a response, or the next bytes of one. Default 60 s. */
  timeoutMs?: number;
  /** Skip TLS certificate verification (the --insecure flag; never from configuration). */
  insecure?: boolean;
  /** Added to a certificate error, e.g. "--insecure skips the check" where that flag exists. */
  tlsHint?: string;
  /** Kept-alive connections per origin at most (an import's --jobs); default: as many as requests in flight. */
  connections?: number;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

const agents = new Map<string, Dispatcher>();

export function httpDispatcher(o: NetOptions = {}): Dispatcher {
  const insecure = o.insecure === true;
  // undici's own connect timeout is 10 s; a shorter --timeout applies to connecting as well.
  const connectMs = Math.min(o.timeoutMs ?? DEFAULT_TIMEOUT_MS, 10_000);
  const connections = o.connections && o.connections > 0 ? Math.floor(o.connections) : undefined;
  const key = `${insecure}/${connectMs}/${connections ?? ''}`;
  let agent = agents.get(key);
  if (!agent) {
    // Keep-alive is undici's default; no pipelining (one request at a time per connection): a
    // connection that fails would fail every request queued on it, and proxies in front of
    // package stores handle pipelined requests badly. One connection per job is as fast.
    agent = new Agent({ connect: { rejectUnauthorized: !insecure, timeout: connectMs }, connections });
    agents.set(key, agent);
  }
  return agent;
}
