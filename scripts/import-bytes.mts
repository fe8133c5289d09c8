// How many bytes `darkserver import` fetches, header-first and with --full, for groups of RPMs
// served by the test suite's fake Koji hub (127.0.0.1). Run: npx tsx scripts/import-bytes.mts
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildsFromRpmDir, startFakeKoji } from '../test/helpers/fake-koji.ts';
import { CORPUS, FIXTURES, ROOT } from '../test/helpers/paths.ts';

const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [])
  .filter((f) => f.endsWith('.rpm') && !f.endsWith('.src.rpm')).map((f) => join(dir, f));
const fixtures = list(FIXTURES);
const linked = ['df-kmod', 'df-seekable', 'df-cross-debuginfo', 'df-large'];
const groups: Record<string, string[]> = {
  'fixtures whose ELF files all have build-id links': fixtures.filter((f) => linked.some((n) => f.includes(`/${n}-1.0-1.`))),
  'fixtures without links for every ELF file': fixtures.filter((f) => !linked.some((n) => f.includes(`/${n}-1.0-1.`))),
  'corpus (rhel6/7 apart: they reuse fedora30 NVRs)': list(CORPUS).filter((f) => !/rhel[67]/.test(f)),
  'corpus rhel6/rhel7': list(CORPUS).filter((f) => /rhel[67]/.test(f)),
};
for (const [name, files] of Object.entries(groups)) {
  if (!files.length) continue;
  for (const full of [false, true]) {
    const builds = buildsFromRpmDir(files);
    const hub = await startFakeKoji({ builds });
    const db = join(mkdtempSync(join(tmpdir(), 'import-bytes-')), 'i.sqlite');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'darkserver.js'), 'import', '--hub', hub.hub, '--topurl', hub.topurl,
      '--db', db, ...(full ? ['--full'] : []), ...builds.map((b) => String(b.id))], { encoding: 'utf8' });
    const total = files.reduce((n, f) => n + statSync(f).size, 0);
    const served = hub.bytesServed();
    console.log(`${name}${full ? ' (--full)' : ''}: ${files.length} RPMs, fetched ${served} of ${total} bytes `
      + `(${((100 * served) / total).toFixed(1)}%) in ${Date.now() - t0} ms, exit ${r.status}`);
    await hub.stop();
  }
}
