// `darkserver query` without oclif. Loading oclif and its command registry costs more than the
// query itself, so bin/darkserver.js and bin/run.js hand `query` here first. This module takes only
// the plain command lines it fully understands and runs the same code as the oclif command
// (runQuery), so the output is the same byte for byte; for anything else (--help, unknown or
// repeated flags, a flag without a value, `--`, debug settings) it returns false and the caller
// runs oclif, which prints the usual help or usage error.
// DARKFORGE_NO_FAST_PATH=1 always takes the oclif path; DARKFORGE_DEBUG_FAST=1 writes a marker
// line on stderr when the fast path answers (for tests).
import type { QueryRequest } from './darkserver-query.js';
import { reportError } from './output.js';

const LABEL = 'darkserver query';
const VALUE_FLAGS = new Set(['db', 'rpm', 'file', 'package', 'elf', 'core'] as const);
type ValueFlag = typeof VALUE_FLAGS extends Set<infer T> ? T : never;

export const FAST_PATH_MARKER = 'darkforge: fast path: darkserver query\n';

/**
 * The request `darkserver query ARGV…` makes, or undefined when oclif must parse it. Accepted:
 * build-id arguments, --json, and --db/--rpm/--file/--package/--elf/--core with a value, as
 * `--flag VALUE` or `--flag=VALUE`, each at most once. A value must be non-empty and must not start
 * with "-" (oclif rejects some of those: leave them all to it).
 */
export function parseQueryArgv(argv: readonly string[]): QueryRequest | undefined {
  const req: QueryRequest = { ids: [] };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      req.ids.push(arg);
      continue;
    }
    const m = /^--([a-z]+)(?:=([^]*))?$/.exec(arg);
    if (!m || seen.has(m[1])) return undefined;
    const name = m[1];
    seen.add(name);
    if (name === 'json' && m[2] === undefined) {
      req.json = true;
      continue;
    }
    if (!VALUE_FLAGS.has(name as ValueFlag)) return undefined;
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '' || value.startsWith('-')) return undefined;
    req[name as ValueFlag] = value;
  }
  return req;
}

/** Answer `darkserver query ARGV…` and return true, or return false having done nothing. */
export async function fastQuery(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  // Debug switches make oclif print more (its DEBUG/CLI_FLAGS_DEBUG logs, DARKFORGE_DEBUG stacks).
  if (env.DARKFORGE_NO_FAST_PATH || env.DARKFORGE_DEBUG || env.DEBUG || env.CLI_FLAGS_DEBUG) return false;
  const req = parseQueryArgv(argv);
  if (!req) return false;
  try {
    process.cwd();
  } catch {
    return false; // oclif warns that the current directory does not exist
  }
  if (env.DARKFORGE_DEBUG_FAST) process.stderr.write(FAST_PATH_MARKER);
  // As oclif does: output cut short by a closed pipe (`| head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const { runQuery } = await import('./darkserver-query.js');
  try {
    await runQuery(req, LABEL);
  } catch (e) {
    if (!reportError(LABEL, e)) throw e;
  }
  return true;
}
