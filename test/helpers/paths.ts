import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'rpms');
/** Binary RPMs under test/fixtures/rpms (`index` walks it recursively; source RPMs are skipped). */
export const FIXTURE_RPMS = readdirSync(FIXTURES, { recursive: true }).map(String).filter((f) => f.endsWith('.rpm') && !f.endsWith('.src.rpm')).length;
/** Real distribution RPMs beside the checkout (present in CI; absent on a bare clone). */
export const CORPUS = resolve(ROOT, '..', 'shared', 'corpus', 'real-rpms');
export const HAVE_CORPUS = existsSync(join(CORPUS, 'GROUND_TRUTH.tsv'));

export interface TruthRow {
  rpm: string;
  path: string;
  buildId: string | undefined;
  elfType: string;
}

export function readTruth(dir: string): TruthRow[] {
  const text = readFileSync(join(dir, 'GROUND_TRUTH.tsv'), 'utf8');
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.split('\t');
  const at = (name: string): number => cols.indexOf(name);
  return lines.map((l) => l.split('\t')).map((f) => ({
    rpm: f[at('rpm_file')],
    path: f[at('path_in_rpm')],
    buildId: f[at('build_id')] === 'none' ? undefined : f[at('build_id')],
    elfType: f[at('elf_type')],
  }));
}
