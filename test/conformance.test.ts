// Every ELF file with a build-id in GROUND_TRUTH.tsv (made with rpm2cpio | cpio and eu-readelf,
// cross-checked with bsdtar) is found, with the right path, in header-first and in --full mode,
// and the two modes give identical rows — on every RPM of the folder, those without ELF files too.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
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
  const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.rpm'));
  const rpms = [...new Set([...truth.map((t) => t.rpm), ...files])].sort();
  for (const rpm of rpms) {
    if (rpm.endsWith('.src.rpm')) {
      test(`${name}: ${rpm} (source RPM, skipped by both modes)`, async () => {
        for (const full of [false, true]) assert.ok('skipped' in (await scanRpmFile(join(dir, rpm), { full })));
      });
      continue;
    }
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

test('set-id and sticky executables and a setuid DSO: the header accounts for all of them, as the payload does', async () => {
  const r = await scan(FIXTURES, 'df-setid-1.0-1.x86_64.rpm', false);
  assert.equal(r.method, 'header');
  assert.deepEqual(r.rows.map((x) => `${x.path} ${x.type}`), [
    '/usr/bin/df-sgid executable', '/usr/bin/df-sticky executable', '/usr/bin/df-suid executable',
    '/usr/bin/df-suid-sgid executable', '/usr/lib64/libdfsetid.so.1 shared-library', '/usr/sbin/df-sgid-ro executable',
  ]);
});

test('compressed kernel modules: header-first only where rpm linked every one, kernel-module rows under the compressed path', async () => {
  const linked = await scan(FIXTURES, 'df-kmodz-linked-1.0-1.x86_64.rpm', false);
  assert.equal(linked.method, 'header');
  assert.deepEqual(linked.rows.map((x) => `${x.path} ${x.type}`), [
    '/lib/modules/6.1.0-darkforge/extra/dfmodz-linked-gz.ko.gz kernel-module',
    '/lib/modules/6.1.0-darkforge/extra/dfmodz-linked-xz.ko.xz kernel-module',
  ]);
  const mixed = await scan(FIXTURES, 'df-kmodz-1.0-1.x86_64.rpm', false);
  assert.equal(mixed.method, 'payload');
  assert.ok(mixed.rows.every((x) => x.type === 'kernel-module'));
  assert.deepEqual(mixed.rows.map((x) => x.path.replace(/.*\//, '')), ['dfmodz-big.ko.xz', 'dfmodz-gz.ko.gz', 'dfmodz-plain.ko', 'dfmodz-xz.ko.xz', 'dfmodz-zst.ko.zst']);
});
