// Bounded memory: the large-file fixture (rpm's stripped 07070X cpio, a 4.1 GiB sparse file
// compressed by zstd into a 140 KB RPM) is streamed through in a child process whose peak RSS
// must stay far below the payload size. A size check, not a timing check.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, ROOT } from './helpers/paths.ts';

test('a payload of 4.4 GB decompressed is scanned in well under 400 MB of memory', () => {
  const script = `
    const { scanRpmFile } = await import(${JSON.stringify(join(ROOT, 'dist/lib/index/scan.js'))});
    const r = await scanRpmFile(${JSON.stringify(join(FIXTURES, 'large', 'df-large-1.0-1.x86_64.rpm'))}, { full: true });
    console.log(JSON.stringify({ rows: r.rows, maxRss: process.resourceUsage().maxRSS * 1024 }));`;
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const out = JSON.parse(p.stdout);
  assert.equal(out.rows.length, 1);
  assert.ok(out.maxRss < 400 * 1024 * 1024, `peak RSS ${(out.maxRss / 1048576).toFixed(0)} MiB`);
});
