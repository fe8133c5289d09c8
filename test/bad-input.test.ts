// Damaged, truncated, empty and foreign files: one line on stderr naming the file and the
// fault, no rows from it, the good files still indexed, exit 1.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES } from './helpers/paths.ts';
import { run, tempDir } from './helpers/cli.ts';

const GOOD = 'df-debug-1.0-1.x86_64.rpm';
const SOURCE = join(FIXTURES, 'df-debug-debuginfo-1.0-1.x86_64.rpm');

/** Offsets in an RPM: end of the signature header and of the main header. */
function layout(b: Buffer): { headerStart: number; payloadStart: number } {
  const sigBody = b.readUInt32BE(96 + 8) * 16 + b.readUInt32BE(96 + 12);
  const headerStart = 96 + 16 + sigBody + ((8 - (sigBody % 8)) % 8);
  const payloadStart = headerStart + 16 + b.readUInt32BE(headerStart + 8) * 16 + b.readUInt32BE(headerStart + 12);
  return { headerStart, payloadStart };
}

function makeBadSet(): { dir: string; bad: Record<string, RegExp> } {
  const dir = tempDir();
  copyFileSync(join(FIXTURES, GOOD), join(dir, GOOD));
  const src = readFileSync(SOURCE);
  const { headerStart, payloadStart } = layout(src);
  const bad: Record<string, RegExp> = {};
  const put = (name: string, data: Buffer, why: RegExp): void => { writeFileSync(join(dir, name), data); bad[name] = why; };

  put('empty.rpm', Buffer.alloc(0), /empty file/);
  put('text.rpm', Buffer.from('this is not an rpm\n'.repeat(20)), /not an RPM file/);
  put('truncated-payload.rpm', src.subarray(0, src.length - 1000), new RegExp(`payload ends at byte ${src.length - 1000}, header says ${src.length}`));
  put('truncated-header.rpm', src.subarray(0, headerStart + 40), /file ends at byte \d+ inside the main header/);
  const absurd = Buffer.from(src); absurd.writeUInt32BE(0x7fffffff, headerStart + 8);
  put('absurd-count.rpm', absurd, /main header claims 2147483647 tags/);
  const hugeData = Buffer.from(src); hugeData.writeUInt32BE(0xffffff00, 96 + 12);
  put('absurd-size.rpm', hugeData, /signature header claims \d+ bytes of data/);
  const hdrFlip = Buffer.from(src); hdrFlip[payloadStart - 20] ^= 0x55;
  put('header-flip.rpm', hdrFlip, /does not match its SHA256 digest|damaged/);
  const payFlip = Buffer.from(src); payFlip[payloadStart + Math.floor((src.length - payloadStart) / 2)] ^= 0x55;
  put('payload-flip.rpm', payFlip, /payload does not decompress|MD5 digest|damaged|payload ends|cpio/);
  return { dir, bad };
}

test('bad files are reported one line each, the good one is indexed, exit 1', () => {
  const { dir, bad } = makeBadSet();
  const db = join(tempDir(), 'i.sqlite');
  const r = run('darkserver', ['index', '--full', '--db', db, dir]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, Object.keys(bad).length, r.stderr);
  for (const [name, why] of Object.entries(bad)) {
    const line = lines.find((l) => l.includes(`${name}:`));
    assert.ok(line, `no line for ${name}: ${r.stderr}`);
    assert.match(line!, why, line);
  }
  assert.doesNotMatch(r.stderr, /\bat .*\.[jt]s:\d+|internal error/);
  assert.match(r.stdout, /^indexed 1 RPM .*; 8 failed$/m);
  const stats = JSON.parse(run('darkserver', ['stats', '--json', '--db', db]).stdout);
  assert.equal(stats.rpms, 1);
  const rows = run('darkserver', ['query', '--db', db, '--rpm', 'df-debug-debuginfo-1.0-1.x86_64']);
  assert.equal(rows.code, 1, 'nothing of the damaged debuginfo package reached the index');
});

test('header-first mode rejects the same damage', () => {
  const { dir, bad } = makeBadSet();
  const db = join(tempDir(), 'i.sqlite');
  const r = run('darkserver', ['index', '--db', db, dir]);
  assert.equal(r.code, 1);
  // A flipped payload byte is invisible to a header-only scan; everything else is caught.
  for (const name of Object.keys(bad).filter((n) => n !== 'payload-flip.rpm')) assert.ok(r.stderr.includes(`${name}:`), name);
});

test('a path that does not exist is named and the rest still runs', () => {
  const db = join(tempDir(), 'i.sqlite');
  const r = run('darkserver', ['index', '--db', db, '/no/such/dir', join(FIXTURES, GOOD)]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'darkserver index: /no/such/dir: no such file or directory\n');
  assert.match(r.stdout, /^indexed 1 RPM/);
});
