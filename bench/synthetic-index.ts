/**
 * A realistic synthetic build-id index, built fast, for size and lookup benchmarks.
 *
 * Exported (for bench/run.ts and the tests):
 *
 *   buildSyntheticIndex(opts: SyntheticOptions): SyntheticResult      (synchronous)
 *     opts.db         file to create (must not exist yet, or must be empty)
 *     opts.rows       number of files rows (build-id rows) to write, exactly
 *     opts.seed       PRNG seed (default 1): the same seed and rows give the same data
 *     opts.schema     'current' (default): through Store.addRpm, the real insert path, so the
 *                     schema is exactly what darkforge creates; 'v3': the schema and insert SQL
 *                     of schema version 3 (path TEXT, type TEXT, three indexes), for before/after
 *     opts.vacuum     VACUUM at the end (default true), so the file size is the data's size
 *     opts.batchRpms  RPMs per outer transaction (default 2000)
 *     opts.onProgress (rowsDone, rowsTotal) => void, called after every batch
 *   returns { db, schema, rows, rpms, builds, buildSeconds, vacuumSeconds, dbBytes, bytesPerRow }
 *
 *   synthRecords(rows: number, seed = 1): Generator<RpmRecord>
 *     the data alone: RPM records (with their file rows) as the indexer would hand them to Store.
 *
 *   openV3(file: string): { db, addRpm(rec): boolean }
 *     a database at schema version 3 written with version 3's SQL (test/index-schema.test.ts
 *     converts one to the current schema and compares every answer).
 *
 * As a script:
 *   node --import tsx bench/synthetic-index.ts --rows 10000000 --db FILE [--seed N] [--schema current|v3]
 *        [--no-vacuum] [--json]
 *
 * The data: ~50 build-id rows per RPM, ~3.3 RPMs per build (10 M rows ≈ 200 k RPMs ≈ 60 k builds),
 * packages with many builds over dist tags fc12..fc40, instances koji/arm/ppc/s390, arches
 * x86_64/i686/aarch64/armv7hl/ppc64le/s390x, heavy-tailed file counts (a few kernels with
 * thousands of modules). Paths are Fedora's: /usr/bin/foo, /usr/lib64/libfoo.so.1.2.3,
 * /usr/lib64/python3.11/site-packages/foo/_bar.cpython-311-x86_64-linux-gnu.so, kernel modules
 * under /lib/modules/KVER/; each binary's debug file (same build-id, type debuginfo) in the
 * -debuginfo RPM at /usr/lib/debug/PATH-V-R.ARCH.debug (fc27+ unique debug names) or
 * /usr/lib/debug/PATH.debug (older), plus one /usr/lib/debug/.dwz/NAME-V-R.ARCH per
 * debuginfo RPM (fc18+). About half of all rows are debuginfo. Build-ids are random 20-byte SHA1s;
 * every binary's id appears twice (binary and its .debug), as in Koji.
 * The generator's PRAGMAs (synchronous=OFF, journal_mode=MEMORY, a 1 GiB cache) are set on its own
 * connection only (the file is left in WAL mode, as Store leaves it); the schema and rows are the real ones.
 * Measured here (2 cores, shared): 10 M rows in ~310 s plus ~12 s of VACUUM, 1.10 GB, 110 bytes/row.
 */
import BetterSqlite3, { Database } from 'better-sqlite3';
import { existsSync, rmSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { FileType } from '../src/lib/index/filetype.ts';
import type { FileRow } from '../src/lib/index/rows.ts';
import type { RpmRecord } from '../src/lib/store/port.ts';
import { migrate } from '../src/lib/store/sqlite/schema.ts';
import { SqliteStore } from '../src/lib/store/sqlite/store.ts';

export interface SyntheticOptions {
  db: string;
  rows: number;
  seed?: number;
  schema?: 'current' | 'v3';
  vacuum?: boolean;
  batchRpms?: number;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

export interface SyntheticResult {
  db: string;
  schema: 'current' | 'v3';
  rows: number;
  rpms: number;
  builds: number;
  buildSeconds: number;
  vacuumSeconds: number;
  dbBytes: number;
  bytesPerRow: number;
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) || 0x9e3779b9; }
  /** mulberry32 */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  float(): number { return this.u32() / 4294967296; }
  int(n: number): number { return Math.floor(this.float() * n); }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.float() < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  normal(): number {
    const u = 1 - this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }
  private readonly buf = Buffer.alloc(64);
  hex(bytes: number): string {
    for (let i = 0; i < bytes; i += 4) this.buf.writeUInt32LE(this.u32(), i);
    return this.buf.toString('hex', 0, bytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Packages

const SYL = ['ab', 'ac', 'al', 'am', 'an', 'ar', 'at', 'ba', 'be', 'bi', 'bo', 'ca', 'ce', 'ci', 'co', 'cu', 'da', 'de', 'di',
  'do', 'du', 'el', 'em', 'en', 'er', 'es', 'fa', 'fe', 'fi', 'fo', 'ga', 'ge', 'gi', 'go', 'gu', 'ha', 'he', 'hi', 'ho', 'in',
  'io', 'ka', 'ke', 'ki', 'ko', 'la', 'le', 'li', 'lo', 'lu', 'ma', 'me', 'mi', 'mo', 'mu', 'na', 'ne', 'ni', 'no', 'nu', 'ob',
  'on', 'or', 'pa', 'pe', 'pi', 'po', 'pu', 'qu', 'ra', 're', 'ri', 'ro', 'ru', 'sa', 'se', 'si', 'so', 'su', 'ta', 'te', 'ti',
  'to', 'tu', 'ul', 'un', 'ur', 'va', 've', 'vi', 'vo', 'xa', 'xi', 'ya', 'yo', 'za', 'ze', 'zo'];
const WORDS = ['core', 'util', 'tool', 'common', 'daemon', 'agent', 'server', 'client', 'helper', 'plugin', 'gtk', 'qt', 'gui',
  'cli', 'io', 'net', 'http', 'xml', 'json', 'crypto', 'ssl', 'db', 'sql', 'audio', 'video', 'image', 'font', 'render', 'parse',
  'config', 'cache', 'proxy', 'sync', 'backend', 'format', 'codec', 'input', 'print', 'scan', 'test'];
const KDIRS = ['drivers/net/ethernet/intel', 'drivers/net/wireless/ath', 'drivers/gpu/drm', 'drivers/usb/serial', 'drivers/scsi',
  'drivers/media/usb', 'drivers/input/misc', 'drivers/hid', 'drivers/block', 'drivers/md', 'fs', 'net/netfilter', 'net/ipv4',
  'net/bluetooth', 'sound/pci/hda', 'sound/usb', 'crypto', 'lib', 'arch/x86/kvm', 'drivers/infiniband/hw', 'drivers/iio/adc',
  'drivers/staging', 'drivers/watchdog', 'drivers/platform/x86', 'drivers/mtd', 'drivers/i2c/busses', 'drivers/char'];

type Flavor = 'app' | 'lib' | 'python' | 'kernel';

interface FileTpl {
  /** Path with placeholders: {lib} lib or lib64, {v} version, {maj} major, {kver} V-R.ARCH, {py} 3.x, {triplet}. */
  path: string;
  type: FileType;
  /** Shipped in the -libs subpackage. */
  libs: boolean;
}

interface Pkg {
  name: string;
  flavor: Flavor;
  files: FileTpl[];
  hasLibs: boolean;
  builds: number;
  major: number;
  minor: number;
  patch: number;
  epoch?: number;
}

function word(r: Rng): string {
  let w = r.pick(SYL) + r.pick(SYL);
  if (r.chance(0.6)) w += r.pick(SYL);
  return w;
}

function makePackage(r: Rng, name: string, flavor: Flavor): Pkg {
  const files: FileTpl[] = [];
  const hasLibs = flavor === 'lib' || (flavor === 'app' && r.chance(0.3));
  let k: number;
  if (flavor === 'kernel') k = r.range(1500, 4500);
  else k = Math.max(1, Math.min(6000, Math.round(Math.exp(3.15 + 1.55 * r.normal()))));
  const used = new Set<string>();
  const add = (path: string, type: FileType, libs = false): void => {
    if (!used.has(path)) { used.add(path); files.push({ path, type, libs }); }
  };
  const base = name.replace(/^(python3?-|lib)/, '');
  if (flavor === 'kernel') {
    for (let i = 0; i < k; i++) add(`/lib/modules/{kver}/kernel/${r.pick(KDIRS)}/${word(r)}${r.chance(0.3) ? `_${word(r)}` : ''}.ko`, 'kernel-module');
    return { name, flavor, files, hasLibs: false, builds: 0, major: r.range(3, 6), minor: r.range(0, 19), patch: r.range(0, 30) };
  }
  for (let i = 0; files.length < k && i < k * 4; i++) {
    const x = r.float();
    if (flavor === 'python' || (x < 0.15 && flavor !== 'lib')) {
      add(`/usr/{lib}/python{py}/site-packages/${base}/${r.chance(0.5) ? '_' : ''}${word(r)}.cpython-{pynodot}-{triplet}.so`, 'shared-library');
    } else if (x < 0.35 || (flavor === 'app' && x < 0.6)) {
      const dir = r.pick(['/usr/bin', '/usr/bin', '/usr/bin', '/usr/sbin', `/usr/libexec/${base}`, '/usr/libexec']);
      add(`${dir}/${i === 0 ? base : `${base}-${r.pick(WORDS)}${r.chance(0.3) ? `-${r.pick(WORDS)}` : ''}`}`, 'executable');
    } else if (x < 0.75) {
      // Shared libraries: some carry the package version in the file name, some a soname version of their own.
      const lib = `lib${i === 0 ? base : `${base}-${r.pick(WORDS)}`}`;
      add(r.chance(0.5) ? `/usr/{lib}/${lib}.so.{maj}.{v}` : `/usr/{lib}/${lib}.so.${r.range(0, 9)}.${r.range(0, 30)}.0`, 'shared-library', hasLibs);
    } else {
      add(`/usr/{lib}/${base}/${r.pick(['plugins', 'modules', 'backends', 'filters'])}/${r.chance(0.5) ? 'lib' : ''}${r.pick(WORDS)}${word(r)}.so`, 'shared-library', hasLibs);
    }
  }
  return { name, flavor, files, hasLibs, builds: 0, major: r.range(0, 9), minor: r.range(0, 30), patch: r.range(0, 20), epoch: r.chance(0.1) ? r.range(1, 3) : undefined };
}

const LIB64 = new Set(['x86_64', 'aarch64', 'ppc64', 'ppc64le', 's390x']);
const TRIPLET: Record<string, string> = {
  x86_64: 'x86_64-linux-gnu', i686: 'i386-linux-gnu', aarch64: 'aarch64-linux-gnu', armv7hl: 'arm-linux-gnueabi',
  ppc64: 'powerpc64-linux-gnu', ppc64le: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu',
};
const HUB: Record<string, string> = {
  koji: 'https://kojipkgs.fedoraproject.org', arm: 'https://armpkgs.fedoraproject.org',
  ppc: 'https://ppc.koji.fedoraproject.org/kojifiles', s390: 'https://s390pkgs.fedoraproject.org',
};

/** Arches of one build, by hub and era. */
function archesFor(r: Rng, instance: string, fc: number): string[] {
  switch (instance) {
    case 'arm': return [fc < 27 ? 'armv7hl' : 'aarch64'];
    case 'ppc': return [fc < 21 ? 'ppc64' : 'ppc64le'];
    case 's390': return ['s390x'];
    default: {
      const a = ['x86_64'];
      if (fc < 31 ? r.chance(0.3) : r.chance(0.08)) a.push('i686');
      if (fc >= 27 && r.chance(0.12)) a.push('aarch64');
      return a;
    }
  }
}

function fill(tpl: string, v: { lib: string; v: string; maj: number; kver: string; py: string; triplet: string }): string {
  if (!tpl.includes('{')) return tpl;
  return tpl.replace(/\{(lib|v|maj|kver|py|pynodot|triplet)\}/g, (_m, k: string) => {
    switch (k) {
      case 'lib': return v.lib;
      case 'v': return v.v;
      case 'maj': return String(v.maj);
      case 'kver': return v.kver;
      case 'py': return v.py;
      case 'pynodot': return v.py.replace('.', '');
      default: return v.triplet;
    }
  });
}

/** RPM records, in the order an import would write them, until exactly `rows` file rows are out. */
export function* synthRecords(rows: number, seed = 1): Generator<RpmRecord> {
  const r = new Rng(seed);
  const nBuilds = Math.max(1, Math.round(rows / 166));
  const nPkgs = Math.max(1, Math.round(nBuilds / 10));
  const names = new Set<string>();
  const pkgs: Pkg[] = [];
  for (let i = 0; i < nPkgs; i++) {
    const x = r.float();
    const flavor: Flavor = x < 0.25 ? 'lib' : x < 0.4 ? 'python' : 'app';
    let name: string;
    do {
      const w = word(r);
      name = flavor === 'python' ? `python-${w}` : flavor === 'lib' ? (r.chance(0.5) ? `lib${w}` : w) : r.chance(0.2) ? `${word(r)}-${w}` : w;
    } while (names.has(name));
    names.add(name);
    pkgs.push(makePackage(r, name, flavor));
  }
  // Kernels: few builds (0.2 %), each with thousands of modules.
  const kernels = ['kernel', 'kernel-rt', 'kernel-tools'].map((n) => makePackage(r, n, 'kernel'));
  // Zipf-like popularity: a few packages get many builds.
  const weights = pkgs.map((_p, i) => 1 / Math.pow(i + 1, 0.8));
  const cum: number[] = [];
  let acc = 0;
  for (const w of weights) cum.push((acc += w));
  const pickPkg = (): Pkg => {
    const x = r.float() * acc;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] < x) lo = mid + 1; else hi = mid;
    }
    return pkgs[lo];
  };

  let left = rows;
  let kojiBuildId = 100000;
  while (left > 0) {
    const p = r.chance(0.002) ? r.pick(kernels) : pickPkg();
    p.builds++;
    if (p.builds > 1 && r.chance(0.45)) {
      if (r.chance(0.1)) { p.major++; p.minor = 0; p.patch = 0; } else if (r.chance(0.3)) { p.minor++; p.patch = 0; } else p.patch++;
    }
    const fc = Math.min(40, 12 + Math.floor(29 * Math.sqrt(r.float())));
    const version = p.flavor === 'kernel' ? `${p.major}.${p.minor}.${p.patch}` : `${p.major}.${p.minor}${p.patch ? `.${p.patch}` : ''}`;
    const release = p.flavor === 'kernel' ? `${r.range(100, 300)}.fc${fc}` : `${r.range(1, 12)}.fc${fc}`;
    const nvr = `${p.name}-${version}-${release}`;
    const x = r.float();
    const instances = [x < 0.85 ? 'koji' : x < 0.92 ? 'arm' : x < 0.97 ? 'ppc' : 's390'];
    // Secondary hubs rebuild some of the primary's NVRs.
    if (instances[0] === 'koji' && r.chance(0.08)) instances.push(r.pick(['arm', 'ppc', 's390']));
    for (const instance of instances) {
      const build = { name: p.name, version, release, nvr, kojiBuildId: kojiBuildId++, distro: `fc${fc}` };
      const arches = archesFor(r, instance, fc);
      const out: RpmRecord[] = [];
      const rpm = (name: string, arch: string, rows: FileRow[]): RpmRecord => {
        const nvra = `${name}-${version}-${release}.${arch}`;
        const rec: RpmRecord = {
          instance, pkgid: r.hex(16), build, name, epoch: p.epoch, version, release, arch, nvra,
          sourceRpm: `${nvr}.src.rpm`, url: `${HUB[instance]}/packages/${p.name}/${version}/${release}/${arch}/${nvra}.rpm`,
          size: 5000 + r.int(5_000_000), payloadCompressor: fc >= 31 ? 'zstd' : 'xz', method: 'header',
          elfFiles: rows.length, elfWithoutBuildId: 0, rows,
        };
        out.push(rec);
        return rec;
      };
      for (const arch of arches) {
        const kver = `${version}-${release}.${arch}`;
        const vars = { lib: LIB64.has(arch) ? 'lib64' : 'lib', v: version, maj: p.major, kver, py: fc >= 37 ? '3.11' : fc >= 33 ? '3.9' : '3.6', triplet: TRIPLET[arch] };
        const main: FileRow[] = [];
        const libs: FileRow[] = [];
        const debug: FileRow[] = [];
        // Kernel modules are shipped xz-compressed since fc30 (not ELF in the RPM); their .debug files are ELF.
        const modulesCompressed = p.flavor === 'kernel' && fc >= 30;
        for (const f of p.files) {
          const path = fill(f.path, vars);
          const buildId = r.hex(20);
          if (!modulesCompressed) (f.libs ? libs : main).push({ path, buildId, type: f.type });
          const dpath = p.flavor === 'kernel' ? `/usr/lib/debug${path}.debug`
            : fc >= 27 ? `/usr/lib/debug${path}-${kver}.debug` : `/usr/lib/debug${path}.debug`;
          debug.push({ path: dpath, buildId, type: 'debuginfo' });
        }
        if (fc >= 18 && p.flavor !== 'kernel' && p.files.length > 1) {
          debug.push({ path: `/usr/lib/debug/.dwz/${p.name}-${version}-${release}.${arch}`, buildId: r.hex(20), type: 'debuginfo' });
        }
        rpm(modulesCompressed ? `${p.name}-core` : p.name, arch, main);
        if (p.hasLibs) rpm(`${p.name}-libs`, arch, libs);
        rpm(`${p.name}-debuginfo`, arch, debug);
        if (fc >= 27 && r.chance(0.3)) rpm(`${p.name}-debugsource`, arch, []);
      }
      if (r.chance(0.15)) rpm(`${p.name}-doc`, 'noarch', []);
      for (const rec of out) {
        if (left <= 0) return;
        rec.rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
        if (rec.rows.length > left) rec.rows.length = left;
        rec.elfFiles = rec.rows.length;
        left -= rec.rows.length;
        yield rec;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writers

/** Schema version 3's insert path (Store.addRpm as it was), for before/after comparisons. */
class V3Writer {
  private readonly s;
  constructor(readonly db: Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      findBuild: p('SELECT id FROM builds WHERE instance = ? AND nvr = ?'),
      insertBuild: p(`INSERT INTO builds (instance, name, version, release, nvr, koji_build_id, distro)
                      VALUES (@instance, @name, @version, @release, @nvr, @kojiBuildId, @distro)`),
      insertRpm: p(`INSERT INTO rpms (build_id, instance, pkgid, name, epoch, version, release, arch, nvra, source_rpm, url,
                      size, payload_compressor, method, elf_files, elf_without_buildid, indexed_at)
                    VALUES (@buildId, @instance, @pkgid, @name, @epoch, @version, @release, @arch, @nvra, @sourceRpm, @url,
                      @size, @payloadCompressor, @method, @elfFiles, @elfWithoutBuildId, @indexedAt)
                    ON CONFLICT (instance, pkgid) DO NOTHING`),
      insertFile: p('INSERT INTO files (rpm_id, buildid, path, type) VALUES (?, ?, ?, ?)'),
    };
  }

  addRpm(rec: RpmRecord): boolean {
    return this.db.transaction((): boolean => {
      const b = this.s.findBuild.get(rec.instance, rec.build.nvr) as { id: number } | undefined;
      const buildId = b?.id ?? Number(this.s.insertBuild.run({ instance: rec.instance, ...rec.build, kojiBuildId: rec.build.kojiBuildId ?? null }).lastInsertRowid);
      const info = this.s.insertRpm.run({
        buildId, instance: rec.instance, pkgid: rec.pkgid, name: rec.name, epoch: rec.epoch ?? null,
        version: rec.version, release: rec.release, arch: rec.arch, nvra: rec.nvra, sourceRpm: rec.sourceRpm ?? null,
        url: rec.url, size: rec.size ?? null, payloadCompressor: rec.payloadCompressor ?? null, method: rec.method,
        elfFiles: rec.elfFiles, elfWithoutBuildId: rec.elfWithoutBuildId, indexedAt: Math.floor(Date.now() / 1000),
      });
      if (info.changes === 0) return false;
      for (const r of rec.rows) this.s.insertFile.run(info.lastInsertRowid, Buffer.from(r.buildId, 'hex'), r.path, r.type);
      return true;
    }).immediate();
  }
}

/** A database at schema version 3 with V3Writer's addRpm (for migration tests and before/after sizes). */
export function openV3(file: string): { db: Database; addRpm: (rec: RpmRecord) => boolean } {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  migrate(db, file, 3);
  const w = new V3Writer(db);
  return { db, addRpm: (rec) => w.addRpm(rec) };
}

/** Bytes of the database file (after a checkpoint, the WAL is empty). */
function fileBytes(file: string): number {
  return statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
}

export function buildSyntheticIndex(opts: SyntheticOptions): SyntheticResult {
  const schema = opts.schema ?? 'current';
  const batch = opts.batchRpms ?? 2000;
  if (existsSync(opts.db) && statSync(opts.db).size > 0) throw new Error(`${opts.db}: exists and is not empty`);
  for (const f of [opts.db, `${opts.db}-wal`, `${opts.db}-shm`]) rmSync(f, { force: true });

  const t0 = performance.now();
  let db: Database;
  let add: (rec: RpmRecord) => boolean;
  let store: SqliteStore | undefined;
  if (schema === 'v3') {
    const v3 = openV3(opts.db);
    db = v3.db;
    add = v3.addRpm;
  } else {
    store = new SqliteStore(opts.db);
    db = store.db;
    add = (rec) => store!.writeRpm(rec); // inside flush's transaction, as addRpm writes it
  }
  // Generator-only tuning: no journal, no syncs, a big page cache.
  db.pragma('journal_mode = DELETE');
  db.pragma('journal_mode = MEMORY');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1048576');
  db.pragma('temp_store = MEMORY');

  let rows = 0;
  let rpms = 0;
  let pending: RpmRecord[] = [];
  const builds = new Set<string>();
  const flush = db.transaction((recs: RpmRecord[]) => { for (const rec of recs) if (add(rec)) rpms++; });
  for (const rec of synthRecords(opts.rows, opts.seed ?? 1)) {
    pending.push(rec);
    rows += rec.rows.length;
    builds.add(`${rec.instance}\0${rec.build.nvr}`);
    if (pending.length >= batch) {
      flush(pending);
      pending = [];
      opts.onProgress?.(rows, opts.rows);
    }
  }
  flush(pending);
  opts.onProgress?.(rows, opts.rows);
  const t1 = performance.now();
  let t2 = t1;
  if (opts.vacuum ?? true) {
    db.exec('VACUUM');
    t2 = performance.now();
  }
  db.pragma('journal_mode = WAL');
  if (store) void store.close(); else db.close();
  const dbBytes = fileBytes(opts.db);
  return {
    db: opts.db, schema, rows, rpms, builds: builds.size, buildSeconds: (t1 - t0) / 1000, vacuumSeconds: (t2 - t1) / 1000,
    dbBytes, bytesPerRow: rows ? dbBytes / rows : 0,
  };
}

// ---------------------------------------------------------------------------------------------

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' }, db: { type: 'string' }, seed: { type: 'string', default: '1' },
      schema: { type: 'string', default: 'current' }, 'no-vacuum': { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
    },
  });
  if (!values.db) { process.stderr.write('synthetic-index: --db FILE is required\n'); process.exit(2); }
  if (values.schema !== 'current' && values.schema !== 'v3') { process.stderr.write('synthetic-index: --schema is current or v3\n'); process.exit(2); }
  const rowsWanted = Number(values.rows);
  let last = 0;
  const res = buildSyntheticIndex({
    db: values.db, rows: rowsWanted, seed: Number(values.seed), schema: values.schema, vacuum: !values['no-vacuum'],
    onProgress: (done, total) => {
      if (!values.json && process.stderr.isTTY && done - last >= total / 100) { last = done; process.stderr.write(`\r${((100 * done) / total).toFixed(0)}% `); }
    },
  });
  if (values.json) process.stdout.write(`${JSON.stringify(res)}\n`);
  else {
    process.stdout.write(`${res.db}: schema ${res.schema}, ${res.rows} rows, ${res.rpms} rpms, ${res.builds} builds\n`
      + `build ${res.buildSeconds.toFixed(1)} s, vacuum ${res.vacuumSeconds.toFixed(1)} s, ${res.dbBytes} bytes, ${res.bytesPerRow.toFixed(1)} bytes/row\n`);
  }
}
