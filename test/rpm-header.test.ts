import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FormatError } from '../src/lib/errors.ts';
import { classifyFile, kindFromFileClass } from '../src/lib/index/filetype.ts';
import { distTag, splitNvr } from '../src/lib/rpm/disttag.ts';
import { Header, parseHeaderIntro } from '../src/lib/rpm/header.ts';

type Entry = { tag: number; type: number; count: number; data: Buffer; align?: number };

/** Index entries + data store, laid out as rpm writes them (ints aligned to their size). */
function headerBody(entries: Entry[]): { body: Buffer; count: number } {
  const index = Buffer.alloc(entries.length * 16);
  const parts: Buffer[] = [];
  let len = 0;
  entries.forEach((e, i) => {
    const a = e.align ?? 1;
    const pad = (a - (len % a)) % a;
    if (pad) { parts.push(Buffer.alloc(pad)); len += pad; }
    index.writeUInt32BE(e.tag, i * 16); index.writeUInt32BE(e.type, i * 16 + 4);
    index.writeUInt32BE(len, i * 16 + 8); index.writeUInt32BE(e.count, i * 16 + 12);
    parts.push(e.data); len += e.data.length;
  });
  return { body: Buffer.concat([index, ...parts]), count: entries.length };
}

const be = (bytes: number, values: (number | bigint)[]): Buffer => {
  const b = Buffer.alloc(bytes * values.length);
  values.forEach((v, i) => {
    if (bytes === 1) b[i] = Number(v);
    else if (bytes === 2) b.writeUInt16BE(Number(v), i * 2);
    else if (bytes === 4) b.writeUInt32BE(Number(v), i * 4);
    else b.writeBigUInt64BE(BigInt(v), i * 8);
  });
  return b;
};
const strs = (...s: string[]): Buffer => Buffer.from(s.map((x) => `${x}\0`).join(''));

test('every tag type is read', () => {
  const { body, count } = headerBody([
    { tag: 1000, type: 6, count: 1, data: strs('hello') },
    { tag: 1001, type: 1, count: 2, data: be(1, [65, 66]) },
    { tag: 1002, type: 2, count: 1, data: be(1, [7]) },
    { tag: 1003, type: 3, count: 2, data: be(2, [0o100755, 0o120777]), align: 2 },
    { tag: 1004, type: 4, count: 3, data: be(4, [1, 2, 0xffffffff]), align: 4 },
    { tag: 1005, type: 5, count: 1, data: be(8, [5_000_000_000n]), align: 8 },
    { tag: 1006, type: 7, count: 4, data: Buffer.from([1, 2, 3, 4]) },
    { tag: 1007, type: 8, count: 3, data: strs('/usr/', '/usr/bin/', '') },
    { tag: 1008, type: 9, count: 1, data: strs('Résumé') },
    { tag: 1009, type: 0, count: 0, data: Buffer.alloc(0) },
  ]);
  const h = new Header(body, count, 'main header');
  assert.equal(h.string(1000), 'hello');
  assert.deepEqual(h.numbers(1001), [65, 66]);
  assert.deepEqual(h.numbers(1002), [7]);
  assert.deepEqual(h.numbers(1003), [0o100755, 0o120777]);
  assert.deepEqual(h.numbers(1004), [1, 2, 0xffffffff]);
  assert.deepEqual(h.numbers(1005), [5_000_000_000]);
  assert.deepEqual(h.binary(1006), Buffer.from([1, 2, 3, 4]));
  assert.deepEqual(h.strings(1007), ['/usr/', '/usr/bin/', '']);
  assert.equal(h.string(1008), 'Résumé');
  assert.equal(h.has(1009), true);
});

test('values that point outside the data store are format errors', () => {
  const { body, count } = headerBody([{ tag: 1004, type: 4, count: 1, data: be(4, [1]) }]);
  const far = Buffer.from(body); far.writeUInt32BE(1000, 8);
  assert.throws(() => new Header(far, count, 'main header'), FormatError);
  const many = Buffer.from(body); many.writeUInt32BE(1_000_000, 12);
  assert.throws(() => new Header(many, count, 'main header'), /claims 1000000 values/);
  const str = headerBody([{ tag: 1000, type: 6, count: 1, data: Buffer.from('no terminator') }]);
  assert.throws(() => new Header(str.body, str.count, 'main header'), /unterminated string/);
  const unknown = headerBody([{ tag: 1000, type: 42, count: 1, data: Buffer.from('x') }]);
  assert.throws(() => new Header(unknown.body, unknown.count, 'main header'), /unknown type 42/);
});

test('absurd index counts and data sizes are refused from the 16-byte intro', () => {
  const intro = (n: number, size: number): Buffer => {
    const b = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.writeUInt32BE(n, 8); b.writeUInt32BE(size, 12);
    return b;
  };
  assert.deepEqual(parseHeaderIntro(intro(3, 100), 'x'), { entries: 3, dataSize: 100, bodySize: 148 });
  assert.throws(() => parseHeaderIntro(intro(0x10000, 100), 'x'), /claims 65536 tags/);
  assert.throws(() => parseHeaderIntro(intro(3, 0x10000000), 'x'), /claims 268435456 bytes/);
  assert.throws(() => parseHeaderIntro(Buffer.alloc(16), 'x'), /no header magic/);
});

test('dist tags come from the release', () => {
  assert.equal(distTag('2.fc38'), 'fc38');
  assert.equal(distTag('1.el7'), 'el7');
  assert.equal(distTag('3.el7_9'), 'el7_9');
  assert.equal(distTag('1.fc14.1'), 'fc14');
  assert.equal(distTag('1'), '');
  assert.equal(distTag('0.rc1.2'), '');
  assert.deepEqual(splitNvr('glibc-langpack-en-2.37-1.fc38'), { name: 'glibc-langpack-en', version: '2.37', release: '1.fc38' });
});

test('file types follow the ELF type and the path', () => {
  assert.equal(classifyFile('DYN', '/usr/bin/bash'), 'executable');
  assert.equal(classifyFile('EXEC', '/usr/bin/info'), 'executable');
  assert.equal(classifyFile('DYN', '/usr/lib64/libc.so.6'), 'shared-library');
  assert.equal(classifyFile('DYN', '/usr/lib64/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so'), 'shared-library');
  assert.equal(classifyFile('REL', '/lib/modules/6.1.0/kernel/fs/ext4/ext4.ko'), 'kernel-module');
  assert.equal(classifyFile('REL', '/usr/lib/debug/.dwz/bash-5.2-1.fc38.x86_64'), 'debuginfo');
  assert.equal(classifyFile('REL', '/usr/lib64/crt1.o'), 'relocatable');
  assert.equal(classifyFile('EXEC', '/usr/lib/debug/usr/bin/bash-5.2-1.fc38.x86_64.debug'), 'debuginfo');
  assert.equal(kindFromFileClass('ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV)'), 'DYN');
  assert.equal(kindFromFileClass('ELF 32-bit LSB executable, Intel 80386, version 1 (SYSV)'), 'EXEC');
  assert.equal(kindFromFileClass('ELF 64-bit MSB shared object, 64-bit PowerPC or cisco 7500'), 'DYN');
  assert.equal(kindFromFileClass('ELF 64-bit LSB relocatable, x86-64, version 1 (SYSV)'), 'REL');
  assert.equal(kindFromFileClass('ASCII text'), undefined);
});
