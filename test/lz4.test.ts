// The LZ4 frame decoder (src/lib/compress/lz4.ts) against what the real lz4 CLI writes: every
// block size, linked and independent blocks, uncompressed blocks, block and content checksums,
// content size, the legacy format, concatenated and skippable frames; damaged and truncated
// input; memory that stays flat while gigabytes come out.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeLz4, isLz4, xxh32 } from '../src/lib/compress/lz4.ts';
import { FormatError } from '../src/lib/errors.ts';
import { tempDir } from './helpers/cli.ts';

const dir = tempDir('darkforge-lz4-');

let n = 0;

/** What `lz4 ARGS` writes for a file holding `input` (from a file, so that it knows the content size). */
function lz4(args: string[], input: Buffer): Buffer {
  const src = join(dir, `in-${n++}`);
  writeFileSync(src, input);
  const r = spawnSync('lz4', ['-q', ...args, '-c', src], { maxBuffer: 1 << 30 });
  assert.equal(r.error, undefined, 'the lz4 command line tool is needed (apt-get install lz4)');
  assert.equal(r.status, 0, `lz4 ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Feed `data` in pieces of `piece` bytes, as a pipe or a file stream would. */
async function* pieces(data: Buffer, piece: number): AsyncGenerator<Buffer> {
  for (let o = 0; o < data.length; o += piece) yield data.subarray(o, o + piece);
}

async function decode(data: Buffer, piece = 7777): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of decodeLz4(pieces(data, piece))) out.push(b);
  return Buffer.concat(out);
}

async function fails(data: Buffer, why: RegExp): Promise<void> {
  await assert.rejects(decode(data), (e: unknown) => {
    assert.ok(e instanceof FormatError, `a FormatError, not ${String(e)}`);
    assert.match(e.message, why);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

/** What a core looks like to a compressor: runs of zeros, code-like repeats, random bytes. */
function mixed(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < 6; i++) {
    parts.push(Buffer.alloc(70_000 + i * 1000));
    parts.push(Buffer.from(`push %rbp; mov %rsp,%rbp; call dfcore_answer_${i}\n`.repeat(3000)));
    parts.push(randomBytes(300_000)); // incompressible: lz4 stores such blocks uncompressed
  }
  return Buffer.concat(parts);
}

/** Block headers of a (non-legacy) frame, walked independently of the decoder: sizes and stored flags. */
function blocksOf(frame: Buffer): { size: number; stored: boolean }[] {
  const flg = frame[4];
  let o = 4 + 2 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
  const out: { size: number; stored: boolean }[] = [];
  for (;;) {
    const w = frame.readUInt32LE(o);
    o += 4;
    if (w === 0) return out;
    out.push({ size: w & 0x7fffffff, stored: (w & 0x80000000) !== 0 });
    o += (w & 0x7fffffff) + (flg & 0x10 ? 4 : 0);
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('xxHash32 of known inputs', () => {
  assert.equal(xxh32(Buffer.alloc(0)), 0x02cc5d05);
  assert.equal(xxh32(Buffer.from('a')), 0x550d7456);
  assert.equal(xxh32(Buffer.from('abc')), 0x32d153ff);
  assert.equal(xxh32(Buffer.from('Nobody inspects the spammish repetition')), 0xe2293b2f);
});

test('every frame option the lz4 CLI writes decodes to the original bytes', async () => {
  const data = mixed();
  const variants: { args: string[]; linked?: boolean; checks?: boolean; blockMax: number }[] = [
    { args: ['-1'], blockMax: 4 << 20 },
    { args: ['-B4'], blockMax: 64 << 10 },
    { args: ['-B4', '-BD'], linked: true, blockMax: 64 << 10 },
    { args: ['-B5', '-BD', '-BX'], linked: true, checks: true, blockMax: 256 << 10 },
    { args: ['-B6', '-BX', '--content-size'], checks: true, blockMax: 1 << 20 },
    { args: ['-B7', '--no-frame-crc'], blockMax: 4 << 20 },
    { args: ['-9', '-B4', '-BD', '-BX', '--content-size'], linked: true, checks: true, blockMax: 64 << 10 },
    { args: ['-12', '--favor-decSpeed', '-B5'], blockMax: 256 << 10 },
  ];
  for (const v of variants) {
    const frame = lz4(v.args, data);
    assert.ok(isLz4(frame));
    assert.equal(frame[4] & 0x20 ? 'independent' : 'linked', v.linked ? 'linked' : 'independent', v.args.join(' '));
    if (v.checks) assert.ok(frame[4] & 0x10, 'block checksums on');
    assert.equal(Boolean(frame[4] & 0x08), v.args.includes('--content-size'), 'content size in the header');
    const blocks = blocksOf(frame);
    if (v.blockMax < data.length) assert.ok(blocks.length > 1, `${v.args.join(' ')}: several blocks`);
    if (v.blockMax <= 256 << 10) assert.ok(blocks.some((b) => b.stored), `${v.args.join(' ')}: some blocks stored uncompressed`);
    const out = await decode(frame);
    assert.equal(out.length, data.length, v.args.join(' '));
    assert.equal(sha(out), sha(data), v.args.join(' '));
  }
});

test('tiny input pieces, an empty frame, a one-byte frame', async () => {
  const small = Buffer.from('hello hello hello hello hello hello hello hello\n');
  assert.deepEqual(await decode(lz4(['-B4', '-BD', '-BX'], small), 1), small);
  assert.deepEqual(await decode(lz4([], Buffer.alloc(0))), Buffer.alloc(0));
  assert.deepEqual(await decode(lz4([], Buffer.from('x')), 3), Buffer.from('x'));
});

test('the legacy format (lz4 -l), concatenated frames and a skippable frame between them', async () => {
  const a = mixed();
  const b = Buffer.from('second part\n'.repeat(50_000));
  const legacy = lz4(['-l'], a);
  assert.equal(legacy.readUInt32LE(0), 0x184c2102);
  assert.equal(sha(await decode(legacy)), sha(a));
  const skippable = Buffer.alloc(8 + 100, 0xee);
  skippable.writeUInt32LE(0x184d2a5f, 0);
  skippable.writeUInt32LE(100, 4);
  const all = Buffer.concat([lz4(['-B4', '-BD'], a), skippable, lz4(['-BX'], b), lz4(['-l'], b), lz4(['-l'], a)]);
  writeFileSync(join(dir, 'cat.lz4'), all);
  const cli = spawnSync('lz4', ['-dc', join(dir, 'cat.lz4')], { maxBuffer: 1 << 30 });
  assert.equal(cli.status, 0, String(cli.stderr));
  const out = await decode(all);
  assert.equal(sha(out), sha(Buffer.concat([a, b, b, a])));
  assert.equal(sha(out), sha(cli.stdout), 'the same bytes as lz4 -d');
});

test('damaged and truncated input is a FormatError with one phrase', async () => {
  const data = mixed();
  const checked = lz4(['-B4', '-BD', '-BX', '--content-size'], data);
  const plain = lz4(['-B4'], data);
  await fails(Buffer.alloc(0), /empty input/);
  await fails(Buffer.from('not lz4 at all'), /does not start with an LZ4 frame \(magic 0x/);
  await fails(checked.subarray(0, 5), /frame header is cut off/);
  await fails(checked.subarray(0, 30_000), /ends inside a block/);
  await fails(checked.subarray(0, checked.length - 8), /ends inside a frame|content checksum is cut off/);
  await fails(checked.subarray(0, checked.length - 2), /content checksum is cut off/);
  await fails(Buffer.concat([plain, Buffer.from('trailing junk')]), /data after the last frame/);

  const header = Buffer.from(checked); header[5] ^= 0x10; // BD: another block size, the header checksum no longer matches
  await fails(header, /frame header checksum does not match/);
  const block = Buffer.from(checked); block[40_000] ^= 0xff;
  await fails(block, /block checksum does not match/);
  // Without block checksums a changed byte shows as a bad sequence or in the content checksum.
  const content = Buffer.from(plain); content[content.length - 20] ^= 0x01;
  await fails(content, /content checksum does not match|match refers|past the end|ends before/);

  // A frame header claiming another content size (its header checksum recomputed).
  const sized = Buffer.from(checked);
  assert.ok(sized[4] & 0x08, 'the frame has a content size');
  sized.writeBigUInt64LE(BigInt(data.length + 1), 6);
  sized[14] = (xxh32(sized.subarray(4, 14)) >>> 8) & 0xff;
  await fails(sized, new RegExp(`holds ${data.length} bytes, its header says ${data.length + 1}`));
  // A dictionary id.
  const dict = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x61, 0x40, 1, 2, 3, 4, 0]);
  dict[10] = (xxh32(dict.subarray(4, 10)) >>> 8) & 0xff;
  await fails(dict, /needs a dictionary/);
  // A block whose match reaches before the start of the data.
  const evil = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0, 6, 0, 0, 0, 0x10, 0x41, 0xff, 0xff, 0x00, 0, 0, 0, 0]);
  evil[6] = (xxh32(evil.subarray(4, 6)) >>> 8) & 0xff;
  evil.writeUInt32LE(5, 7); evil.writeUInt32LE(0, 16);
  await fails(evil, /refers 65535 bytes back/);
  // A block larger than the frame's maximum.
  const big = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0, 0, 0, 0x02, 0x00]);
  big[6] = (xxh32(big.subarray(4, 6)) >>> 8) & 0xff;
  await fails(Buffer.concat([big, Buffer.alloc(10)]), /exceeds the frame's 65536-byte maximum/);
});

test('memory stays flat while 1 GiB of zeros comes out of 4 MiB linked blocks', { timeout: 180_000 }, async () => {
  const file = join(dir, 'zeros.lz4');
  const r = spawnSync('sh', ['-c', `head -c ${1 << 30} /dev/zero | lz4 -q -B7 -BD -c > "${file}"`]);
  assert.equal(r.status, 0, String(r.stderr));
  const frame = readFileSync(file);
  assert.ok(frame.length < 8 << 20, `small input (${frame.length} bytes)`);
  const rss = process.memoryUsage().rss;
  let peak = 0;
  let total = 0;
  for await (const b of decodeLz4(pieces(frame, 64 * 1024))) {
    total += b.length;
    peak = Math.max(peak, process.memoryUsage().rss - rss);
  }
  assert.equal(total, 1 << 30);
  assert.ok(peak < 96 << 20, `peak growth ${peak >> 20} MiB`);
});
