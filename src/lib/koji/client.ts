// Koji hub client: XML-RPC over undici with per-request timeouts and retries.
// Transport trouble is retried within the run's retry budget (HTTP 408/429/502/503/504, dropped or
// refused connections, timeouts), and so is fault 1014, ServerOffline, which a hub answers while
// its database is away (koji's own client waits for it with offline_retry), in a single call and
// inside a multicall. Any other fault, and a 4xx, is the hub's considered answer: asking again
// would only repeat it. An error page is read for one line and dropped (http-error.ts).
import { createRequire } from 'node:module';
import { request, type Dispatcher } from 'undici';
import { FormatError, UserError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS, httpDispatcher, type NetOptions } from '../net/dispatcher.js';
import { httpError } from '../net/http-error.js';
import { OutageLog } from '../net/outages.js';
import { certificateProblem, CONNECT_CODES, errorCode, failureReason, isRetryable, retryableStatus, RetryClock, SERVER_OFFLINE } from '../net/retry.js';
import { checkUrl, redactUrl } from '../net/url-policy.js';
import type { KojiBuild, KojiEvent, KojiRpm } from './types.js';
import { asFault, decodeResponse, encodeCall, Kwargs, type XmlRpcFault, type XmlRpcValue } from './xmlrpc.js';

export interface KojiClientOptions extends NetOptions {
  /** XML-RPC endpoint, e.g. https://koji.fedoraproject.org/kojihub */
  hub: string;
  /** Per request: time to response headers, and the longest gap between body chunks. Default 60000. */
  timeoutMs?: number;
  /** Default: the shared verifying agent (or the --insecure one). */
  dispatcher?: Dispatcher;
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

/** One exchange with the hub that did not give an answer worth keeping: why, and whether to ask again. */
interface Trouble {
  /** As the final error says it: "gave HTTP 503 (Service Unavailable)", "cannot connect (ECONNREFUSED)". */
  failure: string;
  /** As the outage line says it: "HTTP 503 (Service Unavailable)". */
  reason: string;
  retry: boolean;
  retryAfterMs?: number;
  cause?: unknown;
  faultCode?: number;
  faultString?: string;
}

const offlineReason = (f: XmlRpcFault): string => `the hub is offline (fault ${f.faultCode}: ${faultLine(f.faultString)})`;

export class KojiClient {
  /** The hub as messages show it (no password). */
  readonly hub: string;
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly tlsHint?: string;
  private readonly opts: KojiClientOptions;

  constructor(opts: KojiClientOptions) {
    // XML-RPC goes over HTTP only: ftp: and file: are download schemes, not hubs.
    checkUrl(opts.hub, 'Koji hub', ['http', 'https']);
    this.hub = redactUrl(opts.hub);
    this.url = opts.hub;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.tlsHint = opts.tlsHint;
    this.dispatcher = opts.dispatcher ?? httpDispatcher(opts);
    // One outage record for all of this client's calls, shared with the run's downloads when given.
    this.opts = { ...opts, outages: opts.outages ?? new OutageLog() };
  }

  private clock(): RetryClock {
    return new RetryClock(this.opts, `Koji hub ${this.hub}`);
  }

  private fail(label: string, method: string, what: string, extra: { faultCode?: number; faultString?: string; cause?: unknown } = {}): KojiError {
    return new KojiError(`Koji hub ${this.hub}: ${label} ${what}`, this.hub, method, extra.faultCode, extra.faultString, { cause: extra.cause });
  }

  call<T = XmlRpcValue>(method: string, ...params: (XmlRpcValue | Kwargs)[]): Promise<T> {
    return this.invoke(method, params, `${method}(${describeArgs(params)})`) as Promise<T>;
  }

  /** The call's value; a fault other than ServerOffline throws; transport trouble and ServerOffline are retried. */
  private async invoke(method: string, params: (XmlRpcValue | Kwargs)[], label: string): Promise<XmlRpcValue> {
    const body = encodeCall(method, params);
    const clock = this.clock();
    for (;;) {
      const got = await this.exchange(body, method, label);
      if (!('trouble' in got)) {
        clock.progress();
        if ('fault' in got) {
          const { faultCode, faultString } = got.fault;
          throw this.fail(label, method, `failed: fault ${faultCode}: ${faultLine(faultString)}`, { faultCode, faultString });
        }
        return got.value;
      }
      const t = got.trouble;
      if (t.retry && await clock.again(t.reason, t.retryAfterMs)) continue;
      throw this.fail(label, method, `${t.failure}${clock.summary()}`, { cause: t.cause, faultCode: t.faultCode, faultString: t.faultString });
    }
  }

  /** One POST: the decoded answer, or the trouble that kept it from coming. Throws only for an answer that is not XML-RPC. */
  private async exchange(body: string, method: string, label: string): Promise<{ value: XmlRpcValue } | { fault: XmlRpcFault } | { trouble: Trouble }> {
    let xml: string;
    try {
      const res = await request(this.url, {
        method: 'POST',
        headers: { 'content-type': 'text/xml', 'user-agent': USER_AGENT, accept: 'text/xml' },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        dispatcher: this.dispatcher,
      });
      res.body.on('error', () => undefined);
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const e = await httpError(res, this.hub, { timeoutMs: this.timeoutMs });
        return { trouble: { failure: `gave ${e.message}`, reason: e.message, retry: retryableStatus(e.status), retryAfterMs: e.retryAfterMs, cause: e } };
      }
      xml = await this.readBody(res.body, label, method);
    } catch (e) {
      if (e instanceof KojiError) throw e;
      return { trouble: this.transport(e) };
    }
    let res: ReturnType<typeof decodeResponse>;
    try {
      res = decodeResponse(xml);
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      throw this.fail(label, method, `gave a response that is not XML-RPC (${e.message})`, { cause: e });
    }
    if ('fault' in res && res.fault.faultCode === SERVER_OFFLINE) {
      const { faultCode, faultString } = res.fault;
      return { trouble: { failure: `failed: fault ${faultCode}: ${faultLine(faultString)} (the hub is offline)`, reason: offlineReason(res.fault), retry: true, faultCode, faultString } };
    }
    return res;
  }

  /** A request that got no HTTP answer: in words, and whether another attempt may fare better. */
  private transport(e: unknown): Trouble {
    const code = errorCode(e);
    const msg = (e as Error)?.message ?? String(e);
    const cert = certificateProblem(e, this.url, this.tlsHint);
    const retry = isRetryable(e, code) && !cert;
    const reason = failureReason(e, { url: this.url, timeoutMs: this.timeoutMs, tlsHint: this.tlsHint });
    let failure: string;
    if (cert) failure = `cannot connect: ${cert}`;
    else if (code && /_TIMEOUT$/.test(code) && code !== 'UND_ERR_CONNECT_TIMEOUT') failure = `timed out (${code}, limit ${this.timeoutMs} ms)`;
    else if (code && CONNECT_CODES.has(code)) failure = `cannot connect (${code})`;
    else if (retry) failure = `lost the connection (${code ? `${code}: ` : ''}${msg})`;
    // ENOTFOUND and other TLS failures: the next attempt would fail the same way.
    else if (code && /^E[A-Z_]+$|CERT|SSL|TLS|SIGNED|UNABLE_TO/.test(code)) failure = `cannot connect (${code}: ${msg})`;
    else failure = `request failed (${code ? `${code}: ` : ''}${msg})`;
    return { failure, reason, retry, cause: e };
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

  /**
   * system.multicall: one round trip, one result per call, in order. Calls answered with
   * ServerOffline are asked again (only they) within the retry budget.
   */
  async multicall(calls: { method: string; params: (XmlRpcValue | Kwargs)[] }[]): Promise<MulticallResult[]> {
    if (calls.length === 0) return [];
    const names = [...new Set(calls.map((c) => c.method))].join('/');
    const label = `multicall of ${calls.length} ${names} call${calls.length === 1 ? '' : 's'}`;
    const results: MulticallResult[] = new Array(calls.length);
    let pending = calls.map((_c, i) => i);
    const clock = this.clock();
    for (;;) {
      const arg = pending.map((i) => ({ methodName: calls[i].method, params: calls[i].params.map((p) => (p instanceof Kwargs ? p.toStruct() : p)) }));
      const out = await this.invoke('system.multicall', [arg], label);
      if (!Array.isArray(out) || out.length !== pending.length) {
        throw this.fail(label, 'system.multicall', `gave ${Array.isArray(out) ? `${out.length} results` : 'a non-array'} instead of ${pending.length} results`);
      }
      const offline: number[] = [];
      let last: XmlRpcFault | undefined;
      out.forEach((r, j) => {
        const i = pending[j];
        if (Array.isArray(r) && r.length === 1) { results[i] = { value: r[0] }; return; }
        const fault = asFault(r);
        if (!fault) throw this.fail(label, 'system.multicall', `gave an unexpected result for call ${i + 1} (${calls[i].method})`);
        if (fault.faultCode === SERVER_OFFLINE) { offline.push(i); last = fault; return; }
        results[i] = { fault };
      });
      if (!last) return results;
      if (!(await clock.again(offlineReason(last)))) {
        throw this.fail(label, 'system.multicall',
          `failed: ${offline.length} of its calls got fault ${last.faultCode}: ${faultLine(last.faultString)} (the hub is offline)${clock.summary()}`,
          { faultCode: last.faultCode, faultString: last.faultString });
      }
      pending = offline;
    }
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
    const results = await this.callMany(unique.map((id) => ({ method: 'getBuild', params: [id] })), batch);
    return new Map(unique.map((id, i) => {
      const r = results[i];
      if ('error' in r) throw r.error;
      return [id, this.checkRecord<KojiBuild>(r.value, `getBuild(${id})`, 'getBuild')];
    }));
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

  /** The newest event (kojihub getLastEvent), or the newest before `before` (seconds since 1970). */
  async getLastEvent(before?: number): Promise<KojiEvent> {
    const args = before === undefined ? [] : [before];
    return this.checkEvent(await this.call('getLastEvent', ...args), `getLastEvent(${describeArgs(args)})`, 'getLastEvent');
  }

  /** One event by id (kojihub getEvent); the hub answers a fault when there is none. */
  async getEvent(id: number): Promise<KojiEvent> {
    return this.checkEvent(await this.call('getEvent', id), `getEvent(${id})`, 'getEvent');
  }

  /**
   * One page of kojihub listBuilds: `filter` as its keyword arguments (completeAfter: builds whose
   * completion time is later, strictly), `page` as its queryOpts (order: aliases, comma-separated).
   * Its maps carry build_id only; here `id` is set from it, as getBuild gives it.
   */
  async listBuilds(filter: Record<string, XmlRpcValue | undefined>, page: { order?: string; offset?: number; limit?: number } = {}): Promise<KojiBuild[]> {
    const defined = (o: object): { [k: string]: XmlRpcValue } =>
      Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as { [k: string]: XmlRpcValue };
    const args = new Kwargs({ ...defined(filter), queryOpts: defined(page) });
    const v = await this.call('listBuilds', args);
    const label = `listBuilds(${describeArgs([args])})`;
    if (!Array.isArray(v)) throw this.fail(label, 'listBuilds', 'gave a non-array answer');
    return v.map((m) => {
      if (!isStruct(m) || typeof m.build_id !== 'number') throw this.fail(label, 'listBuilds', 'gave an entry without a numeric build_id');
      return { ...m, id: m.build_id } as KojiBuild;
    });
  }

  private checkEvent(v: XmlRpcValue, label: string, method: string): KojiEvent {
    if (!isStruct(v) || typeof v.id !== 'number' || typeof v.ts !== 'number' || !Number.isFinite(v.ts)) {
      throw this.fail(label, method, 'gave an answer that is not an event (numeric id and ts)');
    }
    return { id: v.id, ts: v.ts };
  }

  private checkRecord<T>(v: XmlRpcValue, label: string, method: string): T | null {
    if (v === null) return null;
    if (!isStruct(v) || typeof v.id !== 'number') throw this.fail(label, method, 'gave an answer without a numeric id');
    return v as T;
  }
}
