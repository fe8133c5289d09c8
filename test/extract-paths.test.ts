// cpio path safety of `darkserver find`: hostile payloads (members named with "..", absolute
// names, symlinks to outside folders, a link planted in the cache) never make it write outside
// $XDG_CACHE_HOME/darkforge/BUILDID. Each hostile RPM keeps the real lead and headers of a
// fixture (so the header digest still holds) with a hand-made payload behind them.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, test } from 'node:test';
import { decodePayload } from '../src/lib/compress/decompress.ts';
import { ChunkReader, CpioArchive } from '../src/lib/cpio/reader.ts';
import { scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { cachePath } from '../src/lib/find/cache.ts';
import { findFile } from '../src/lib/find/finder.ts';
import { openStore } from '../src/lib/store/open.ts';
import { climbsOut } from '../src/lib/find/extract.ts';
import { readRpmHeaders } from '../src/lib/rpm/reader.ts';
import { FileSource } from '../src/lib/rpm/source.ts';
import { UserError } from '../src/lib/errors.ts';
import { run, tempDir } from './helpers/cli.ts';
import { newc, type NewcMember } from './helpers/cpio.ts';
import { FIXTURES } from './helpers/paths.ts';

const RPM = 'df-debug-1.0-1.x86_64.rpm';
const NVRA = 'df-debug-1.0-1.x86_64';
const WANTED = '/usr/bin/df-beta';
const ID = '741803ffff01a7b5e207afbb9a213f639f57886d';

/** Every file under dir, as paths relative to it (symlinks listed, not followed). */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      out.push(relative(dir, p));
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

describe('darkserver find on hostile payloads', () => {
  const work = tempDir();
  const rpmDir = join(work, 'rpms');
  const rpmFile = join(rpmDir, RPM);
  const db = join(work, 'index.sqlite');
  /** Everything up to the payload: lead, signature and main header of the real package. */
  let headers: Buffer;
  /** The real content of the wanted file (it must match the header's digest). */
  let wantedData: Buffer;
  let realSize = 0;

  before(async () => {
    mkdirSync(rpmDir);
    const real = readFileSync(join(FIXTURES, RPM));
    realSize = real.length;
    writeFileSync(rpmFile, real);
    const r = run('darkserver', ['index', '--db', db, rpmDir]);
    assert.equal(r.code, 0, r.stderr);
    const src = await FileSource.open(rpmFile);
    try {
      const h = await readRpmHeaders(src);
      headers = real.subarray(0, h.payloadStart);
      const archive = new CpioArchive(new ChunkReader(decodePayload(src.rest(), 'gzip')));
      for (let e = await archive.next(); e; e = await archive.next()) {
        if (e.path !== WANTED) continue;
        const parts: Buffer[] = [];
        for await (const c of archive.body()) parts.push(Buffer.from(c));
        wantedData = Buffer.concat(parts);
      }
    } finally {
      await src.close();
    }
    assert.equal(scanElfBuffer(wantedData).buildId, ID);
  });

  /** A fresh cache and, outside it, a canary folder that must stay empty. */
  const dirs = (): { cache: string; outside: string } => ({ cache: tempDir(), outside: tempDir() });
  /**
   * The package, with `members` as its (uncompressed) payload behind the real headers, padded
   * after the trailer to the size the signature header gives.
   */
  const payload = (members: NewcMember[]): void => {
    const body = Buffer.concat([headers, newc(members)]);
    writeFileSync(rpmFile, body.length < realSize ? Buffer.concat([body, Buffer.alloc(realSize - body.length)]) : body);
  };
  /** The command, as a user runs it (slow: a process each). */
  const findCli = (cache: string, ...args: string[]) => run('darkserver', ['find', ...args, '--db', db], { XDG_CACHE_HOME: cache });
  /** The same, in process: the command's library call, its exit code and what it prints on stderr. */
  const find = async (cache: string, kind: 'executable' | 'source', id: string, sourcePath?: string): Promise<{ code: number; stdout: string; stderr: string }> => {
    const store = await openStore(db);
    const notes: string[] = [];
    try {
      const r = await findFile(store, { kind, buildId: id, sourcePath }, {
        cacheDir: join(cache, 'darkforge'), onFallback: (url, message) => notes.push(`${url}: ${message}; trying the next source`),
      });
      return { code: 0, stdout: `${r.path}\n`, stderr: notes.join('\n') };
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { code: e.exitCode, stdout: '', stderr: [...notes, e.message].join('\n') };
    } finally {
      await store.close();
    }
  };
  const dest = (cache: string): string => join(cache, 'darkforge', ID, 'executable');

  test('a member whose name climbs out with ".." is refused, naming the package and the member; nothing is written', async () => {
    const { cache, outside } = dirs();
    const climb = `./../../../../../../../..${outside}/escaped`;
    payload([{ name: climb, data: Buffer.from('pwned') }, { name: `.${WANTED}`, data: wantedData }]);
    const r = findCli(cache, 'executable', ID);
    assert.equal(r.code, 1, r.stderr);
    // The only source failed: one line that says why; no stack trace.
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^darkserver find: ${ID}: no download source delivered the executable file \\(file://`));
    assert.ok(lines[0].endsWith(`${NVRA}: payload member ${climb.slice(1)} points outside the package root (".."); nothing extracted from this package)`), r.stderr);
    assert.deepEqual(tree(outside), []);
    assert.deepEqual(tree(cache), ['darkforge', `darkforge/${ID}`], 'no file, no partial copy');
  });

  test('".." anywhere in a name counts; names that only contain dots do not', async () => {
    for (const p of ['/..', '/a/../b', '/../etc/passwd', '/a/..', '..']) assert.equal(climbsOut(p), true, p);
    for (const p of ['/a..b', '/usr/lib/..so', '/...', '/a/.../b', '/.hidden', '/usr/bin/df-beta']) assert.equal(climbsOut(p), false, p);
  });

  test('absolute member names stay package paths: the file is extracted, nothing appears at the absolute path', async () => {
    const { cache, outside } = dirs();
    payload([
      { name: `${outside}/abs-escape`, data: Buffer.from('pwned') },
      { name: `/${outside}/../${relative('/', outside)}/double-slash`, data: Buffer.from('pwned') },
      { name: WANTED, data: wantedData },
    ]);
    // The second name has a ".." component and comes before the wanted file: refused.
    const r1 = await find(cache, 'executable', ID);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /points outside the package root/);
    payload([{ name: `${outside}/abs-escape`, data: Buffer.from('pwned') }, { name: WANTED, data: wantedData }]);
    const r2 = await find(cache, 'executable', ID);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout.trim(), dest(cache));
    assert.deepEqual(readFileSync(dest(cache)), wantedData);
    assert.deepEqual(tree(outside), []);
    assert.deepEqual(tree(cache), ['darkforge', `darkforge/${ID}`, `darkforge/${ID}/executable`]);
  });

  test('symlink members (to the wanted path, or a parent folder, pointing outside) are never made or followed', async () => {
    const { cache, outside } = dirs();
    payload([
      { name: `.${WANTED}`, mode: 0o120777, data: Buffer.from(`${outside}/via-file-link`) },
      { name: './usr/bin', mode: 0o120777, data: Buffer.from(outside) },
      { name: './usr', mode: 0o120777, data: Buffer.from(outside) },
      { name: `.${WANTED}`, data: wantedData },
    ]);
    const r = await find(cache, 'executable', ID);
    assert.equal(r.code, 0, r.stderr);
    const st = lstatSync(dest(cache));
    assert.ok(st.isFile() && !st.isSymbolicLink(), 'a plain file in the cache');
    assert.deepEqual(readFileSync(dest(cache)), wantedData);
    assert.deepEqual(tree(outside), []);
  });

  test('a payload whose only copy of the file is a symlink gives no file', async () => {
    const { cache, outside } = dirs();
    payload([{ name: `.${WANTED}`, mode: 0o120777, data: Buffer.from(`${outside}/target`) }]);
    writeFileSync(join(outside, 'target'), 'outside data');
    const r = await find(cache, 'executable', ID);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${WANTED} in ${NVRA}: not in the payload`), r.stderr);
    assert.equal(existsSync(dest(cache)), false);
    assert.deepEqual(tree(outside), ['target']);
  });

  test('bytes that do not match the header digest never reach the cache', async () => {
    const { cache, outside } = dirs();
    const evil = Buffer.from(wantedData);
    evil[evil.length - 1] ^= 0xff;
    payload([{ name: `.${WANTED}`, data: evil }]);
    const r = await find(cache, 'executable', ID);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /content does not match the header's file digest/);
    assert.deepEqual(tree(cache), ['darkforge', `darkforge/${ID}`]);
    assert.deepEqual(tree(outside), []);
  });

  test('a link planted in the cache (BUILDID -> elsewhere) is not written through', async () => {
    const { cache, outside } = dirs();
    payload([{ name: `.${WANTED}`, data: wantedData }]);
    mkdirSync(join(cache, 'darkforge'), { recursive: true });
    symlinkSync(outside, join(cache, 'darkforge', ID));
    const r = await find(cache, 'executable', ID);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cache folder .*${ID} resolves to ${outside}, outside the cache .*; not writing there`));
    assert.deepEqual(tree(outside), []);
    // A cache that is itself reached through a link (a home on another disk) is fine.
    const real = tempDir();
    const linked = join(tempDir(), 'cache-link');
    symlinkSync(real, linked);
    const ok = await find(linked, 'executable', ID);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(readFileSync(join(real, 'darkforge', ID, 'executable')), wantedData);
  });

  test('find source: a path with ".." stays one flat name inside the build-id folder', async () => {
    const root = tempDir();
    for (const p of ['../../../../etc/passwd', '/usr/src/debug/../../../etc/shadow', '..', '/']) {
      const c = cachePath(root, ID, 'source', p);
      assert.equal(relative(join(root, ID), c).includes('/'), false, c);
      assert.ok(c.startsWith(join(root, ID, 'source-')), c);
    }
    assert.throws(() => cachePath(root, ID, 'source', `/usr/src/${'x'.repeat(300)}`), (e: Error) => e instanceof UserError && /cannot be a cache file name/.test(e.message));
    assert.throws(() => cachePath(root, '../../etc', 'executable'), (e: Error) => e instanceof UserError && e.exitCode === 2);
    const { cache, outside } = dirs();
    payload([{ name: `.${WANTED}`, data: wantedData }]);
    const r = await find(cache, 'source', ID, `../../..${outside}/x`);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(tree(outside), []);
  });

  test('member names with control characters are shown escaped, each message on one line', async () => {
    const { cache } = dirs();
    payload([{ name: './usr/bin/../\nfake line', data: Buffer.from('x') }, { name: `.${WANTED}`, data: wantedData }]);
    const r = await find(cache, 'executable', ID);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes('payload member /usr/bin/../\\x0afake line points outside'), r.stderr);
  });
});
