// `darkserver query` and `darkserver index` without oclif. Loading oclif and its command registry
// costs more than a query, or than indexing a folder of RPMs from their headers, so bin/darkserver.js
// and bin/run.js hand these two commands here first. This module takes only the plain command lines
// it fully understands and runs the same code as the oclif commands (runQuery, runIndex), so the
// output is the same byte for byte; for anything else (--help, unknown or repeated flags, a flag
// without a value, short flags, `--`, debug settings) it returns false and the caller runs oclif,
// which prints the usual help or usage error.
// DARKFORGE_NO_FAST_PATH=1 always takes the oclif path; DARKFORGE_DEBUG_FAST=1 writes a marker
// line on stderr when the fast path answers (for tests).
import type { IndexRequest } from './darkserver-index.js';
import type { QueryRequest } from './darkserver-query.js';
import { disableColour, prepareColour, reportError, wantsNoColour } from './output.js';

export type FastCommand = 'query' | 'index';

export const fastPathMarker = (command: FastCommand): string => `darkforge: fast path: darkserver ${command}\n`;
export const FAST_PATH_MARKER = fastPathMarker('query');

interface FlagSpec {
  /** Flags that take a value. */
  values: ReadonlySet<string>;
  /** Value flags that must be an integer in [min, max] (oclif's range message otherwise). */
  integers?: Readonly<Record<string, readonly [number, number]>>;
  /** Boolean flags. */
  booleans: ReadonlySet<string>;
  /** Value flags that take "-" (standard input) as their value. */
  dash?: ReadonlySet<string>;
}

interface ParsedArgv {
  positional: string[];
  values: Record<string, string>;
  booleans: Set<string>;
}

/**
 * Long flags as `--flag VALUE` or `--flag=VALUE` (each at most once) and positional arguments, or
 * undefined when oclif must parse the line. A value must be non-empty and must not start with "-"
 * (oclif rejects some of those: leave them all to it).
 */
function parseArgv(argv: readonly string[], spec: FlagSpec): ParsedArgv | undefined {
  const out: ParsedArgv = { positional: [], values: {}, booleans: new Set() };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      out.positional.push(arg);
      continue;
    }
    const m = /^--([a-z][a-z-]*)(?:=([^]*))?$/.exec(arg);
    if (!m || seen.has(m[1])) return undefined;
    const name = m[1];
    seen.add(name);
    if (spec.booleans.has(name) && m[2] === undefined) {
      out.booleans.add(name);
      continue;
    }
    if (!spec.values.has(name)) return undefined;
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '' || (value.startsWith('-') && !(value === '-' && spec.dash?.has(name)))) return undefined;
    const range = spec.integers?.[name];
    if (range && !(/^\d{1,6}$/.test(value) && Number(value) >= range[0] && Number(value) <= range[1])) return undefined;
    out.values[name] = value;
  }
  return out;
}

const QUERY_SPEC: FlagSpec = { values: new Set(['db', 'rpm', 'file', 'package', 'elf', 'core']), booleans: new Set(['json', 'no-color']), dash: new Set(['core']) };
const INDEX_SPEC: FlagSpec = { values: new Set(['db', 'jobs']), integers: { jobs: [1, 64] }, booleans: new Set(['json', 'full', 'no-color']) };

/** The request `darkserver query ARGV…` makes, or undefined when oclif must parse it. */
export function parseQueryArgv(argv: readonly string[]): QueryRequest | undefined {
  const p = parseArgv(argv, QUERY_SPEC);
  if (!p) return undefined;
  const req: QueryRequest = { ids: p.positional, ...p.values };
  if (p.booleans.has('json')) req.json = true;
  return req;
}

/** The request `darkserver index ARGV…` makes, or undefined when oclif must parse it. */
export function parseIndexArgv(argv: readonly string[]): IndexRequest | undefined {
  const p = parseArgv(argv, INDEX_SPEC);
  if (!p || p.positional.length === 0) return undefined; // oclif says PATH is missing
  const req: IndexRequest = { paths: p.positional, db: p.values.db };
  if (p.values.jobs) req.jobs = Number(p.values.jobs);
  if (p.booleans.has('json')) req.json = true;
  if (p.booleans.has('full')) req.full = true;
  return req;
}

/** Answer `darkserver COMMAND ARGV…` and return true, or return false having done nothing. */
export async function fastRun(command: string | undefined, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (command !== 'query' && command !== 'index') return false;
  // Debug switches make oclif print more (its DEBUG/CLI_FLAGS_DEBUG logs, DARKFORGE_DEBUG stacks).
  if (env.DARKFORGE_NO_FAST_PATH || env.DARKFORGE_DEBUG || env.DEBUG || env.CLI_FLAGS_DEBUG) return false;
  const req = command === 'query' ? parseQueryArgv(argv) : parseIndexArgv(argv);
  if (!req) return false;
  try {
    process.cwd();
  } catch {
    return false; // oclif warns that the current directory does not exist
  }
  if (wantsNoColour(argv)) disableColour();
  await prepareColour(env);
  if (env.DARKFORGE_DEBUG_FAST) process.stderr.write(fastPathMarker(command));
  // As oclif does: output cut short by a closed pipe (`| head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const label = `darkserver ${command}`;
  try {
    if (command === 'query') await (await import('./darkserver-query.js')).runQuery(req as QueryRequest, label);
    else await (await import('./darkserver-index.js')).runIndex(req as IndexRequest, label);
  } catch (e) {
    if (!reportError(label, e)) throw e;
  }
  return true;
}
