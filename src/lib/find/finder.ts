// `darkserver find`: from a build-id to the file itself, as debuginfod-find does, but from the
// local index. The RPM holding the file is read from disk or from its download candidates in
// order (mirror, Koji, retrace), falling back to the next on any error.
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UserError, describeFailure } from '../errors.js';
import { queryBuildIds, withCandidates } from '../index/query.js';
import type { Store } from '../store/port.js';
import type { NetOptions } from '../net/dispatcher.js';
import { openSource } from '../net/open-source.js';
import { OutageLog } from '../net/outages.js';
import { defaultRetryTimeMs, RetriesExhausted } from '../net/retry.js';
import { redactUrl } from '../net/url-policy.js';
import type { ByteSource } from '../rpm/source.js';
import { cachePath, FindKind, makeCacheFolder } from './cache.js';
import { extractFromRpm } from './extract.js';

export interface FindRequest {
  kind: FindKind;
  buildId: string;
  /** For kind "source": the path under /usr/src/debug. */
  sourcePath?: string;
}

export interface FindResult {
  path: string;
  buildId: string;
  kind: FindKind;
  cached: boolean;
  rpm?: string;
  url?: string;
}

export interface FindOptions {
  cacheDir: string;
  /** Told about each source that failed when another is tried after it (the last failure is the FindError). */
  onFallback?: (url: string, message: string) => void;
  /** Timeout, TLS and retry settings for downloads (--timeout, --insecure, --retry-time). */
  net?: NetOptions;
  /**
   * How a download candidate is read (default: openSource, streaming), with `net`'s retry budget
   * for this try. `darkserver serve` reads RPMs it has fetched once into its cache, so many
   * requests for files of one RPM cost one download.
   */
  open?: (url: string, candidate: Candidate, net: NetOptions) => Promise<ByteSource>;
}

export interface Candidate {
  rpm: string;
  member: string;
  urls: string[];
  /** The index's instance and URL of that RPM (Koji's package store, or a local file). */
  instance: string;
  url: string;
}

/** Why findFile gave up: the index has no such file, or no download source delivered it. */
export class FindError extends UserError {
  constructor(message: string, readonly reason: 'not-indexed' | 'not-delivered', readonly failures: unknown[] = []) {
    super(message, 1);
    this.name = 'FindError';
  }
}

export async function findFile(store: Store, req: FindRequest, opts: FindOptions): Promise<FindResult> {
  const dest = cachePath(opts.cacheDir, req.buildId, req.kind, req.sourcePath);
  if (await isFile(dest)) return { path: dest, buildId: req.buildId, kind: req.kind, cached: true };

  const candidates = await selectCandidates(store, req);
  await makeCacheFolder(opts.cacheDir, dirname(dest));
  // Every source but the last gets a short first try, so one that is down does not hold up the
  // others; those that failed for a passing reason are then tried again with the whole budget.
  const budget = opts.net?.retryTimeMs ?? defaultRetryTimeMs();
  const net: NetOptions = { ...opts.net, outages: opts.net?.outages ?? new OutageLog() };
  const tries = candidates.flatMap((c) => c.urls.map((url) => ({ c, url })));
  const failures = new Map<string, string>();
  const causes: unknown[] = [];
  const later: typeof tries = [];
  const attempt = async ({ c, url }: (typeof tries)[number], retryTimeMs: number): Promise<FindResult | Failed> => {
    let src: ByteSource | undefined;
    try {
      const tryNet = { ...net, retryTimeMs };
      src = opts.open ? await opts.open(url, c, tryNet) : await openSource(url, tryNet);
      await extractFromRpm(src, c.member, dest);
      return { path: dest, buildId: req.buildId, kind: req.kind, cached: false, rpm: c.rpm, url: redactUrl(url) } satisfies FindResult;
    } catch (e) {
      causes.push(e);
      const shown = redactUrl(url);
      // Download errors name their URL already; it is said once, in front.
      const msg = describeFailure(e).replace(`${shown}: `, '');
      failures.set(shown, msg);
      return Object.assign(new Failed(), { cause: e, shown, msg });
    } finally {
      await src?.close();
    }
  };
  const said = (f: Failed, more: boolean): void => { if (more) opts.onFallback?.(f.shown, f.msg); };
  for (const [i, t] of tries.entries()) {
    const last = i === tries.length - 1;
    const got = await attempt(t, last ? budget : Math.min(budget, FIRST_TRY_MS));
    if (!(got instanceof Failed)) return got;
    if (!last && got.cause instanceof RetriesExhausted && budget > FIRST_TRY_MS) later.push(t);
    said(got, !last || later.length > 0);
  }
  for (const [i, t] of later.entries()) {
    const got = await attempt(t, budget);
    if (!(got instanceof Failed)) return got;
    said(got, i < later.length - 1);
  }
  throw new FindError(`${req.buildId}: no download source delivered the ${req.kind} file (${[...failures].map(([u, m]) => `${u}: ${m}`).join('; ')})`, 'not-delivered', causes);
}

/** How long a source with others after it is retried before they get their turn. */
const FIRST_TRY_MS = 15_000;

/** One try that did not deliver: why, and how it is said. */
class Failed {
  cause: unknown;
  shown = '';
  msg = '';
}

/** The RPMs that hold the file, in the order they are tried, each with its download URLs. */
export async function selectCandidates(store: Store, req: FindRequest): Promise<Candidate[]> {
  if (req.kind === 'source') {
    const path = req.sourcePath!;
    const siblings = await store.buildSiblings(req.buildId);
    if (!siblings.length) throw new FindError(`${req.buildId}: build-id not found in the index`, 'not-indexed');
    // Sources live in the -debugsource RPM (rpm >= 4.14), before that in -debuginfo.
    const holders = [...siblings.filter((r) => r.name.endsWith('-debugsource')), ...siblings.filter((r) => r.name.endsWith('-debuginfo'))];
    if (!holders.length) throw new FindError(`${req.buildId}: the index knows no -debugsource or -debuginfo RPM of this build`, 'not-indexed');
    return (await withCandidates(store, holders)).map((r) => ({ rpm: r.rpm, member: path, urls: r.urls, instance: r.instance, url: r.url }));
  }
  const { results } = await queryBuildIds(store, [req.buildId]);
  if (!results.length) throw new FindError(`${req.buildId}: build-id not found in the index`, 'not-indexed');
  const wantDebug = req.kind === 'debuginfo';
  const rows = results.filter((r) => r.elf.startsWith('/usr/lib/debug/') === wantDebug);
  if (!rows.length) {
    throw new FindError(`${req.buildId}: the index has no ${req.kind} file with this build-id (it has: ${results.map((r) => `${r.rpm}:${r.elf}`).join(', ')})`, 'not-indexed');
  }
  // Files already on this machine first.
  rows.sort((a, b) => Number(b.instance === 'local') - Number(a.instance === 'local'));
  // Hard links give one row per path; any path of the set extracts the same bytes, so each RPM
  // (each set of download URLs) is tried once.
  const seen = new Set<string>();
  return rows.filter((r) => {
    const key = `${r.instance}\0${r.rpm}\0${r.urls.join(' ')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).map((r) => ({ rpm: r.rpm, member: r.elf, urls: r.urls, instance: r.instance, url: r.url }));
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
