// One fuzz target per parser, each calling the code the way the product does: the indexer's
// scanRpm (headers, digests, payload), the find command's extractFromRpm, the payload scan's
// cpio parser and ELF scanner, `query --core`'s readCoreModules, the Koji client's XML-RPC
// decoder, the kickstart flattener and reader, and the .conf reader with the image config
// loader. Used by fuzz/run.ts (npm run fuzz) and test/fuzz.test.ts.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { ChunkReader, CpioArchive } from '../src/lib/cpio/reader.ts';
import { readCoreModules } from '../src/lib/elf/core.ts';
import { ElfBuildIdScanner, scanElfBuffer } from '../src/lib/elf/scanner.ts';
import { findBuildId, parseNotes } from '../src/lib/elf/notes.ts';
import { noteSections, noteSegments, parseElfHeader } from '../src/lib/elf/header.ts';
import { extractFromRpm } from '../src/lib/find/extract.ts';
import { buildIdsFromHeader } from '../src/lib/index/header-ids.ts';
import { PayloadIdScanner, strippedResolver } from '../src/lib/index/payload-ids.ts';
import { packageId, scanRpm } from '../src/lib/index/scan.ts';
import { decodeResponse, encodeCall, type XmlRpcValue } from '../src/lib/koji/xmlrpc.ts';
import { parseConfig, DEFAULT_SECTION, InterpolationError } from '../src/lib/image/configparser.ts';
import { formatProblem, loadImageConfig } from '../src/lib/image/config.ts';
import { addRepo, flattenKickstart, kickstartWords, parseKickstartSummary, unifiedDiff } from '../src/lib/image/kickstart.ts';
import { UserError } from '../src/lib/errors.ts';
import { distTag, splitNvr } from '../src/lib/rpm/disttag.ts';
import { archiveSize, describeRpm, hardLinkSets, isRegular } from '../src/lib/rpm/package.ts';
import { readRpmHeaders } from '../src/lib/rpm/reader.ts';
import type { Header } from '../src/lib/rpm/header.ts';
import { buildRpm, generatedRpmArb, type GeneratedRpm } from './rpm-builder.ts';
import { buildElf, generatedCoreArb, generatedElfArb, GEN_BASES, GEN_PATHS, type GeneratedCore, type GeneratedElf } from './elf-builder.ts';
import { coreBuffer, modulePage, type CoreSpec } from '../test/helpers/core-builder.ts';
import { checkMessage, OracleFailure, type Target } from './harness.ts';
import { applyCase, caseArb, chunked, chunkSizesArb, type MutatedCase, type Seed } from './mutate.ts';
import { confSeeds, coreSeeds, cpioSeeds, elfSeeds, kickstartSeeds, MemorySource, rpmSeeds, type CpioSeed, type RpmSeed } from './seeds.ts';

const BUILD_ID = /^[0-9a-f]{8,64}$/;

function fail(message: string): never {
  throw new OracleFailure(message);
}

/** Scratch space for targets that need files; removed at exit. */
function scratch(name: string): string {
  const base = process.env.DARKFORGE_FUZZ_TMP ?? (process.platform === 'linux' ? '/dev/shm' : tmpdir());
  let dir: string;
  try {
    dir = mkdtempSync(join(base, `darkforge-fuzz-${name}-`));
  } catch {
    dir = mkdtempSync(join(tmpdir(), `darkforge-fuzz-${name}-`));
  }
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// RPM: lead, signature and main header, the file list and the header-only build-ids

/** A fixture with edits, or a generated package (see rpm-builder.ts). */
type RpmInput = { kind: 'mutated'; c: MutatedCase } | { kind: 'built'; g: GeneratedRpm };

function rpmInputArb(maxMutations: number): fc.Arbitrary<RpmInput> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('mutated' as const), c: caseArb([], maxMutations) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('built' as const), g: generatedRpmArb }) },
  );
}

function rpmBytes(seeds: RpmSeed[], i: RpmInput): { bytes: Buffer; seed?: RpmSeed } {
  if (i.kind === 'built') return { bytes: buildRpm(i.g) };
  const { seed, bytes } = applyCase(seeds, i.c);
  return { bytes, seed: seed as RpmSeed };
}

/** What a header decoded into stays within what its bytes can hold. */
function checkDecodedSize(h: Header, bytes: number): void {
  let values = 0;
  for (const e of h.entries.values()) values += Array.isArray(e.value) || Buffer.isBuffer(e.value) ? e.value.length : 1;
  if (values > bytes + h.entries.size) fail(`${h.what}: ${values} values decoded from ${bytes} bytes`);
}

export function rpmHeaderTarget(seeds: RpmSeed[]): Target<RpmInput> {
  return {
    name: 'rpm-header',
    about: 'fixture RPMs (headers focused, field-aware) and generated ones (file-list tags, raw index entries) through readRpmHeaders, describeRpm and the header-only scan',
    arbitrary: rpmInputArb(8),
    bytes: (i) => rpmBytes(seeds, i).bytes,
    async run(i) {
      const { bytes } = rpmBytes(seeds, i);
      const h = await readRpmHeaders(new MemorySource(bytes));
      checkDecodedSize(h.signature, bytes.length);
      checkDecodedSize(h.header, h.headerBytes.length);
      const info = describeRpm(h);
      const pkgid = packageId(info, h);
      if (!/^([0-9a-f]{32}|sha256:[0-9a-f]{64})$/.test(pkgid)) fail(`package id "${pkgid}"`);
      const hs = buildIdsFromHeader(info);
      for (const r of hs.rows) if (!BUILD_ID.test(r.buildId)) fail(`header scan gave build-id "${r.buildId}"`);
      hardLinkSets(info.files);
      if (!(archiveSize(info) >= 0)) fail('negative archive size');
      const resolve = strippedResolver(info);
      for (const fx of [0, 1, info.files.length - 1, info.files.length, 0xffffffff]) resolve(fx);
      distTag(info.release);
      splitNvr(info.nvr);
      return `${i.kind}: header ${hs.complete ? 'complete' : 'incomplete'}`;
    },
  };
}

type ScanCase = { rpm: RpmInput; chunks: number[]; mode: 'index' | 'index-full' | 'extract'; pick: number };

/**
 * The indexer's and the find command's entry points on whole RPMs: digests, decompression, cpio
 * and ELF all run. Extraction must leave the destination folder holding the file or nothing.
 */
export function rpmScanTarget(seeds: RpmSeed[]): Target<ScanCase> {
  const dir = scratch('extract');
  let n = 0;
  return {
    name: 'rpm-scan',
    about: 'fixture RPMs (edits anywhere) and generated ones through scanRpm (header-first and --full) and extractFromRpm',
    arbitrary: fc.record({ rpm: rpmInputArb(4), chunks: chunkSizesArb, mode: fc.constantFrom('index' as const, 'index-full' as const, 'extract' as const), pick: fc.nat() }),
    bytes: (i) => rpmBytes(seeds, i.rpm).bytes,
    async run(i) {
      const { bytes, seed } = rpmBytes(seeds, i.rpm);
      const src = new MemorySource(bytes, i.chunks);
      if (i.mode !== 'extract') {
        const r = await scanRpm(src, { full: i.mode === 'index-full' });
        if ('skipped' in r) return `${i.rpm.kind}: skipped`;
        for (const row of r.rows) if (!BUILD_ID.test(row.buildId)) fail(`scan gave build-id "${row.buildId}"`);
        return `${i.rpm.kind}: indexed (${r.method})`;
      }
      // The file to extract: one the package lists (as the index would have it).
      let wanted: string;
      if (seed) {
        const regular = seed.info.files.filter((f) => isRegular(f.mode) && f.size > 0);
        if (!regular.length) return 'no regular file';
        wanted = regular[i.pick % regular.length].path;
      } else {
        const g = (i.rpm as { g: GeneratedRpm }).g;
        const f = g.files[i.pick % (g.files.length || 1)];
        wanted = f ? `${(g.dirs.length ? g.dirs : ['/usr/bin/'])[f.dir % Math.max(1, g.dirs.length)] ?? ''}${f.base}` : '/usr/bin/prog';
      }
      const where = join(dir, String(n++));
      mkdirSync(where);
      try {
        const dest = join(where, 'out');
        try {
          await extractFromRpm(src, wanted, dest);
        } catch (e) {
          const left = readdirSync(where);
          if (left.length) fail(`a failed extraction left ${left.join(', ')} behind`);
          throw e;
        }
        const left = readdirSync(where);
        if (!isDeepStrictEqual(left, ['out'])) fail(`extraction left ${left.join(', ')}`);
        return `${i.rpm.kind}: extracted`;
      } finally {
        rmSync(where, { recursive: true, force: true });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// cpio: the payload scan (CpioParser + ELF scanner, pushed in chunks) and CpioArchive (find)

type CpioCase = { c: MutatedCase; chunks: number[]; readBodies: boolean };

export function cpioTarget(seeds: CpioSeed[]): Target<CpioCase> {
  return {
    name: 'cpio',
    about: 'decompressed fixture payloads and hand-made newc/stripped archives (header fields aware) through PayloadIdScanner and CpioArchive',
    arbitrary: fc.record({ c: caseArb([], 6), chunks: chunkSizesArb, readBodies: fc.boolean() }),
    bytes: (i) => applyCase(seeds, i.c).bytes,
    async run(i) {
      const { seed, bytes } = applyCase(seeds, i.c);
      const info = (seed as CpioSeed).info ?? ({ files: [], largeFiles: false } as unknown as Parameters<typeof strippedResolver>[0]);
      const opts = { headLimit: 4096 };
      // The payload scan, in the given chunks and again in one piece: both ways, the same answer.
      const scan = (parts: Buffer[]): { rows?: string; error?: unknown } => {
        const s = new PayloadIdScanner(info, opts);
        try {
          for (const p of parts) s.push(p);
          const r = s.finish();
          for (const row of r.rows) if (!BUILD_ID.test(row.buildId)) fail(`payload scan gave build-id "${row.buildId}"`);
          return { rows: JSON.stringify(r) };
        } catch (e) {
          if (e instanceof OracleFailure) throw e;
          return { error: e };
        } finally {
          s.close();
        }
      };
      const a = scan(chunked(bytes, i.chunks));
      const b = scan([bytes]);
      if (a.rows !== b.rows || (a.error as Error)?.message !== (b.error as Error)?.message) {
        fail(`chunking changed the payload scan: ${a.rows ?? (a.error as Error)?.message} vs ${b.rows ?? (b.error as Error)?.message}`);
      }
      // CpioArchive, as find reads it.
      const archive = new CpioArchive(new ChunkReader(Readable.from(chunked(bytes, i.chunks))[Symbol.asyncIterator]()), {
        stripped: info.largeFiles ? strippedResolver(info) : undefined,
      });
      let members = 0;
      for (let e = await archive.next(); e; e = await archive.next()) {
        if (typeof e.path !== 'string' || !e.path.startsWith('/')) fail(`member path "${e.path}"`);
        if (!(e.size >= 0)) fail(`member size ${e.size}`);
        if (i.readBodies) for await (const _ of archive.body()) { /* read */ }
        if (++members > bytes.length) fail('more members than bytes: the archive walk does not advance');
      }
      if (a.error) throw a.error;
      return members ? 'archive walked' : 'empty archive';
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ELF: the streaming build-id scanner (whole, chunked, with a small head and a spill file)

type ElfCase = {
  elf: { kind: 'mutated'; c: MutatedCase } | { kind: 'built'; g: GeneratedElf };
  chunks: number[]; headLimit: number; notes: Uint8Array; le: boolean; align: number;
};

export function elfTarget(seeds: Seed[]): Target<ElfCase> {
  const spillDir = scratch('spill');
  const elfOf = (i: ElfCase): { bytes: Buffer; size: number } => {
    if (i.elf.kind === 'built') return buildElf(i.elf.g);
    const { bytes } = applyCase(seeds, i.elf.c);
    return { bytes, size: bytes.length };
  };
  return {
    name: 'elf',
    about: 'ELF files from the fixtures and made ones (header, table and note fields aware), and generated ones (thousands of note segments/sections pointing anywhere, members claiming 4 GB) through the build-id scanner, whole and streamed with a spill file; raw note areas',
    arbitrary: fc.record({
      elf: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('mutated' as const), c: caseArb([], 6) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('built' as const), g: generatedElfArb }) },
      ),
      chunks: chunkSizesArb, headLimit: fc.constantFrom(64, 200, 1024, 4096, 1 << 20),
      notes: fc.uint8Array({ maxLength: 96 }), le: fc.boolean(), align: fc.constantFrom(0, 4, 8, 3),
    }),
    bytes: (i) => elfOf(i).bytes,
    run(i) {
      const { bytes, size } = elfOf(i);
      const whole = scanElfBuffer(bytes);
      const s = new ElfBuildIdScanner(size, { headLimit: i.headLimit, spillDir });
      let streamed;
      try {
        for (const p of chunked(bytes, i.chunks)) if (s.push(p)) break;
      } finally {
        streamed = s.finish();
      }
      for (const r of [whole, streamed]) if (r.buildId !== undefined && !BUILD_ID.test(r.buildId)) fail(`build-id "${r.buildId}"`);
      // Chunking never changes what the header says; with the whole file kept in memory it never
      // changes the build-id either. (With a small head a note lying before the table that points
      // at it has gone by: the streamed scan may then miss an id the whole scan finds.)
      const sameId = whole.buildId === streamed.buildId;
      const comparable = size === bytes.length;
      if (comparable && (whole.elf !== streamed.elf || whole.kind !== streamed.kind || (!sameId && i.headLimit >= bytes.length))) {
        fail(`streamed (head ${i.headLimit}) and whole scans disagree: ${JSON.stringify(streamed)} vs ${JSON.stringify(whole)}`);
      }
      const h = parseElfHeader(bytes);
      if (h) {
        noteSegments(h, bytes.subarray(Math.min(h.phoff, bytes.length)));
        noteSections(h, bytes.subarray(Math.min(h.shoff, bytes.length)));
      }
      const raw = Buffer.from(i.notes);
      for (const _ of parseNotes(raw, i.le, i.align)) { /* walk */ }
      findBuildId(raw, i.le, i.align);
      const kind = i.elf.kind === 'built' ? 'built: ' : '';
      if (!whole.elf) return `${kind}not ELF`;
      if (!comparable) return `${kind}${streamed.buildId ? 'build-id' : 'no build-id'} (member claims ${size > bytes.length ? 'more' : 'less'})`;
      return kind + (sameId ? (whole.buildId ? 'build-id' : 'no build-id') : 'small head missed the id');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// core dumps: readCoreModules on a file

/** A core from a generated description (see elf-builder.ts), with the test suite's builder. */
function buildGeneratedCore(g: GeneratedCore): Buffer {
  const word = (v: number): bigint => BigInt(g.is64 ? v : v % 2 ** 32);
  const spec: CoreSpec = {
    is64: g.is64, le: g.le, pageSize: 4096,
    files: g.files.map((f) => ({
      path: GEN_PATHS[f.path], start: word(GEN_BASES[f.base]), end: word(GEN_BASES[f.base] + f.len), pgoff: word(f.pgoff),
    })),
    loads: g.loads.map((l) => {
      const data = l.page === 'module' ? modulePage({ is64: g.is64, le: g.le, id: Buffer.alloc(20, l.id) })
        : l.page === 'hostile' ? buildElf({ ...g.hostile, is64: g.is64, le: g.le, type: 3 }).bytes
        : l.page === 'junk' ? Buffer.alloc(4096, l.id) : undefined;
      return { vaddr: word(GEN_BASES[l.base]), memsz: word(Math.max(4096, data?.length ?? 0)), flags: l.flags, data };
    }),
  };
  if (g.auxv < GEN_BASES.length) spec.auxv = [[33n, word(GEN_BASES[g.auxv])]];
  if (g.fileCount >= 0) spec.fileCount = word(g.fileCount);
  return coreBuffer(spec);
}

type CoreCase = { kind: 'mutated'; c: MutatedCase } | { kind: 'built'; g: GeneratedCore };

export function coreTarget(seeds: Seed[]): Target<CoreCase> {
  const dir = scratch('core');
  const file = join(dir, 'core');
  const bytesOf = (i: CoreCase): Buffer => (i.kind === 'built' ? buildGeneratedCore(i.g) : applyCase(seeds, i.c).bytes);
  return {
    name: 'core',
    about: 'made ELF core dumps (32/64-bit, both byte orders; header, program header, note fields aware) and generated ones (many mappings sharing pages, hostile module headers) through readCoreModules',
    arbitrary: fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('mutated' as const), c: caseArb([], 6) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('built' as const), g: generatedCoreArb }) },
    ),
    bytes: bytesOf,
    async run(i) {
      writeFileSync(file, bytesOf(i));
      const mods = await readCoreModules(file);
      for (const m of mods) {
        if (typeof m.path !== 'string' || !/^0x[0-9a-f]+$/.test(m.start) || !/^0x[0-9a-f]+$/.test(m.end)) fail(`module ${JSON.stringify(m)}`);
        if (m.buildId !== undefined && !BUILD_ID.test(m.buildId)) fail(`module build-id "${m.buildId}"`);
      }
      return `${i.kind}: ${Math.min(mods.length, 5)}${mods.length > 4 ? '+' : ''} modules`;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// XML-RPC: mutated hub responses, and encode -> decode round trips of generated values

const XML_TOKENS = [
  '<value>', '</value>', '<struct>', '</struct>', '<member>', '</member>', '<name>', '</name>', '<array>', '<data>', '</data>',
  '</array>', '<int>', '</int>', '<i8>', '<i4>', '<double>', '<boolean>', '<string>', '</string>', '<base64>', '<nil/>',
  '<ex:nil/>', '<dateTime.iso8601>', '<params>', '<param>', '<fault>', '<methodResponse>', '</methodResponse>', '&amp;', '&lt;',
  '&#65;', '&#x1F600;', '&#0;', '&#xFFFFFFFF;', '&bogus;', '&', '<![CDATA[', ']]>', '<!--', '-->', '<?xml version="1.0"?>',
  '<!DOCTYPE x [<!ENTITY a "aaaa">]>', '&a;', '__proto__', 'constructor', '99999999999999999999', '-9223372036854775809', 'NaN',
  '1e309', '20240230T25:61:61', ' ', '\n', '"', "'", '>', '<', '/',
];

function xmlResponseSeeds(): Seed[] {
  const wrap = (v: XmlRpcValue): string => encodeCall('x', [v])
    .replace('<methodCall><methodName>x</methodName><params>', '<methodResponse><params>').replace('</methodCall>', '</methodResponse>');
  const build = {
    build_id: 2191547, package_name: 'bash', version: '5.2.15', release: '3.fc38', nvr: 'bash-5.2.15-3.fc38', state: 1,
    creation_ts: 1700000000.123, completion_time: new Date(Date.UTC(2023, 10, 14, 22, 13, 20)), volume_name: 'DEFAULT', extra: null,
    owner_name: 'a&b <c>', size: 2n ** 40n,
  };
  const texts = [
    wrap(build),
    wrap([{ id: 1, name: 'bash', arch: 'x86_64', payloadhash: 'e3b0c44298fc1c149afbf4c8996fb924', size: 1234567 }, { id: 2, name: 'bash-debuginfo', arch: 'x86_64', payloadhash: null, size: 0 }]),
    wrap([[build], { faultCode: 1000, faultString: 'No such build' }]),
    wrap(Buffer.from('binary\0data')),
    wrap([true, false, -1.5e-7, '', 'line\r\nbreak']),
    `<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>1000</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>koji.GenericError: Invalid build: 'nope'</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n`,
    `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value>untyped &amp; spaced  </value>\n<value><ex:nil xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"/></value>\n<value><i8>9007199254740993</i8></value>\n<value><dateTime.iso8601>2024-01-02T03:04:05+01:00</dateTime.iso8601></value>\n<value><string><![CDATA[<raw>]]></string></value>\n</data></array></value>\n</param>\n</params>\n</methodResponse>\n`,
  ];
  return texts.map((t, k) => ({ name: `response ${k}`, bytes: Buffer.from(t) }));
}

/** XML-RPC values with everything a hub may send; strings only of characters XML can carry. */
const xmlChar = fc.oneof(
  fc.constantFrom(' ', '\t', '\n', '\r', '&', '<', '>', '"', "'", ']]>', '&amp;', '\u00e9', '\u{1F600}', '\ufffd'),
  fc.string({ unit: 'binary', maxLength: 6 }).map((s) => s.replace(/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '')),
);
const xmlString = fc.array(xmlChar, { maxLength: 6 }).map((a) => a.join(''));
const { value: xmlValue } = fc.letrec<{ value: XmlRpcValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    xmlString,
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
    fc.integer({ min: 0, max: 253402300799 }).map((s) => new Date(s * 1000)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(xmlString, tie('value'), { maxKeys: 4 }),
  ),
}));

/**
 * What decoding gives back for a value: integers (numbers or bigints alike) as numbers when they
 * are safe, else as bigints; -0 as 0.
 */
function normalized(v: XmlRpcValue): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : Number.isInteger(v) && !Number.isSafeInteger(v) && Math.abs(v) < 2 ** 63 ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(normalized);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: normalized(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

type XmlCase = { kind: 'mutated'; c: MutatedCase } | { kind: 'roundtrip'; v: XmlRpcValue };

export function xmlrpcTarget(): Target<XmlCase> {
  const seeds = xmlResponseSeeds();
  const text = (i: XmlCase): string => i.kind === 'mutated' ? applyCase(seeds, i.c, XML_TOKENS).bytes.toString('utf8') : '';
  return {
    name: 'xmlrpc',
    about: 'Koji-like methodResponse documents (XML-token mutations) through decodeResponse; generated values round-tripped through encodeCall/decodeResponse',
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant('mutated' as const), c: caseArb(XML_TOKENS, 6) }),
      fc.record({ kind: fc.constant('roundtrip' as const), v: xmlValue }),
    ),
    bytes: text,
    run(i) {
      if (i.kind === 'mutated') {
        const r = decodeResponse(text(i));
        return 'fault' in r ? 'fault' : 'value';
      }
      const doc = encodeCall('x', [i.v]).replace('<methodCall><methodName>x</methodName><params>', '<methodResponse><params>')
        .replace('</methodCall>', '</methodResponse>');
      let r;
      try {
        r = decodeResponse(doc);
      } catch (e) {
        fail(`a response we encoded does not decode: ${(e as Error).message}: ${doc.slice(0, 300)}`);
      }
      if (!('value' in r)) fail('a value came back as a fault');
      if (!isDeepStrictEqual(normalized(r.value), normalized(i.v))) {
        fail(`round trip changed the value: ${doc.slice(0, 300)}`);
      }
      return 'round trip';
    },
  };
}

// ---------------------------------------------------------------------------------------------
// kickstart: flatten (with includes from memory), summary, repo insertion, diff

const KS_TOKENS = [
  '%include ', '%ksappend ', '%packages', '%packages --nocore --excludedocs', '%post', '%post --nochroot --erroronfail', '%pre',
  '%end', '%addon com_x', '%anaconda', '\n', '\r\n', '\r', ' ', '\t', '"', "'", '\\', '#', '@', '-@', '-', '^', '=',
  'repo --name=', 'repo --name="a b" --baseurl=http://x/', '--baseurl=', '--mirrorlist=', 'rootpw --iscrypted ', 'lang ',
  'keyboard --vckeymap=', 'timezone ', 'services --enabled=', 'http://ks.example/', 'http://[::1', 'http://%zz/', 'ftp://',
  'file:///etc/', '../', '/dev/zero', 'fedora-minimal.ks', 'locale.ks', 'snippets/mirror.ks', 'a.ks', 'b.ks', '\uFEFF', '\u2028',
  '$(reboot)', '`id`', ';rm -rf /;',
];

type KsCase = { c: MutatedCase; name: string; url: string };

export function kickstartTarget(): Target<KsCase> {
  const files = kickstartSeeds();
  const seeds: Seed[] = files.map((f) => ({ name: f.name, bytes: f.bytes }));
  const byPath = new Map(files.map((f) => [f.path, f.bytes.toString('utf8')]));
  byPath.set('http://ks.example/a.ks', '%include b.ks\nlang C\n');
  byPath.set('http://ks.example/b.ks', 'keyboard us\n%packages\nvim\n%end\n');
  // Includes come from memory: the fixture files by path, two made-up URLs; anything else is missing.
  const fetch = async (loc: string): Promise<string> => {
    const t = byPath.get(loc);
    if (t === undefined) throw new UserError(`kickstart ${loc} does not exist`);
    return t;
  };
  return {
    name: 'kickstart',
    about: 'fixture and shipped kickstarts (token mutations: sections, includes, quotes, URLs) through flattenKickstart, parseKickstartSummary, addRepo, unifiedDiff',
    arbitrary: fc.record({
      c: caseArb(KS_TOKENS, 8),
      name: fc.oneof(fc.constant('koji-side'), fc.string({ maxLength: 12 })),
      url: fc.oneof(fc.constant('file:///var/tmp/side repo'), fc.webUrl(), fc.string({ maxLength: 12 })),
    }),
    bytes: (i) => applyCase(seeds, i.c, KS_TOKENS).bytes,
    async run(i) {
      const { seed, bytes } = applyCase(seeds, i.c, KS_TOKENS);
      const text = bytes.toString('utf8');
      const origin = files.find((f) => f.name === seed.name)!.path;
      const flat = await flattenKickstart(text, { origin, fetch });
      const sum = parseKickstartSummary(flat);
      for (const r of sum.repos) if (typeof r.name !== 'string') fail('repo without a name string');
      for (const line of flat.split('\n')) kickstartWords(line);
      unifiedDiff(text, flat, 'a', 'b');
      let added: string;
      try {
        added = addRepo(flat, { name: i.name, baseurl: i.url });
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        checkMessage(e.message, e.name, `${text}${i.name}${i.url}`, e);
        return 'repo refused';
      }
      // The line we add must read back as the repo we meant, wherever it went.
      const again = parseKickstartSummary(added).repos;
      if (!again.some((r) => r.name === i.name && r.baseurl === i.url)) {
        fail(`addRepo's line does not read back as ${JSON.stringify({ name: i.name, baseurl: i.url })}`);
      }
      if (again.length !== sum.repos.length + 1) fail(`addRepo changed the other repos (${sum.repos.length} -> ${again.length - 1})`);
      return 'flattened';
    },
  };
}

// ---------------------------------------------------------------------------------------------
// .conf: the ConfigParser reader and the image config loader (both layouts)

const CONF_TOKENS = [
  '[DEFAULT]', '[boot]', '[dvd]', '[live]', '[smtp]', '[17]', '[', ']', '\n', '\r\n', '\n  ', '\t', ' = ', ': ', '=', ':', '#', ';',
  '%(', ')s', '%(arch)s', '%(release)s', '%(basearch)s', '%(nope)s', '%%', '%', '%(x)s', 'x = %(x)s', 'a = %(b)s\nb = %(a)s',
  'type = ', 'arch = ', 'release = ', 'backend = ', 'staging = ', 'email = ', 'nvr = ', 'bid = ', 'config = ', 'updates = ',
  'format = ', 'bootiso = ', 'port = ', 'password = ', 'x86_64', 'i686', 'ppc64le', 'rawhide', 'builtin', 'tar.zst',
  'ftp://user:pw@host/path', 'scp://h/p', 'file:///tmp', 'javascript:alert(1)', '$(reboot)', '`id`', ';', '|', '&&', '\u00a0',
  '__proto__', 'constructor', 'hasOwnProperty', '"', '""',
];

type ConfCase = { c: MutatedCase; layout: number; which: number; type: 'boot' | 'dvd' | 'live' };

export function confTarget(): Target<ConfCase> {
  const { single, split, all } = confSeeds();
  const dir = scratch('conf');
  let n = 0;
  return {
    name: 'conf',
    about: 'shipped and fixture .conf files (token mutations: sections, continuations, %(name)s) through parseConfig/get and loadImageConfig in both layouts',
    arbitrary: fc.record({ c: caseArb(CONF_TOKENS, 8), layout: fc.nat(), which: fc.nat(), type: fc.constantFrom('boot' as const, 'dvd' as const, 'live' as const) }),
    bytes: (i) => applyCase(all, i.c, CONF_TOKENS).bytes,
    run(i) {
      // The reader alone, on any of the files.
      const text = applyCase(all, i.c, CONF_TOKENS).bytes.toString('utf8');
      const cf = parseConfig(text, 'x.conf');
      let interpolationErrors = 0;
      for (const section of [DEFAULT_SECTION, ...cf.sections()]) {
        for (const key of cf.keys(section)) {
          try {
            const e = cf.get(section, key, { arch: 'x86_64' });
            if (e && typeof e.value !== 'string') fail(`${section}.${key} is not a string`);
          } catch (e) {
            if (!(e instanceof InterpolationError)) throw e;
            checkMessage(e.message, e.name, text, e);
            interpolationErrors++;
          }
        }
      }
      for (const p of cf.errors) checkMessage(p.message, 'syntax problem', text);
      // The loader, on a folder holding one layout with one file mutated.
      const where = join(dir, String(n++));
      mkdirSync(where);
      try {
        const useSplit = i.layout % 3 === 0;
        const files = useSplit ? new Map(split[i.which % split.length]) : new Map([['imagebuild.conf', single[i.which % single.length].bytes]]);
        const names = [...files.keys()].sort();
        const target = useSplit ? names[i.c.seed % names.length] : 'imagebuild.conf';
        const seedFiles: Seed[] = [{ name: target, bytes: files.get(target)! }];
        files.set(target, applyCase(seedFiles, { ...i.c, seed: 0 }, CONF_TOKENS).bytes);
        for (const [f, b] of files) {
          mkdirSync(dirname(join(where, f)), { recursive: true });
          writeFileSync(join(where, f), b);
        }
        const r = loadImageConfig({ type: i.type, configFile: join(where, 'imagebuild.conf'), host: { machine: 'x86_64' } });
        if (!r.config === !r.problems.length) fail('loadImageConfig gave both or neither of config and problems');
        const loaded = [...files.values()].map((b) => b.toString('utf8')).join('\n');
        for (const p of r.problems) {
          if (typeof p.message !== 'string' || !p.message) fail(`problem without a message: ${JSON.stringify(p)}`);
          checkMessage(formatProblem(p), 'config problem', loaded);
        }
        return r.config ? 'config' : interpolationErrors ? 'problems (+interpolation)' : 'problems';
      } finally {
        rmSync(where, { recursive: true, force: true });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Every target, with its seeds loaded. */
export async function allTargets(): Promise<Target<never>[]> {
  const rpms = await rpmSeeds(true);
  const small = rpms.filter((r) => !r.info.largeFiles && !r.name.includes('seekable'));
  const cpio = await cpioSeeds(small);
  const elf = await elfSeeds(cpio);
  return [
    rpmHeaderTarget(rpms), rpmScanTarget(small), cpioTarget(cpio), elfTarget(elf), coreTarget(coreSeeds()),
    xmlrpcTarget(), kickstartTarget(), confTarget(),
  ] as unknown as Target<never>[];
}
