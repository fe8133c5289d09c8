// Answers from the index in darkserver's shape, plus the fields darkforge adds.
import { UserError } from '../errors.js';
import { candidateUrls } from '../koji/urls.js';
import type { InstanceRecord, MatchCoordinates, MatchRow, RpmSummary, Store } from '../store/port.js';

export interface QueryResult extends MatchRow {
  /** Download candidates in order of preference. */
  urls: string[];
}

export interface QueryAnswer {
  results: QueryResult[];
  /** Inputs with no answer, each with a sentence saying so. */
  missing: { input: string; message: string }[];
}

const BUILD_ID = /^[0-9a-f]{8,64}$/;

/** Lowercase hex build-id of 8-64 digits, or a usage error naming the input. */
export function parseBuildId(input: string): string {
  const id = input.trim().toLowerCase();
  if (!BUILD_ID.test(id)) throw new UserError(`${input}: not a build-id (expected 8 to 64 hex digits)`);
  return id;
}

/** Split "a,b c" style arguments (darkserver's /buildids/ route took comma lists). */
export function splitIds(args: string[]): string[] {
  return args.flatMap((a) => a.split(/[\s,]+/)).filter((a) => a.length > 0);
}

function downloadUrls(instances: Map<string, InstanceRecord>, r: { instance: string; url: string; arch: string }, c: MatchCoordinates): string[] {
  const inst = instances.get(r.instance);
  if (!inst) return r.url ? [r.url] : [];
  return candidateUrls({ name: c.rpmName, version: c.rpmVersion, release: c.rpmRelease, arch: r.arch }, r.url, inst);
}

/** Rows as printed: the URL coordinates dropped, the download candidates added. */
async function present(store: Store, rows: (MatchRow & MatchCoordinates)[]): Promise<QueryResult[]> {
  // No answer needs no instance (a round trip less for a server's store).
  if (rows.length === 0) return [];
  const instances = await store.instances();
  return rows.map(({ rpmName, rpmVersion, rpmRelease, ...row }) => ({
    ...row, urls: downloadUrls(instances, row, { rpmName, rpmVersion, rpmRelease }),
  }));
}

export async function queryBuildIds(store: Store, inputs: string[]): Promise<QueryAnswer> {
  const ids = splitIds(inputs).map(parseBuildId);
  const answer: QueryAnswer = { results: [], missing: [] };
  const found: (MatchRow & MatchCoordinates)[] = [];
  for (const id of [...new Set(ids)]) {
    const rows = await store.byBuildId(id);
    if (rows.length === 0) answer.missing.push({ input: id, message: `${id}: build-id not found in the index` });
    found.push(...rows);
  }
  answer.results = await present(store, found);
  return answer;
}

export async function queryRpm(store: Store, input: string): Promise<QueryAnswer> {
  const nvra = input.trim().replace(/\.rpm$/, '').replace(/^.*\//, '');
  const rows = await store.byNvra(nvra);
  if (rows.length > 0) return { results: await present(store, rows), missing: [] };
  if (await store.hasNvra(nvra)) return { results: [], missing: [] };
  return { results: [], missing: [{ input, message: `${nvra}: no RPM of that name-version-release.arch in the index` }] };
}

export async function queryFile(store: Store, input: string): Promise<QueryAnswer> {
  const path = input.startsWith('/') ? input : `/${input}`;
  const rows = await store.byPath(path);
  if (rows.length > 0) return { results: await present(store, rows), missing: [] };
  return { results: [], missing: [{ input, message: `${path}: no indexed RPM ships an ELF file at that path` }] };
}

export function formatPlain(r: QueryResult): string {
  return `${r.buildid}\t${r.rpm}\t${r.elf}`;
}

export interface PackageResult extends Omit<RpmSummary, 'name' | 'version' | 'release' | 'nvra'> {
  rpm: string;
  urls: string[];
}

/** RPMs with their download candidates. */
export async function withCandidates(store: Store, rpms: RpmSummary[]): Promise<PackageResult[]> {
  const instances = await store.instances();
  return rpms.map(({ name, version, release, nvra, ...r }) => ({
    rpm: nvra, ...r, urls: downloadUrls(instances, r, { rpmName: name, rpmVersion: version, rpmRelease: release }),
  }));
}

/** Where to download an RPM, by N-V-R.A or package name (darkserver's /package/ route). */
export async function queryPackage(store: Store, input: string): Promise<{ results: PackageResult[]; missing: QueryAnswer['missing'] }> {
  const q = input.trim().replace(/\.rpm$/, '').replace(/^.*\//, '');
  const results = await withCandidates(store, await store.rpmsNamed(q));
  return { results, missing: results.length ? [] : [{ input, message: `${q}: no RPM of that name or N-V-R.A in the index` }] };
}

export interface CoreAnswer {
  module: string;
  start: string;
  end: string;
  buildid: string | null;
  found: boolean;
  matches: QueryResult[];
}

/** Every module mapped in a core dump, each answered from the index. */
/** `file` is a readable core file; `name` says in messages where it came from (default: file). */
export async function queryCore(store: Store, file: string, name = file): Promise<{ modules: CoreAnswer[]; missing: QueryAnswer['missing'] }> {
  // The core dump reader loads only here: `darkserver query BUILDID` starts faster without it.
  const { readCoreModules } = await import('../elf/core.js');
  const modules = await readCoreModules(file, { name });
  const out: CoreAnswer[] = [];
  for (const m of modules) {
    const matches = m.buildId ? await present(store, await store.byBuildId(m.buildId)) : [];
    out.push({ module: m.path, start: m.start, end: m.end, buildid: m.buildId ?? null, found: matches.length > 0, matches });
  }
  // The output already marks each unknown module with "-": one summary sentence is enough.
  const unknown = out.filter((m) => !m.found);
  const missing = unknown.length
    ? [{ input: name, message: `${name}: ${unknown.length} of ${out.length} modules not found in the index (${unknown.map((m) => m.module).join(', ')})` }]
    : [];
  return { modules: out, missing };
}

/** BUILDID<TAB>RPM-NVRA or -<TAB>PATH-IN-RPM or -<TAB>PATH-IN-CORE, one line per match. */
export function formatCoreLines(a: CoreAnswer): string[] {
  const id = a.buildid ?? '-';
  if (!a.matches.length) return [`${id}\t-\t-\t${a.module}`];
  return a.matches.map((r) => `${id}\t${r.rpm}\t${r.elf}\t${a.module}`);
}
