// Answers from the index in darkserver's shape, plus the fields darkforge adds.
import { UserError } from '../errors.js';
import { MatchRow, Store } from './store.js';

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

export function withUrls(row: MatchRow): QueryResult {
  return { ...row, urls: row.url ? [row.url] : [] };
}

export function queryBuildIds(store: Store, inputs: string[]): QueryAnswer {
  const ids = splitIds(inputs).map(parseBuildId);
  const answer: QueryAnswer = { results: [], missing: [] };
  for (const id of [...new Set(ids)]) {
    // Build-ids are whole bytes: an odd number of digits can match nothing.
    const rows = id.length % 2 === 0 ? store.byBuildId(id) : [];
    if (rows.length === 0) answer.missing.push({ input: id, message: `${id}: build-id not found in the index` });
    answer.results.push(...rows.map(withUrls));
  }
  return answer;
}

export function queryRpm(store: Store, input: string): QueryAnswer {
  const nvra = input.trim().replace(/\.rpm$/, '').replace(/^.*\//, '');
  const rows = store.byNvra(nvra);
  if (rows.length > 0) return { results: rows.map(withUrls), missing: [] };
  if (store.hasNvra(nvra)) return { results: [], missing: [] };
  return { results: [], missing: [{ input, message: `${nvra}: no RPM of that name-version-release.arch in the index` }] };
}

export function queryFile(store: Store, input: string): QueryAnswer {
  const path = input.startsWith('/') ? input : `/${input}`;
  const rows = store.byPath(path);
  if (rows.length > 0) return { results: rows.map(withUrls), missing: [] };
  return { results: [], missing: [{ input, message: `${path}: no indexed RPM ships an ELF file at that path` }] };
}

export function formatPlain(r: QueryResult): string {
  return `${r.buildid}\t${r.rpm}\t${r.elf}`;
}
