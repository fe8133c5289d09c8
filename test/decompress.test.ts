// Payload decoders: the system's zstd, xz and bzip2 (fast paths) and the npm decoders (fallback)
// give the same bytes for every xz, lzma and bzip2 payload of the fixtures and the corpus; damaged
// data is a FormatError either way; a consumer that stops early leaves no decoder process behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodePayload, decodePayloadInto, externalDecoder } from '../src/lib/compress/decompress.ts';
import { FormatError } from '../src/lib/errors.ts';
import { describeRpm } from '../src/lib/rpm/package.ts';
import { readRpmHeaders } from '../src/lib/rpm/reader.ts';
import { FileSource } from '../src/lib/rpm/source.ts';
import { CORPUS, FIXTURES, HAVE_CORPUS } from './helpers/paths.ts';

function rpmsUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.rpm')).map((f) => join(dir, f))
    .filter((f) => statSync(f).size < 1 << 20 && !f.includes('df-large'));
}

async function payloadOf(file: string): Promise<{ data: Buffer; compressor: string }> {
  const src = await FileSource.open(file);
  try {
    const info = describeRpm(await readRpmHeaders(src));
    const parts: Buffer[] = [];
    for await (const c of src.rest()) parts.push(c as Buffer);
    return { data: Buffer.concat(parts), compressor: info.payloadCompressor };
  } finally {
    await src.close();
  }
}

/** tools: the system decoders allowed ("0": none, the npm decoders). */
async function digestOf(data: Buffer, compressor: string, tools: string): Promise<string> {
  const saved = process.env.DARKFORGE_EXTERNAL_DECODERS;
  process.env.DARKFORGE_EXTERNAL_DECODERS = tools;
  try {
    const h = createHash('sha256');
    let n = 0;
    await decodePayloadInto((async function* () { yield data; })(), compressor, (c) => { h.update(c); n += c.length; });
    return `${n} ${h.digest('hex')}`;
  } finally {
    if (saved === undefined) delete process.env.DARKFORGE_EXTERNAL_DECODERS; else process.env.DARKFORGE_EXTERNAL_DECODERS = saved;
  }
}

function toolFor(kind: string, tools: string): string | undefined {
  const saved = process.env.DARKFORGE_EXTERNAL_DECODERS;
  process.env.DARKFORGE_EXTERNAL_DECODERS = tools;
  try {
    return externalDecoder(kind)?.file;
  } finally {
    if (saved === undefined) delete process.env.DARKFORGE_EXTERNAL_DECODERS; else process.env.DARKFORGE_EXTERNAL_DECODERS = saved;
  }
}

/** The system decoders present here, each alone: zstd (if built with liblzma), xz + bzip2. */
const TOOLSETS = ['zstd', 'xz,bzip2'].filter((t) => toolFor('xz', t));

test('each system decoder and the npm decoders give identical payloads', { skip: !TOOLSETS.length && 'no zstd or xz on PATH' }, async () => {
  const files = [...rpmsUnder(FIXTURES), ...(HAVE_CORPUS ? rpmsUnder(CORPUS) : [])];
  let compared = 0;
  for (const f of files) {
    const { data, compressor } = await payloadOf(f);
    if (!['xz', 'lzma', 'bzip2'].includes(compressor)) continue;
    const want = await digestOf(data, compressor, '0');
    for (const tools of TOOLSETS) {
      if (!toolFor(compressor, tools)) continue;
      assert.equal(await digestOf(data, compressor, tools), want, `${f} through ${toolFor(compressor, tools)}`);
      compared++;
    }
  }
  assert.ok(compared >= 5, `only ${compared} payloads compared`);
});

test('a damaged or truncated xz payload is a FormatError that says so, from every decoder', async () => {
  const { data } = await payloadOf(join(FIXTURES, 'df-seekable-1.0-1.x86_64.rpm'));
  const bad = Buffer.from(data);
  bad[Math.floor(bad.length / 2)] ^= 0x55;
  for (const tools of [...TOOLSETS, '0']) {
    await assert.rejects(digestOf(bad, 'xz', tools), (e: Error) =>
      e instanceof FormatError && /^payload does not decompress as xz \((.*corrupt.*|.*data error.*)\)$/i.test(e.message), `damaged, tools=${tools}`);
    await assert.rejects(digestOf(data.subarray(0, data.length - 100), 'xz', tools), (e: Error) =>
      e instanceof FormatError && /^payload does not decompress as xz \(.+\)$/.test(e.message), `truncated, tools=${tools}`);
  }
});

test('an error thrown by the consumer comes out as it is, not as a decoder error', async () => {
  const { data, compressor } = await payloadOf(join(FIXTURES, 'df-seekable-1.0-1.x86_64.rpm'));
  const mine = new FormatError('cpio says no');
  await assert.rejects(decodePayloadInto((async function* () { yield data; })(), compressor, () => { throw mine; }), (e) => e === mine);
});

test('stopping early ends the decoder process', { skip: !TOOLSETS.length && 'no zstd or xz on PATH' }, async () => {
  const { data, compressor } = await payloadOf(join(FIXTURES, 'df-seekable-1.0-1.x86_64.rpm'));
  for await (const c of decodePayload((async function* () { yield data; })(), compressor)) {
    assert.ok(c.length > 0);
    break;
  }
  const children = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'comm='], { encoding: 'utf8' });
  assert.doesNotMatch(children, /\b(xz|zstd)\b/);
});
