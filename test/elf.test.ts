import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ElfBuildIdScanner, scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { makeElf } from './helpers/elf.ts';

function feed(buf: Buffer, chunk: number, headLimit?: number) {
  const s = new ElfBuildIdScanner(buf.length, { headLimit });
  for (let o = 0; o < buf.length; o += chunk) if (s.push(buf.subarray(o, o + chunk))) break;
  return s.finish();
}

const variants = [
  { is64: true, le: true }, { is64: true, le: false }, { is64: false, le: true }, { is64: false, le: false },
];

for (const v of variants) {
  for (const noteAlign of [4, 8] as const) {
    test(`build-id from PT_NOTE, ELF${v.is64 ? 64 : 32} ${v.le ? 'LE' : 'BE'}, note alignment ${noteAlign}`, () => {
      const id = randomBytes(20);
      const r = scanElfBuffer(makeElf({ ...v, id, noteAlign, abiNoteFirst: true, shdr: false }));
      assert.equal(r.elf, true);
      assert.equal(r.is64, v.is64);
      assert.equal(r.littleEndian, v.le);
      assert.equal(r.buildId, id.toString('hex'));
    });
  }
  test(`build-id from SHT_NOTE alone (no program headers), ELF${v.is64 ? 64 : 32} ${v.le ? 'LE' : 'BE'}`, () => {
    const id = randomBytes(16);
    const r = scanElfBuffer(makeElf({ ...v, id, phdr: false, type: 1 }));
    assert.equal(r.kind, 'REL');
    assert.equal(r.buildId, id.toString('hex'));
  });
}

test('an ELF file without a build-id note is ELF with no id', () => {
  const r = scanElfBuffer(makeElf({ is64: true, le: true, abiNoteFirst: true }));
  assert.equal(r.elf, true);
  assert.equal(r.buildId, undefined);
});

test('non-ELF bytes stop the scanner after the first chunk', () => {
  const s = new ElfBuildIdScanner(1 << 20);
  assert.equal(s.push(Buffer.from('#!/bin/sh\necho hello\n'.padEnd(4096, ' '))), true);
  assert.deepEqual(s.finish(), { elf: false });
});

test('streaming in 7-byte chunks gives the same answer as one buffer', () => {
  for (const v of variants) {
    const id = randomBytes(20);
    const elf = makeElf({ ...v, id, phdr: false, padBefore: 300, padAfter: 500 });
    assert.equal(feed(elf, 7).buildId, id.toString('hex'));
  }
});

test('PT_NOTE answer lets the caller stop before the end of the file', () => {
  const id = randomBytes(20);
  const elf = makeElf({ is64: true, le: true, id, padAfter: 1 << 20 });
  const s = new ElfBuildIdScanner(elf.length);
  let consumed = 0;
  for (let o = 0; o < elf.length; o += 4096) {
    consumed += Math.min(4096, elf.length - o);
    if (s.push(elf.subarray(o, o + 4096))) break;
  }
  assert.equal(s.finish().buildId, id.toString('hex'));
  assert.ok(consumed < 8192, `read ${consumed} bytes`);
});

test('a note past the kept head, found only through the section table, is read back from the spill file', () => {
  const id = randomBytes(20);
  // Note area 200 KiB in, section table 400 KiB in; keep only 64 KiB in memory.
  const elf = makeElf({ is64: true, le: false, id, phdr: false, type: 1, padBefore: 200 << 10, padAfter: 200 << 10 });
  assert.equal(feed(elf, 4096, 64 << 10).buildId, id.toString('hex'));
  assert.equal(feed(elf, 100_000, 64 << 10).buildId, id.toString('hex'));
});

test('build-id note lengths outside 4..32 bytes are ignored', () => {
  const tooShort = scanElfBuffer(makeElf({ is64: true, le: true, id: Buffer.from([1, 2, 3]) }));
  assert.equal(tooShort.buildId, undefined);
  const tooLong = scanElfBuffer(makeElf({ is64: true, le: true, id: randomBytes(40) }));
  assert.equal(tooLong.buildId, undefined);
});

test('absurd header tables are not allocated', () => {
  const elf = makeElf({ is64: true, le: true, id: randomBytes(20) });
  elf.writeUInt16LE(0xffff, 56); // e_phnum
  elf.writeUInt16LE(0xffff, 54); // e_phentsize
  elf.writeBigUInt64LE(2n ** 60n, 40); // e_shoff far beyond the file
  const r = scanElfBuffer(elf);
  assert.equal(r.elf, true);
  assert.equal(r.buildId, undefined);
});
