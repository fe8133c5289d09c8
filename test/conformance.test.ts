// Every ELF file with a build-id in GROUND_TRUTH.tsv (made with rpm2cpio | cpio and eu-readelf,
// cross-checked with bsdtar) is found, with the right path, in header-first and in --full mode,
// and the two modes give identical rows.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { scanRpmFile, RpmScan } from '../src/lib/index/scan.ts';
import { CORPUS, FIXTURES, HAVE_CORPUS, readTruth } from './helpers/paths.ts';

async function scan(dir: string, rpm: string, full: boolean): Promise<RpmScan> {
  const r = await scanRpmFile(join(dir, rpm), { full });
  assert.ok(!('skipped' in r), `${rpm} was skipped`);
  return r as RpmScan;
}

function checkSet(name: string, dir: string): void {
  const truth = readTruth(dir);
  const rpms = [...new Set(truth.map((t) => t.rpm))].sort();
  for (const rpm of rpms) {
    test(`${name}: ${rpm}`, async () => {
      const expected = truth.filter((t) => t.rpm === rpm);
      const withId = expected.filter((t) => t.buildId).map((t) => `${t.path} ${t.buildId}`).sort();
      const auto = await scan(dir, rpm, false);
      const full = await scan(dir, rpm, true);
      assert.equal(full.method, 'payload');
      assert.deepEqual(full.rows.map((r) => `${r.path} ${r.buildId}`).sort(), withId, 'payload scan');
      assert.deepEqual(auto.rows, full.rows, `header-first (${auto.method}) and --full differ`);
      assert.equal(full.elfFiles, expected.length, 'ELF files counted');
      assert.equal(full.elfWithoutBuildId, expected.filter((t) => !t.buildId).length, 'ELF files without build-id');
      for (const t of expected.filter((e) => e.buildId)) {
        const row = full.rows.find((r) => r.path === t.path)!;
        if (t.elfType === 'REL') assert.match(row.type, /relocatable|kernel-module|debuginfo/);
        else assert.match(row.type, /executable|shared-library|debuginfo/);
      }
    });
  }
}

checkSet('fixtures', FIXTURES);
if (HAVE_CORPUS) checkSet('corpus', CORPUS);
else test('corpus: ../shared/corpus/real-rpms is absent on this machine', { skip: 'no corpus beside the checkout' }, () => {});

test('header-first reads only the front of RPMs whose header accounts for every ELF file', async () => {
  const r = await scan(FIXTURES, 'df-debug-1.0-1.x86_64.rpm', false);
  assert.equal(r.method, 'header');
  assert.ok(r.bytesRead < (r.size ?? 0), `read ${r.bytesRead} of ${r.size}`);
});

test('an ELF file without a build-id cannot be accounted for by the header: the payload is read', async () => {
  const r = await scan(FIXTURES, 'df-hardlink-1.0-1.x86_64.rpm', false);
  assert.equal(r.method, 'payload');
  assert.match(r.headerReason!, /no build-id for \/usr\/bin\/df-noid in the header/);
  assert.equal(r.elfWithoutBuildId, 1);
});
