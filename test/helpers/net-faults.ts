// Shared by the network fault tests (test/faults-net.test.ts in process, soak/net-faults.test.ts
// through the commands): the fixture builds on the fake hub, the ground truth they must yield,
// and the checks of the index rows and of stderr.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Run } from './cli.ts';
import { buildsFromRpmDir, type FakeBuildSpec } from './fake-koji.ts';
import { FIXTURES, readTruth } from './paths.ts';

/** Retries back off for milliseconds, not seconds, and give up after half a second. */
export const FAST = { DARKFORGE_BACKOFF_MS: '5', DARKFORGE_RETRY_TIME: '0.5' };

const fixtureFiles = readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm')).map((f) => join(FIXTURES, f));
export const allBuilds = buildsFromRpmDir(fixtureFiles, { firstId: 1000 });
export const build = (nvr: string): FakeBuildSpec => allBuilds.find((b) => b.nvr === nvr)!;
/** Its payload is always streamed (an ELF file without a build-id): the faults hit the payload. */
export const STREAMED = build('df-hardlink-1.0-1');
export const STREAMED_RPM = 'df-hardlink-1.0-1.x86_64';
/** Answered from the header alone. */
export const HEADER_ONLY = build('df-kmod-1.0-1');
export const HEADER_RPM = 'df-kmod-1.0-1.x86_64';
export const truth = readTruth(FIXTURES);
/** Ground truth (eu-readelf, committed with the fixtures): the build-ids an RPM must yield. */
export const truthIds = (nvra: string): string[] => truth.filter((t) => t.rpm === `${nvra}.rpm` && t.buildId).map((t) => t.buildId!).sort();

/** Build-id rows of one RPM, read straight from the SQLite file. */
export function indexedIds(db: string, nvra: string): string[] {
  if (!existsSync(db)) return [];
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const rpms = d.prepare('SELECT id FROM rpms WHERE nvra = ?').all(nvra) as { id: number }[];
    if (!rpms.length) return [];
    assert.equal(rpms.length, 1, `${nvra} indexed once`);
    return (d.prepare('SELECT lower(hex(buildid)) AS id FROM files WHERE rpm_id = ?').all(rpms[0].id) as { id: string }[]).map((r) => r.id).sort();
  } finally {
    d.close();
  }
}

export function assertIndexed(db: string, nvra: string): void {
  const want = truthIds(nvra);
  assert.ok(want.length > 0);
  assert.deepEqual(indexedIds(db, nvra), want, `${nvra}: the ground-truth build-ids`);
}

export function assertNotIndexed(db: string, nvra: string): void {
  assert.deepEqual(indexedIds(db, nvra), [], `no rows for ${nvra}`);
}

/** Node's own warning about the variable, printed by Node whatever darkforge does with it. */
const NODE_TLS_WARNING = /^\(node:\d+\) Warning: Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable .*\n(\(Use `node --trace-warnings .*\n)?/m;

/** stderr lines, each "darkserver CMD: sentence", none of them a stack frame. */
export function errorLines(r: Run, cmd: 'import' | 'find'): string[] {
  const stderr = r.stderr.replace(NODE_TLS_WARNING, '');
  assert.doesNotMatch(stderr, /^\s+at |internal error|\n\s*\n/m, 'no stack trace');
  const lines = stderr.split('\n').filter(Boolean);
  for (const l of lines) assert.match(l, new RegExp(`^darkserver ${cmd}: \\S`), l);
  return lines;
}
