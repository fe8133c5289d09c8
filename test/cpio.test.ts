import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { ChunkReader, CpioArchive, CpioOptions, CpioParser } from '../src/lib/cpio/reader.ts';
import { FormatError } from '../src/lib/errors.ts';
import { newc, stripped } from './helpers/cpio.ts';

function chunks(buf: Buffer, size: number): AsyncIterator<Buffer> {
  const parts: Buffer[] = [];
  for (let o = 0; o < buf.length; o += size) parts.push(buf.subarray(o, o + size));
  return Readable.from(parts)[Symbol.asyncIterator]();
}

async function list(buf: Buffer, size = 5, opts: CpioOptions = {}, readBodies = true) {
  const a = new CpioArchive(new ChunkReader(chunks(buf, size)), opts);
  const out: { path: string; size: number; nlink: number; linkKey: string; data: string }[] = [];
  for (;;) {
    const e = await a.next();
    if (!e) break;
    const parts: Buffer[] = [];
    if (readBodies) for await (const c of a.body()) parts.push(Buffer.from(c));
    out.push({ path: e.path, size: e.size, nlink: e.nlink, linkKey: e.linkKey, data: Buffer.concat(parts).toString('latin1') });
  }
  return out;
}

test('newc members come back with paths, sizes and data, across tiny chunks', async () => {
  const a = randomBytes(13), b = randomBytes(1000);
  const arch = newc([
    { name: './usr/bin/a', data: a }, { name: './usr/lib', mode: 0o40755 }, { name: './usr/lib/b.so', data: b },
  ]);
  for (const size of [1, 3, 7, 64, 100000]) {
    const got = await list(arch, size);
    assert.deepEqual(got.map((e) => e.path), ['/usr/bin/a', '/usr/lib', '/usr/lib/b.so']);
    assert.equal(got[0].data, a.toString('latin1'));
    assert.equal(got[2].data, b.toString('latin1'));
  }
});

test('unread bodies are skipped and the next header is still found', async () => {
  const arch = newc([{ name: './x', data: randomBytes(70001) }, { name: './y', data: Buffer.from('yy') }]);
  const got = await list(arch, 4096, {}, false);
  assert.deepEqual(got.map((e) => [e.path, e.size]), [['/x', 70001], ['/y', 2]]);
});

test('hard-link members share a link key; only the last carries data', async () => {
  const data = randomBytes(50);
  const arch = newc([
    { name: './bin/one', ino: 77, nlink: 3 }, { name: './bin/two', ino: 77, nlink: 3 },
    { name: './bin/three', ino: 77, nlink: 3, data },
  ]);
  const got = await list(arch);
  assert.deepEqual(got.map((e) => e.size), [0, 0, 50]);
  assert.equal(new Set(got.map((e) => e.linkKey)).size, 1);
});

test('names with .. or a leading / are reported as they are, for the caller to judge', async () => {
  const got = await list(newc([{ name: '../../etc/passwd', data: Buffer.from('x') }, { name: '/abs', data: Buffer.from('y') }]));
  assert.deepEqual(got.map((e) => e.path), ['/../../etc/passwd', '/abs']);
});

test('stripped 07070X members take path and size from the header resolver', async () => {
  const big = randomBytes(9), small = randomBytes(3);
  const files = [
    { path: '/usr/bin/big', mode: 0o100755, size: 9, nlink: 1, linkKey: 'a' },
    { path: '/usr/bin/small', mode: 0o100755, size: 3, nlink: 1, linkKey: 'b' },
  ];
  const arch = stripped([{ fx: 1, data: small }, { fx: 0, data: big }]);
  const got = await list(arch, 4, { stripped: (fx) => files[fx] });
  assert.deepEqual(got.map((e) => [e.path, e.data]), [['/usr/bin/small', small.toString('latin1')], ['/usr/bin/big', big.toString('latin1')]]);
});

test('a stripped member naming a file the header lacks is a format error', async () => {
  await assert.rejects(list(stripped([{ fx: 5 }]), 4, { stripped: () => undefined }), (e: Error) =>
    e instanceof FormatError && /names file 5/.test(e.message));
});

test('bad magic, truncation and a missing trailer are format errors with a position', async () => {
  const good = newc([{ name: './a', data: randomBytes(100) }]);
  const bad = Buffer.from(good); bad.write('123456', 0, 'latin1');
  await assert.rejects(list(bad), /bad cpio magic "123456" at archive byte 0/);
  await assert.rejects(list(good.subarray(0, 150)), FormatError);
  await assert.rejects(list(newc([{ name: './a', data: Buffer.from('abcd') }], false)), /without a cpio trailer/);
});

test('an absurd name size is refused before it is read', async () => {
  const arch = newc([{ name: './a', data: Buffer.from('x') }]);
  arch.write('00100000', 6 + 11 * 8, 'latin1'); // c_namesize = 1 MiB
  await assert.rejects(list(arch), /claims a 1048576-byte name/);
});

// CpioParser: the synchronous push form used by the indexer. Same archives, same answers; the
// chunks it is given are overwritten right after each push, as a decoder's reused buffer is.
function pushList(buf: Buffer, size = 5, opts: CpioOptions = {}, readBodies = true) {
  const out: { path: string; size: number; nlink: number; linkKey: string; data: string }[] = [];
  let cur: { parts: Buffer[]; e: { path: string; size: number; nlink: number; linkKey: string } } | undefined;
  const p = new CpioParser({
    entry: (e) => {
      cur = { parts: [], e };
      return readBodies ? { push: (c) => { cur!.parts.push(Buffer.from(c)); return false; } } : undefined;
    },
    end: (e) => {
      assert.equal(e, cur!.e);
      out.push({ path: e.path, size: e.size, nlink: e.nlink, linkKey: e.linkKey, data: Buffer.concat(cur!.parts).toString('latin1') });
    },
  }, opts);
  const scratch = Buffer.alloc(size);
  for (let o = 0; o < buf.length; o += size) {
    const n = buf.copy(scratch, 0, o, o + size);
    p.push(scratch.subarray(0, n));
    scratch.fill(0x55);
  }
  p.end();
  return { entries: out, position: p.position, done: p.done };
}

test('push parser: same members and data as the pull reader, whatever the chunk size', async () => {
  const a = randomBytes(13), b = randomBytes(1000), c = randomBytes(70001);
  const arch = newc([
    { name: './usr/bin/a', data: a }, { name: './usr/lib', mode: 0o40755 }, { name: './usr/lib/b.so', data: b },
    { name: './bin/one', ino: 77, nlink: 2 }, { name: './bin/two', ino: 77, nlink: 2, data: c },
  ]);
  const want = await list(arch, 4096);
  for (const size of [1, 3, 7, 64, 4096, 100000]) {
    const got = pushList(arch, size);
    assert.deepEqual(got.entries, want, `chunk size ${size}`);
    assert.equal(got.position, arch.length);
    assert.ok(got.done);
  }
});

test('push parser: unread bodies are skipped, and bytes after the trailer are counted', () => {
  const arch = Buffer.concat([newc([{ name: './x', data: randomBytes(70001) }, { name: './y', data: Buffer.from('yy') }]), Buffer.alloc(512)]);
  const got = pushList(arch, 4096, {}, false);
  assert.deepEqual(got.entries.map((e) => [e.path, e.size]), [['/x', 70001], ['/y', 2]]);
  assert.equal(got.position, arch.length);
});

test('push parser: a body sink that has enough is not given the rest', () => {
  const arch = newc([{ name: './x', data: randomBytes(10000) }, { name: './y', data: Buffer.from('yy') }]);
  let seen = 0;
  const p = new CpioParser({ entry: (e) => (e.path === '/x' ? { push: (c) => { seen += c.length; return seen >= 100; } } : undefined) });
  for (let o = 0; o < arch.length; o += 64) p.push(arch.subarray(o, o + 64));
  p.end();
  assert.ok(seen >= 100 && seen < 200, `${seen} bytes given`);
});

test('push parser: stripped 07070X members take path and size from the header resolver', () => {
  const big = randomBytes(9), small = randomBytes(3);
  const files = [
    { path: '/usr/bin/big', mode: 0o100755, size: 9, nlink: 1, linkKey: 'a' },
    { path: '/usr/bin/small', mode: 0o100755, size: 3, nlink: 1, linkKey: 'b' },
  ];
  const arch = stripped([{ fx: 1, data: small }, { fx: 0, data: big }]);
  for (const size of [1, 4, 1000]) {
    const got = pushList(arch, size, { stripped: (fx) => files[fx] });
    assert.deepEqual(got.entries.map((e) => [e.path, e.data]), [['/usr/bin/small', small.toString('latin1')], ['/usr/bin/big', big.toString('latin1')]]);
  }
  assert.throws(() => pushList(stripped([{ fx: 5 }]), 4, { stripped: () => undefined }), (e: Error) =>
    e instanceof FormatError && /names file 5/.test(e.message));
});

test('push parser: bad magic, truncation, a missing trailer and an absurd name size are format errors', () => {
  const good = newc([{ name: './a', data: randomBytes(100) }]);
  const bad = Buffer.from(good); bad.write('123456', 0, 'latin1');
  assert.throws(() => pushList(bad), /bad cpio magic "123456" at archive byte 0/);
  assert.throws(() => pushList(good.subarray(0, 150)), (e: Error) => e instanceof FormatError && /payload ends inside cpio member \/a/.test(e.message));
  assert.throws(() => pushList(good.subarray(0, 50)), (e: Error) => e instanceof FormatError && /inside the cpio header/.test(e.message));
  assert.throws(() => pushList(newc([{ name: './a', data: Buffer.from('abcd') }], false)), /without a cpio trailer/);
  const absurd = newc([{ name: './a', data: Buffer.from('x') }]);
  absurd.write('00100000', 6 + 11 * 8, 'latin1');
  assert.throws(() => pushList(absurd), /claims a 1048576-byte name/);
});
