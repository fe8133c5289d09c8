// Koji hub client: XML-RPC over undici with per-request timeouts and retries.
// Only transport trouble is retried (5xx, 429, dropped or refused connections, timeouts): a fault
// or a 4xx is the hub's considered answer, and asking again would only repeat it.
import { createRequire } from 'node:module';
import { request, type Dispatcher } from 'undici';
import { FormatError, UserError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS, httpDispatcher, type NetOptions } from '../net/dispatcher.js';
import { certificateProblem, CONNECT_CODES, defaultBackoffMs, errorCode, isRetryable } from '../net/retry.js';
import { checkUrl, redactUrl } from '../net/url-policy.js';
import type { KojiBuild, KojiRpm } from './types.js';
import { asFault, decodeResponse, encodeCall, Kwargs, type XmlRpcFault, type XmlRpcValue } from './xmlrpc.js';

export interface KojiClientOptions extends NetOptions {
  /** XML-RPC endpoint, e.g. https://koji.fedoraproject.org/kojihub */
  hub: string;
  /** Per request: time to response headers, and the longest gap between body chunks. Default 60000. */
  timeoutMs?: number;
  /** Extra attempts after the first one fails with a retryable error. Default 4. */
  retries?: number;
  /** Base of the exponential backoff; each wait is uniform in [0, min(max, base * 2^n)). Default 500. */
  backoffMs?: number;
  /** Default 30000. */
  maxBackoffMs?: number;
  /** Default: the shared verifying agent (or the --insecure one). */
  dispatcher?: Dispatcher;
  sleep?: (ms: number) => Promise<void>;
}

export type MulticallResult = { value: XmlRpcValue } | { fault: XmlRpcFault };
export type CallOutcome = { value: XmlRpcValue } | { error: KojiError };
/** A build as the hub described it (null: no such build), with its RPMs; `error` when a call about it failed. */
export interface BuildAnswer { build: KojiBuild | null; rpms: KojiRpm[]; error?: KojiError }

/**
 * Calls per system.multicall request. Koji's own CLI sends batches of 500 to 5000; 200 keeps
 * one answer (getBuild and listRPMs of 100 builds) to a few MB even for builds of many RPMs.
 */
export const MULTICALL_PAGE = 200;

/** A Koji call that failed; the message is one sentence naming the hub and the call. */
export class KojiError extends UserError {
  constructor(
    message: string,
    readonly hub: string,
    readonly method: string,
    readonly faultCode?: number,
    readonly faultString?: string,
    options?: { cause?: unknown },
  ) {
    super(message, 1);
    this.name = 'KojiError';
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

const MAX_BODY = 256 * 1024 * 1024;

const USER_AGENT = (() => {
  try {
    // src/lib/koji and dist/lib/koji both sit three levels below package.json.
    return `darkforge/${(createRequire(import.meta.url)('../../../package.json') as { version: string }).version}`;
  } catch {
    return 'darkforge';
  }
})();

/** Short human form of the arguments, for messages: getBuild(12345), listRPMs(buildID=7). */
function describeArgs(params: (XmlRpcValue | Kwargs)[]): string {
  const one = (v: XmlRpcValue | undefined): string => {
    if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
    if (v === null || v === undefined || typeof v !== 'object') return String(v);
    if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return `[${v.length} items]`;
    return '{…}';
  };
  const parts = params.flatMap((p) =>
    p instanceof Kwargs ? Object.entries(p.values).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${one(v)}`) : [one(p)],
  );
  const s = parts.join(', ');
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

/** One line of a fault string; tracebacks (KojiDebug hubs) end with the line that matters. */
function faultLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = (lines.length > 1 && /^Traceback/.test(lines[0]) ? lines[lines.length - 1] : lines.join(' ')) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function isStruct(v: XmlRpcValue): v is { [k: string]: XmlRpcValue } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date);
}

export class KojiClient {
  /** The hub as messages show it (no password). */
  readonly hub: string;
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly tlsHint?: string;

  constructor(opts: KojiClientOptions) {
    // XML-RPC goes over HTTP only: ftp: and file: are download schemes, not hubs.
    checkUrl(opts.hub, 'Koji hub', ['http', 'https']);
    this.hub = redactUrl(opts.hub);
    this.url = opts.hub;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.tlsHint = opts.tlsHint;
    this.retries = Math.max(0, Math.floor(opts.retries ?? 4));
    this.backoffMs = opts.backoffMs ?? defaultBackoffMs();
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.dispatcher = opts.dispatcher ?? httpDispatcher(opts);
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private fail(label: string, method: string, what: string, extra: { faultCode?: number; faultString?: string; cause?: unknown } = {}): KojiError {
    return new KojiError(`Koji hub ${this.hub}: ${label} ${what}`, this.hub, method, extra.faultCode, extra.faultString, { cause: extra.cause });
  }

  call<T = XmlRpcValue>(method: string, ...params: (XmlRpcValue | Kwargs)[]): Promise<T> {
    return this.invoke(method, params, `${method}(${describeArgs(params)})`) as Promise<T>;
  }

  private async invoke(method: string, params: (XmlRpcValue | Kwargs)[], label: string): Promise<XmlRpcValue> {
    const body = encodeCall(method, params);
    const xml = await this.post(body, method, label);
    let res: ReturnType<typeof decodeResponse>;
    try {
      res = decodeResponse(xml);
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      throw this.fail(label, method, `gave a response that is not XML-RPC (${e.message})`, { cause: e });
    }
    if ('fault' in res) {
      const { faultCode, faultString } = res.fault;
      throw this.fail(label, method, `failed: fault ${faultCode}: ${faultLine(faultString)}`, { faultCode, faultString });
    }
    return res.value;
  }

  /** POST with retries; returns the response text of a 2xx. */
  private async post(body: string, method: string, label: string): Promise<string> {
    const attempts = this.retries + 1;
    for (let attempt = 1; ; attempt++) {
      let wait: number | undefined;
      let failure: string;
      let cause: unknown;
      try {
        const res = await request(this.url, {
          method: 'POST',
          headers: { 'content-type': 'text/xml', 'user-agent': USER_AGENT, accept: 'text/xml' },
          body,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          dispatcher: this.dispatcher,
        });
        if (res.statusCode >= 200 && res.statusCode < 300) return await this.readBody(res.body, label, method);
        const detail = await errorDetail(res);
        failure = `gave HTTP ${res.statusCode}${detail}`;
        if (res.statusCode !== 429 && res.statusCode < 500) throw this.fail(label, method, failure);
        const after = Number(res.headers['retry-after']);
        if (Number.isFinite(after) && after >= 0) wait = Math.min(after * 1000, this.maxBackoffMs);
      } catch (e) {
        if (e instanceof KojiError) throw e;
        const code = errorCode(e);
        const msg = (e as Error)?.message ?? String(e);
        const cert = certificateProblem(e, this.url, this.tlsHint);
        const retry = isRetryable(e, code) && !cert;
        cause = e;
        if (cert) failure = `cannot connect: ${cert}`;
        else if (code && /_TIMEOUT$/.test(code) && code !== 'UND_ERR_CONNECT_TIMEOUT') failure = `timed out (${code}, limit ${this.timeoutMs} ms)`;
        else if (code && CONNECT_CODES.has(code)) failure = `cannot connect (${code})`;
        else if (retry) failure = `lost the connection (${code ? `${code}: ` : ''}${msg})`;
        // ENOTFOUND and other TLS failures: the next attempt would fail the same way.
        else if (code && /^E[A-Z_]+$|CERT|SSL|TLS|SIGNED|UNABLE_TO/.test(code)) failure = `cannot connect (${code}: ${msg})`;
        else failure = `request failed (${code ? `${code}: ` : ''}${msg})`;
        if (!retry) throw this.fail(label, method, failure, { cause });
      }
      if (attempt >= attempts) throw this.fail(label, method, `${failure} after ${attempts} attempts`, { cause });
      const cap = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
      await this.sleep(wait ?? Math.random() * cap);
    }
  }

  private async readBody(stream: Dispatcher.ResponseData['body'], label: string, method: string): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) {
        stream.destroy();
        throw this.fail(label, method, `sent a response larger than ${MAX_BODY / 1024 / 1024} MiB`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** system.multicall: one round trip, one result per call, in order. */
  async multicall(calls: { method: string; params: (XmlRpcValue | Kwargs)[] }[]): Promise<MulticallResult[]> {
    if (calls.length === 0) return [];
    const names = [...new Set(calls.map((c) => c.method))].join('/');
    const label = `multicall of ${calls.length} ${names} call${calls.length === 1 ? '' : 's'}`;
    const arg = calls.map((c) => ({ methodName: c.method, params: c.params.map((p) => (p instanceof Kwargs ? p.toStruct() : p)) }));
    const out = await this.invoke('system.multicall', [arg], label);
    if (!Array.isArray(out) || out.length !== calls.length) {
      throw this.fail(label, 'system.multicall', `gave ${Array.isArray(out) ? `${out.length} results` : 'a non-array'} instead of ${calls.length} results`);
    }
    return out.map((r, i) => {
      if (Array.isArray(r) && r.length === 1) return { value: r[0] };
      const fault = asFault(r);
      if (fault) return { fault };
      throw this.fail(label, 'system.multicall', `gave an unexpected result for call ${i + 1} (${calls[i].method})`);
    });
  }

  /** By id or "N-V-R"; null when the hub has no such build. */
  async getBuild(idOrNvr: number | string): Promise<KojiBuild | null> {
    const v = await this.call('getBuild', idOrNvr);
    return this.checkRecord<KojiBuild>(v, `getBuild(${describeArgs([idOrNvr])})`, 'getBuild');
  }

  /**
   * Many calls in as few round trips as Koji's own client makes them (`multiCall(batch=…)`):
   * `page` calls per system.multicall request, one request after the other. Each call gets its
   * value or its own KojiError (a fault answers for that call alone); a request that fails as a
   * whole (the network, HTTP, an answer that is not XML-RPC) throws.
   */
  async callMany(calls: { method: string; params: (XmlRpcValue | Kwargs)[] }[], page = MULTICALL_PAGE): Promise<CallOutcome[]> {
    const out: CallOutcome[] = [];
    const size = Math.max(1, Math.floor(page));
    for (let i = 0; i < calls.length; i += size) {
      const chunk = calls.slice(i, i + size);
      const results = await this.multicall(chunk);
      results.forEach((r, j) => {
        if ('value' in r) { out.push(r); return; }
        const { faultCode, faultString } = r.fault;
        const c = chunk[j];
        out.push({ error: this.fail(`${c.method}(${describeArgs(c.params)})`, c.method, `failed: fault ${faultCode}: ${faultLine(faultString)}`, { faultCode, faultString }) });
      });
    }
    return out;
  }

  /**
   * getBuild (unless `known` has the build already) and listRPMs of many builds, in multicalls of
   * `page` calls: a few hundred builds cost a few round trips, not two each. A fault on one call
   * (or an answer of the wrong shape) fails that build alone, as `error`.
   */
  async buildsWithRpms(ids: number[], known: ReadonlyMap<number, KojiBuild | null> = new Map(), page = MULTICALL_PAGE): Promise<Map<number, BuildAnswer>> {
    const unique = [...new Set(ids)];
    const calls: { method: string; params: (XmlRpcValue | Kwargs)[] }[] = [];
    const slots: { id: number; what: 'build' | 'rpms' }[] = [];
    for (const id of unique) {
      if (!known.has(id)) { calls.push({ method: 'getBuild', params: [id] }); slots.push({ id, what: 'build' }); }
      calls.push({ method: 'listRPMs', params: [new Kwargs({ buildID: id })] });
      slots.push({ id, what: 'rpms' });
    }
    const results = await this.callMany(calls, page);
    const out = new Map<number, BuildAnswer>(unique.map((id) => [id, { build: known.get(id) ?? null, rpms: [] }]));
    results.forEach((r, i) => {
      const { id, what } = slots[i];
      const a = out.get(id)!;
      if (a.error) return;
      if ('error' in r) { a.error = r.error; return; }
      try {
        if (what === 'build') a.build = this.checkRecord<KojiBuild>(r.value, `getBuild(${id})`, 'getBuild');
        else a.rpms = this.rpmList(r.value, `listRPMs(buildID=${id})`);
      } catch (e) {
        if (!(e instanceof KojiError)) throw e;
        a.error = e;
      }
    });
    return out;
  }

  /** getBuild for many ids, `batch` per multicall. A fault on any id throws. */
  async getBuilds(ids: number[], batch = 50): Promise<Map<number, KojiBuild | null>> {
    const unique = [...new Set(ids)];
    const out = new Map<number, KojiBuild | null>();
    const size = Math.max(1, Math.floor(batch));
    for (let i = 0; i < unique.length; i += size) {
      const chunk = unique.slice(i, i + size);
      const results = await this.multicall(chunk.map((id) => ({ method: 'getBuild', params: [id] })));
      results.forEach((r, j) => {
        const label = `getBuild(${chunk[j]})`;
        if ('fault' in r) {
          const { faultCode, faultString } = r.fault;
          throw this.fail(label, 'getBuild', `failed: fault ${faultCode}: ${faultLine(faultString)}`, { faultCode, faultString });
        }
        out.set(chunk[j], this.checkRecord<KojiBuild>(r.value, label, 'getBuild'));
      });
    }
    return out;
  }

  /** Every RPM of a build (all arches, including src). */
  async listRPMs(buildId: number): Promise<KojiRpm[]> {
    const args = new Kwargs({ buildID: buildId });
    return this.rpmList(await this.call('listRPMs', args), `listRPMs(${describeArgs([args])})`);
  }

  private rpmList(v: XmlRpcValue, label: string): KojiRpm[] {
    if (!Array.isArray(v)) throw this.fail(label, 'listRPMs', 'gave a non-array answer');
    return v.map((r) => {
      const rpm = this.checkRecord<KojiRpm>(r, label, 'listRPMs');
      if (!rpm) throw this.fail(label, 'listRPMs', 'gave a nil entry');
      return rpm;
    });
  }

  /** By id or "N-V-R.A"; null when the hub has no such RPM. */
  async getRPM(nvra: string | number): Promise<KojiRpm | null> {
    const v = await this.call('getRPM', nvra);
    return this.checkRecord<KojiRpm>(v, `getRPM(${describeArgs([nvra])})`, 'getRPM');
  }

  private checkRecord<T>(v: XmlRpcValue, label: string, method: string): T | null {
    if (v === null) return null;
    if (!isStruct(v) || typeof v.id !== 'number') throw this.fail(label, method, 'gave an answer without a numeric id');
    return v as T;
  }
}

/** " (first line of a text/plain body)" for HTTP errors, else ""; reads at most 4 KiB, then drops the rest. */
async function errorDetail(res: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  try {
    if (/^text\/plain/i.test(String(res.headers['content-type'] ?? ''))) {
      for await (const chunk of res.body) {
        text += (chunk as Buffer).toString('utf8');
        if (text.length >= 4096) break;
      }
    }
  } catch {
    // The status is the news; a body that fails to arrive adds nothing.
  } finally {
    res.body.destroy();
  }
  const line = text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  return line ? ` (${line.length > 200 ? `${line.slice(0, 200)}…` : line})` : '';
}
