// Scan threads (built code in dist/, as the CLI runs it): the same answer as a scan in this
// thread for every fixture, and a failure keeps its kind and words.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, ROOT } from './helpers/paths.ts';
import { tempDir } from './helpers/cli.ts';

const DIST = join(ROOT, 'dist', 'lib', 'index');
const built = existsSync(join(DIST, 'scan-pool.js'));

test('a pool of two threads gives the rows of an in-thread scan', { skip: !built && 'dist/ not built' }, async () => {
  const { ScanPool } = await import(join(DIST, 'scan-pool.js'));
  const { scanRpmFile } = await import(join(DIST, 'scan.js'));
  const { readdirSync } = await import('node:fs');
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm') && !f.includes('.src.')).map((f) => join(FIXTURES, f));
  const pool = new ScanPool(2);
  try {
    const there = await Promise.all(files.map((f) => pool.run(f)));
    for (const [i, f] of files.entries()) {
      assert.ok(there[i], `${f} was not scanned on a thread`);
      const here = await scanRpmFile(f, { full: true });
      assert.deepEqual(there[i], here, f);
    }
  } finally {
    await pool.close();
  }
});

test('errors from a thread keep their kind: format errors and file-system errors', { skip: !built && 'dist/ not built' }, async () => {
  const { ScanPool } = await import(join(DIST, 'scan-pool.js'));
  const { FormatError } = await import(join(ROOT, 'dist', 'lib', 'errors.js'));
  const dir = tempDir();
  writeFileSync(join(dir, 'text.rpm'), 'not an rpm\n'.repeat(20));
  const pool = new ScanPool(1);
  try {
    await assert.rejects(pool.run(join(dir, 'text.rpm')), (e: Error) => e instanceof FormatError && /not an RPM file/.test(e.message));
    await assert.rejects(pool.run(join(dir, 'missing.rpm')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.ok(await pool.run(join(FIXTURES, 'df-kmod-1.0-1.x86_64.rpm')), 'the thread still works after errors');
  } finally {
    await pool.close();
  }
});
