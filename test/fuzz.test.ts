// The parser fuzz targets of `npm run fuzz` (fuzz/targets.ts) with fixed seeds and a few hundred
// cases in all, and one test for each bug the fuzzer found, built by hand so it stays found.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { checkTarget, formatOutcomes, type Target } from '../fuzz/harness.ts';
import { allTargets } from '../fuzz/targets.ts';
import { buildElf } from '../fuzz/elf-builder.ts';
import { headerBytes } from '../fuzz/rpm-builder.ts';
import { ChunkReader, CpioArchive, CpioParser } from '../src/lib/cpio/reader.ts';
import { readCoreModules } from '../src/lib/elf/core.ts';
import { ElfBuildIdScanner } from '../src/lib/elf/scanner.ts';
import { FormatError, UserError } from '../src/lib/errors.ts';
import { InterpolationError, parseConfig } from '../src/lib/image/configparser.ts';
import { formatProblem, loadImageConfig } from '../src/lib/image/config.ts';
import { flattenKickstart } from '../src/lib/image/kickstart.ts';
import { decodeResponse } from '../src/lib/koji/xmlrpc.ts';
import { Header } from '../src/lib/rpm/header.ts';
import { TagType } from '../src/lib/rpm/tags.ts';
import { buildCore, coreBuffer, modulePage } from './helpers/core-builder.ts';
import { newc } from './helpers/cpio.ts';
import { tempDir } from './helpers/cli.ts';

// Cases per target here; `npm run fuzz` runs 2000-3000 of each.
const RUNS: Record<string, number> = {
  'rpm-header': 60, 'rpm-scan': 40, cpio: 40, elf: 60, core: 40, xmlrpc: 80, kickstart: 40, conf: 40,
};
const SEED = 20_240_808;

describe('fuzz targets (fixed seed)', () => {
  let targets: Target<never>[] = [];
  before(async () => { targets = await allTargets(); });

  for (const [name, runs] of Object.entries(RUNS)) {
    test(`${name}: ${runs} cases end in a value or a typed one-line error`, { timeout: 120_000 }, async () => {
      const t = targets.find((x) => x.name === name)!;
      const s = await checkTarget(t, { seed: SEED, runs, timeoutMs: 30_000 });
      const f = s.failure;
      assert.equal(f, undefined, f && `${f.message}\nreplay: npm run fuzz -- --target ${name} --seed ${f.seed} --path ${f.path}\n${f.stack ?? ''}`);
      assert.equal(s.runs, runs, formatOutcomes(s.outcomes));
      // Each target must reach past the first error check some of the time, or it tests little.
      const deeper = Object.entries(s.outcomes).filter(([k]) => !/Error$/.test(k)).reduce((a, [, v]) => a + v, 0);
      assert.ok(deeper > 0, `only errors: ${formatOutcomes(s.outcomes)}`);
    });
  }
});

// ---- bugs the fuzzer found, one test each ----

const oneLine = (m: string): void => assert.doesNotMatch(m, /[\r\n]/, m);

test('an RPM header whose tags all point at the same bytes is refused before it decodes into millions of values', () => {
  // 200 STRING_ARRAY tags, each claiming 100 000 strings in the same 100 000 NUL bytes: 20 million values (seconds, 180 MB) before.
  const entries = 200;
  const dataLen = 100_000;
  const body = Buffer.alloc(entries * 16 + dataLen);
  for (let i = 0; i < entries; i++) {
    body.writeUInt32BE(5000 + i, i * 16);
    body.writeUInt32BE(TagType.STRING_ARRAY, i * 16 + 4);
    body.writeUInt32BE(0, i * 16 + 8);
    body.writeUInt32BE(dataLen, i * 16 + 12);
  }
  assert.throws(() => new Header(body, entries, 'main header'),
    (e: Error) => e instanceof FormatError && e.message === "main header tag 5001 overlaps other tags' data (together they claim more than its 100000 bytes)");
  // Tags that share nothing still read, whatever their number.
  const ok = headerBytes(new Map(Array.from({ length: 300 }, (_, i) => [5000 + i, { type: TagType.STRING_ARRAY, v: ['a', 'b'] }] as const)));
  assert.equal(new Header(ok.subarray(16), 300, 'main header').strings(5299)?.join(), 'a,b');
});

test('an ELF member with 65535 note segments claiming 1 MiB each asks for a bounded amount', () => {
  const { bytes } = buildElf({
    is64: true, le: true, type: 2, phdrs: [{ type: 4, offset: 2 ** 31, size: 2 ** 20, align: 4 }], phRepeat: 5000,
    shdrs: [], shRepeat: 1, notes: [], noteRepeat: 1, entsizeDelta: 0, claimed: 'huge', sane: false,
  });
  const s = new ElfBuildIdScanner(2 ** 32); // as a cpio header may claim
  s.push(bytes);
  const wanted = (s as unknown as { wants: { buf: Buffer }[] }).wants.reduce((a, w) => a + w.buf.length, 0);
  // Before: one zero-filled megabyte per segment within the claimed size, 4 GB in all.
  assert.ok(wanted <= 16 << 20, `${wanted} bytes requested`);
  assert.equal(s.finish().elf, true);
});

test('a core whose modules list thousands of note segments, all mapped from one page, is read in bounded time', async () => {
  const hostile = buildElf({
    is64: true, le: true, type: 3, phdrs: [{ type: 4, offset: 0, size: 2 ** 20, align: 4 }], phRepeat: 9000,
    shdrs: [], shRepeat: 1, notes: [], noteRepeat: 1, entsizeDelta: 0, claimed: 'actual', sane: false,
  }).bytes;
  const base = 0x7f0000000000n;
  const files = Array.from({ length: 50 }, (_, i) => ({ path: `/usr/lib64/lib${i}.so`, start: base, end: base + 0x200000n, pgoff: 0n }));
  const core = coreBuffer(buildCore({
    is64: true, le: true, files, loads: [
      { vaddr: base, memsz: 0x200000n, flags: 5, data: Buffer.concat([hostile, Buffer.alloc(0x200000 - hostile.length)]) },
      { vaddr: 0x400000n, memsz: 0x1000n, flags: 5, data: modulePage({ is64: true, le: true, id: Buffer.alloc(20, 1) }) },
    ],
  }));
  const file = join(tempDir(), 'core');
  writeFileSync(file, core);
  const started = Date.now();
  const mods = await readCoreModules(file);
  // Before: 50 modules x 9000 segments x 1 MiB read = 450 GB.
  assert.equal(mods.length, 50);
  assert.ok(mods.every((m) => m.buildId === undefined));
  assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
});

test('a .conf value naming another many times over, ten levels deep, is an error, not gigabytes', () => {
  const levels = (v0: string, k: number): string => ['[DEFAULT]', `v0 = ${v0}`,
    ...Array.from({ length: 9 }, (_, i) => `v${i + 1} = ${`%(v${i})s`.repeat(k)}`)].join('\n');
  const big = parseConfig(levels('xxxxxxxxxx', 8), 'bomb.conf');
  assert.throws(() => big.get('DEFAULT', 'v9'),
    (e: Error) => e instanceof InterpolationError && /: expands to more than 1048576 characters$/.test(e.message));
  // Expanding to nothing, 8^9 times over, took forever before; now each name is expanded once per level.
  const empty = parseConfig(levels('', 8), 'bomb.conf');
  assert.equal(empty.get('DEFAULT', 'v9')?.value, '');
});

test('kickstart: includes that fan out are stopped after 256', async () => {
  const files = new Map<string, string>([['/ks/top.ks', '%include a.ks\n%include a.ks\n%include a.ks\n']]);
  for (const [from, to] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g']]) {
    files.set(`/ks/${from}.ks`, `%include ${to}.ks\n`.repeat(4));
  }
  files.set('/ks/g.ks', 'lang C\n');
  const fetch = async (loc: string): Promise<string> => files.get(loc) ?? Promise.reject(new UserError(`kickstart ${loc} does not exist`));
  await assert.rejects(flattenKickstart(files.get('/ks/top.ks')!, { origin: '/ks/top.ks', fetch }),
    (e: Error) => e instanceof UserError && /more than 256 %include and %ksappend lines in all/.test(e.message));
});

test('kickstart: an %include of a URL that does not parse is a UserError naming the line', async () => {
  for (const ref of ['http://[::1', 'http://%zz/']) {
    await assert.rejects(flattenKickstart(`lang C\n%include ${ref}\n`, { origin: '/ks/main.ks', fetch: async () => '' }),
      (e: Error) => e instanceof UserError && e.message === `/ks/main.ks:2: %include ${ref}: not a valid URL`);
  }
});

test('XML-RPC: parser errors and quoted text stay on one line, without "undefined"', () => {
  const doc = (v: string): string => `<methodResponse><params><param><value>${v}</value></param></params></methodResponse>`;
  for (const [xml, message] of [
    ['', 'malformed XML (Start tag expected at line 1)'], // was "(Start tag expected.:1:undefined)"
    ['x<', "malformed XML (char 'x' is not expected at line 1, column 1)"],
    [doc('<double>1\n2</double>'), '<double> holds "1 2"'], // the line break was printed as is
    [doc('<boolean>\tyes</boolean>'), '<boolean> holds "yes"'],
    [doc('<dateTime.iso8601>2024\n</dateTime.iso8601>'), '<dateTime.iso8601> holds "2024 ", not a date'],
  ] as const) {
    assert.throws(() => decodeResponse(xml), (e: Error) => e instanceof FormatError && e.message === message);
  }
});

test('cpio: member names and header fields are quoted on one line', async () => {
  const bad = Buffer.concat([Buffer.from('070701'), Buffer.from('0000000\n'), Buffer.alloc(96, 0x30)]);
  assert.throws(() => new CpioParser({ entry: () => undefined }).push(bad),
    (e: Error) => e instanceof FormatError && e.message === 'cpio header at archive byte 0 has a bad field "0000000\\x0a"');
  const cut = newc([{ name: './a\nb', data: Buffer.alloc(100) }]).subarray(0, 140);
  const p = new CpioParser({ entry: () => undefined });
  p.push(cut);
  assert.throws(() => p.end(), (e: Error) => e instanceof FormatError && /^payload ends inside cpio member \/a\\x0ab at archive byte 140/.test(e.message));
  const a = new CpioArchive(new ChunkReader(Readable.from([cut])[Symbol.asyncIterator]()));
  await a.next();
  await assert.rejects(a.next(), (e: Error) => e instanceof FormatError && /^payload ends inside cpio member \.\/a\\x0ab at/.test(e.message));
});

test('.conf: a lone CR ends a line, as in Python; continued values print on one line in problems', () => {
  const cf = parseConfig('[DEFAULT]\rtype = dvd\r[dvd]\rname = a\r  b\r', 'x.conf');
  assert.deepEqual(cf.errors, []);
  assert.equal(cf.get('dvd', 'type')?.value, 'dvd');
  assert.equal(cf.get('dvd', 'name')?.value, 'a\nb');
  assert.throws(() => parseConfig('[s]\na = x\n  %(nope)s\n', 'y.conf').get('s', 'a'),
    (e: Error) => e instanceof InterpolationError && e.message === 'y.conf [s] a = "x\\n%(nope)s": %(nope)s refers to a key that is not set in [s] or [DEFAULT]');
  assert.throws(() => parseConfig('[DEFAULT]\na = %(nope)s\n', 'z.conf').get('DEFAULT', 'a'), /not set in \[DEFAULT\]$/);
  const dir = tempDir();
  mkdirSync(join(dir, 'c'));
  writeFileSync(join(dir, 'c', 'imagebuild.conf'), '[DEFAULT]\ntype = dvd\narch = x86_64\n  i686\n[dvd]\nversion = 40\n');
  const r = loadImageConfig({ configFile: join(dir, 'c', 'imagebuild.conf'), host: { machine: 'x86_64' } });
  const arch = r.problems.find((p) => p.key === 'arch');
  assert.ok(arch, JSON.stringify(r.problems));
  assert.match(formatProblem(arch), /arch = "x86_64\\ni686"/);
  for (const p of r.problems) oneLine(formatProblem(p));
});
