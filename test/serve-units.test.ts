// The parts of darkserver serve that decide things on their own: LRU order and pins, single
// flight, the job limiter, source paths as clients send them, sizes, curl's escaping, and ELF
// section lookup on real files of every class and byte order (and hostile ones).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { findSection, SHT_NOBITS } from '../src/lib/elf/sections.ts';
import { HttpError } from '../src/lib/serve/http-error.ts';
import { Limiter, QueueFullError } from '../src/lib/serve/limiter.ts';
import { LruAccount } from '../src/lib/serve/lru.ts';
import { MEMORY_FILE_MAX, OpenFiles } from '../src/lib/serve/open-files.ts';
import { SingleFlight } from '../src/lib/serve/single-flight.ts';
import { parseSize } from '../src/lib/serve/size.ts';
import { sourcePathOf } from '../src/lib/serve/source-path.ts';
import { escapeSegment, upstreamPath, upstreamUrls } from '../src/lib/serve/upstream.ts';
import { tempDir } from './helpers/cli.ts';
import { extractRpm } from './helpers/crash.ts';
import { FIXTURES } from './helpers/paths.ts';

describe('LRU account', () => {
  test('least recently used first; a touch moves a file to the end; pinned files are skipped', () => {
    const lru = new LruAccount(100);
    lru.add('a', 40);
    lru.add('b', 40);
    lru.add('c', 10);
    lru.touch('a');
    assert.deepEqual(lru.order(), ['b', 'c', 'a']);
    assert.deepEqual(lru.takeVictims(), [], 'under the bound');
    const unpin = lru.pin('b');
    lru.add('d', 30); // 120 bytes now
    assert.deepEqual(lru.takeVictims().map((v) => v.key), ['c', 'a'], 'b is pinned: c then a go, until under 100');
    assert.equal(lru.total, 70);
    unpin();
    unpin(); // a second call changes nothing
    lru.add('e', 50);
    assert.deepEqual(lru.takeVictims().map((v) => v.key), ['b']);
    assert.deepEqual(lru.order(), ['d', 'e']);
  });

  test('only pinned files left: over the bound until they are released; no bound: nothing goes', () => {
    const lru = new LruAccount(10);
    const u1 = lru.pin('x');
    const u2 = lru.pin('x');
    lru.add('x', 50);
    assert.deepEqual(lru.takeVictims(), []);
    u1();
    assert.deepEqual(lru.takeVictims(), [], 'still pinned once');
    u2();
    assert.deepEqual(lru.takeVictims().map((v) => v.key), ['x']);
    const free = new LruAccount();
    free.add('y', 1e12);
    assert.deepEqual(free.takeVictims(), []);
  });

  test('re-adding a file replaces its size', () => {
    const lru = new LruAccount(100);
    lru.add('a', 60);
    lru.add('a', 30);
    assert.equal(lru.total, 30);
    assert.equal(lru.count, 1);
  });
});

describe('open files and the memory budget', () => {
  const files = (sizes: number[]): string[] => {
    const dir = tempDir();
    return sizes.map((n, i) => {
      const f = join(dir, `f${i}`);
      // Distinct bytes per file, so a mix-up shows.
      writeFileSync(f, Buffer.alloc(n, 0x41 + i));
      return f;
    });
  };

  test('small files are held in memory, byte for byte, within the budget; the least recently used give their bytes up first', async () => {
    const [a, b, c] = files([400, 300, 500]);
    const of = new OpenFiles(16, 1000);
    const fa = (await of.open(a))!;
    const fb = (await of.open(b))!;
    assert.deepEqual(fa.bytes, readFileSync(a));
    assert.deepEqual(fb.bytes, readFileSync(b));
    assert.equal(of.memoryBytes, 700);
    of.acquire(a); // a is now the most recently used
    const fc = (await of.open(c))!; // 700 + 500 > 1000: b (least recently used) gives its bytes up
    assert.deepEqual([fa.bytes?.length, fb.bytes, fc.bytes?.length], [400, undefined, 500]);
    assert.equal(of.memoryBytes, 900);
    // Still open and served from disk: the handle stays.
    assert.equal((await fb.fh.read(Buffer.alloc(300), 0, 300, 0)).bytesRead, 300);
    of.drop(c);
    assert.equal(of.memoryBytes, 400, 'a dropped file frees its bytes');
    for (const f of [fa, fa, fb, fc]) of.release(f);
    await of.closeAll();
    assert.equal(of.memoryBytes, 0);
  });

  test('never held: files over the per-file bound or the budget, empty files, and everything with a budget of 0', async () => {
    const [big, mid, empty] = files([MEMORY_FILE_MAX + 1, 2000, 0]);
    const of = new OpenFiles(16, 1000);
    assert.equal((await of.open(big))!.bytes, undefined);
    assert.equal((await of.open(mid))!.bytes, undefined, 'bigger than the whole budget');
    assert.equal((await of.open(empty))!.bytes, undefined);
    assert.equal(of.memoryBytes, 0);
    await of.closeAll();
    const none = new OpenFiles(16, 0);
    const [small] = files([10]);
    assert.equal((await none.open(small))!.bytes, undefined);
    await none.closeAll();
  });
});

describe('single flight and the job limiter', () => {
  test('concurrent callers of one key share one run; a later caller starts afresh', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const work = async (): Promise<number> => { runs++; await gate; return runs; };
    const calls = Array.from({ length: 50 }, () => sf.run('k', work));
    assert.equal(calls.filter((c) => c.joined).length, 49);
    release();
    assert.deepEqual(new Set(await Promise.all(calls.map((c) => c.promise))), new Set([1]));
    assert.equal(sf.size, 0);
    assert.equal(await sf.run('k', work).promise, 2);
    const failing = sf.run('f', async () => { throw new Error('boom'); });
    const joined = sf.run('f', async () => 5);
    await assert.rejects(failing.promise, /boom/);
    await assert.rejects(joined.promise, /boom/, 'the joiner shares the failure');
    assert.equal(await sf.run('f', async () => 5).promise, 5, 'and the next caller tries again');
  });

  test('at most N at once, in arrival order; a full queue refuses at once', async () => {
    const lim = new Limiter(2, 3);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    const gates: (() => void)[] = [];
    const job = (i: number) => lim.run(async () => {
      active++; peak = Math.max(peak, active); order.push(i);
      await new Promise<void>((r) => gates.push(r));
      active--;
      return i;
    });
    const jobs = [0, 1, 2, 3, 4].map(job);
    await new Promise((r) => setImmediate(r));
    assert.equal(lim.running, 2);
    assert.equal(lim.waiting, 3);
    await assert.rejects(job(5), QueueFullError);
    while (order.length < 5 || gates.length) {
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(jobs), [0, 1, 2, 3, 4]);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    assert.equal(peak, 2);
    assert.equal(lim.running, 0);
    assert.throws(() => new Limiter(0), RangeError);
  });
});

describe('source paths of /buildid/ID/source/PATH', () => {
  test('as libdebuginfod and gdb send them', () => {
    assert.equal(sourcePathOf('/usr/src/debug/hello-1.0/hello.c'), '/usr/src/debug/hello-1.0/hello.c');
    assert.equal(sourcePathOf('//usr/src/debug/a.c'), '/usr/src/debug/a.c', 'older clients: a double slash');
    assert.equal(sourcePathOf('/usr/src/debug/x%20y/a%2Bb.c'), '/usr/src/debug/x y/a+b.c');
    assert.equal(sourcePathOf('/usr/src/debug/pkg/build/../src/a.c'), '/usr/src/debug/pkg/src/a.c', 'DW_AT_name ../src/a.c below a build folder');
    assert.equal(sourcePathOf('/usr/src/debug/pkg/./a.c'), '/usr/src/debug/pkg/a.c');
    assert.equal(sourcePathOf('/usr/src/debug/%C3%A9t%C3%A9.c'), '/usr/src/debug/été.c');
  });

  test('refused: climbing above the root (also encoded), NUL, bad escapes, nothing, too long', () => {
    const status = (p: string): number => { try { sourcePathOf(p); return 200; } catch (e) { return (e as HttpError).status; } };
    for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/usr/..%2f..%2f..%2fetc', '/a/%00/b',
      '/a%00.c', '/%zz', '/', '//', '/./.', 'usr/src/a.c', '']) {
      assert.equal(status(p), 400, p);
    }
    assert.equal(status(`/${'a/'.repeat(2100)}`), 414);
  });
});

describe('sizes, upstream URLs, escaping', () => {
  test('--cache-size values', () => {
    assert.equal(parseSize('1024'), 1024);
    assert.equal(parseSize('500M'), 500 * 2 ** 20);
    assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
    assert.equal(parseSize('20GiB'), 20 * 2 ** 30);
    assert.equal(parseSize('2 GB'), 2e9);
    assert.equal(parseSize('1t'), 2 ** 40);
    for (const bad of ['', 'lots', '-5M', '0', '5X', '1e3']) assert.throws(() => parseSize(bad), /--cache-size/, bad);
    assert.equal(parseSize('0', '--memory-cache', { zero: true }), 0);
    assert.throws(() => parseSize('-1', '--memory-cache', { zero: true }), /^UserError: --memory-cache "-1": expected a size/);
  });

  test('upstreams from --upstream and $DEBUGINFOD_URLS (space-separated, tags skipped, duplicates once)', () => {
    assert.deepEqual(upstreamUrls(['http://a:8002/'], 'https://b.example/  ima:enforcing http://a:8002 '), ['http://a:8002', 'https://b.example']);
    assert.throws(() => upstreamUrls(['ftp://x'], undefined), /--upstream: "ftp:\/\/x" is not an http\(s\) URL/);
  });

  test('source paths go upstream escaped as curl_easy_escape does, slashes kept', () => {
    assert.equal(escapeSegment('a-b_c.d~e'), 'a-b_c.d~e');
    assert.equal(escapeSegment("x y+z!'()*é"), 'x%20y%2Bz%21%27%28%29%2A%C3%A9');
    assert.equal(upstreamPath({ kind: 'source', buildId: 'abcd1234', sourcePath: '/usr/src/debug/a b/c.c' }), '/buildid/abcd1234/source/usr/src/debug/a%20b/c.c');
    assert.equal(upstreamPath({ kind: 'debuginfo', buildId: 'abcd1234' }), '/buildid/abcd1234/debuginfo');
  });
});

describe('ELF sections', () => {
  const readelfSections = (file: string): Map<string, { type: string; offset: number; size: number }> => {
    const r = spawnSync('readelf', ['-S', '-W', file], { encoding: 'utf8' });
    const out = new Map<string, { type: string; offset: number; size: number }>();
    for (const l of r.stdout.split('\n')) {
      const m = /^\s*\[\s*([1-9]\d*)\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(l);
      if (m && !out.has(m[2])) out.set(m[2], { type: m[3], offset: parseInt(m[4], 16), size: parseInt(m[5], 16) });
    }
    return out;
  };

  test('every section of real files (64/32-bit, little/big-endian, stripped and .debug) as readelf sees it', async () => {
    const dir = tempDir();
    for (const rpm of ['df-cross-1.0-1.ppc64.rpm', 'df-cross-1.0-1.i686.rpm', 'df-cross-debuginfo-1.0-1.ppc64.rpm', 'df-debug-debuginfo-1.0-1.x86_64.rpm']) {
      extractRpm(join(FIXTURES, rpm), dir);
    }
    const files = spawnSync('find', [dir, '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n')
      .filter((f) => readFileSync(f).subarray(0, 4).toString('latin1') === '\x7fELF');
    assert.ok(files.length >= 6, `${files.length} ELF files`);
    let checked = 0;
    for (const f of files) {
      const want = readelfSections(f);
      const fh = await open(f, 'r');
      try {
        const size = (await fh.stat()).size;
        for (const [name, s] of want) {
          const got = await findSection(fh, size, name);
          assert.ok(got, `${f}: ${name}`);
          assert.equal(got.offset, s.offset, `${f}: ${name} offset`);
          assert.equal(got.size, s.size, `${f}: ${name} size`);
          assert.equal(got.type === SHT_NOBITS, s.type === 'NOBITS', `${f}: ${name} type`);
          checked++;
        }
        assert.equal(await findSection(fh, size, '.no_such_section'), undefined);
        assert.equal(await findSection(fh, size, ''), undefined);
      } finally {
        await fh.close();
      }
    }
    assert.ok(checked > 100, `${checked} sections checked`);
  });

  test('extended numbering (e_shnum 0, e_shstrndx SHN_XINDEX) is followed; hostile tables give undefined', async () => {
    const dir = tempDir();
    extractRpm(join(FIXTURES, 'df-debug-debuginfo-1.0-1.x86_64.rpm'), dir);
    const src = spawnSync('find', [dir, '-name', '*.debug', '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
    const orig = readFileSync(src);
    const shoff = Number(orig.readBigUInt64LE(40));
    const shnum = orig.readUInt16LE(60);
    const shstrndx = orig.readUInt16LE(62);
    const ext = Buffer.from(orig);
    ext.writeUInt16LE(0, 60);
    ext.writeUInt16LE(0xffff, 62);
    ext.writeBigUInt64LE(BigInt(shnum), shoff + 32); // section 0 sh_size = the count
    ext.writeUInt32LE(shstrndx, shoff + 40); // section 0 sh_link = the name table
    const probe = async (bytes: Buffer, name = '.debug_info') => {
      const f = join(dir, `probe-${Math.random()}`);
      writeFileSync(f, bytes);
      const fh = await open(f, 'r');
      try { return await findSection(fh, bytes.length, name); } finally { await fh.close(); }
    };
    const normal = await probe(orig);
    assert.ok(normal);
    assert.deepEqual(await probe(ext), normal);
    const far = Buffer.from(orig);
    far.writeBigUInt64LE(BigInt(orig.length + 10), 40);
    assert.equal(await probe(far), undefined, 'table past the end');
    const many = Buffer.from(ext);
    many.writeBigUInt64LE(2n ** 40n, shoff + 32);
    assert.equal(await probe(many), undefined, 'absurd count');
    assert.equal(await probe(orig.subarray(0, 30)), undefined, 'truncated header');
    assert.equal(await probe(Buffer.from('not an ELF file at all, just text')), undefined);
  });
});
