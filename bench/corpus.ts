// The benchmark corpus: RPMs built with this machine's rpmbuild from real ELF files found on it.
// Built once and cached under cacheRoot(), keyed by a hash of everything that goes in (the ELF
// files chosen, their sizes and mtimes, the spec, rpm's version), so a re-run costs nothing.
import { randomFillSync } from 'node:crypto';
import {
  chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync,
  readSync, renameSync, rmSync, statSync, writeFileSync, writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { buildIdOfFile } from '../src/lib/elf/file.ts';
import { cacheRoot, log, MB, sha256 } from './util.ts';

export interface ElfPick { path: string; size: number; buildId: string }
export interface CorpusPackage { name: string; compressor: 'zstd' | 'xz'; files: ElfPick[] }
export type Variant = 'links' | 'nolinks';
export interface Corpus {
  key: string;
  dir: string;
  packages: CorpusPackage[];
  /** folder of .rpm files per variant */
  variants: Record<Variant, { dir: string; rpms: string[]; bytes: number; buildIdLinks: number }>;
  elfFiles: number;
  elfBytes: number;
}
export interface BigRpm { file: string; bytes: number; elfFiles: number }

export interface CorpusSize { maxFiles: number; maxBytes: number; maxFileBytes: number; packages: number }
export const FULL: CorpusSize = { maxFiles: 400, maxBytes: 64 * MB, maxFileBytes: 4 * MB, packages: 12 };
export const QUICK: CorpusSize = { maxFiles: 60, maxBytes: 10 * MB, maxFileBytes: 2 * MB, packages: 4 };

// Bumped whenever the spec or the layout below changes, so old caches are not reused.
const RECIPE = 'corpus-v1';
const ROOTS: { dir: string; depth: number; match?: RegExp }[] = [
  { dir: '/usr/bin', depth: 0 },
  { dir: '/usr/sbin', depth: 0 },
  { dir: '/usr/libexec', depth: 2 },
  { dir: '/usr/lib/x86_64-linux-gnu', depth: 2, match: /\.so(\.|$)/ },
];
// rpm spec file lists glob and expand macros: keep to paths that need no quoting.
const SAFE_PATH = /^\/[A-Za-z0-9._+/-]+$/;

function walk(dir: string, depth: number, out: string[]): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const n of names) {
    const p = join(dir, n);
    let st;
    try { st = statSync(p, { throwIfNoEntry: false }); } catch { continue; }
    if (!st) continue;
    if (st.isDirectory()) { if (depth > 0) walk(p, depth - 1, out); } else if (st.isFile()) out.push(p);
  }
}

function isElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32BE(0) === 0x7f454c46;
  } finally { closeSync(fd); }
}

/**
 * Real ELF files with a GNU build-id, one per build-id and per inode (no hard-link sets: rpm
 * and debuginfod treat those differently and that is not what this measures), spread evenly
 * over the sorted candidates so sizes and kinds (executables, DSOs) are mixed.
 */
export async function pickElfFiles(size: CorpusSize): Promise<ElfPick[]> {
  const paths: string[] = [];
  for (const r of ROOTS) {
    const found: string[] = [];
    walk(r.dir, r.depth, found);
    paths.push(...found.filter((p) => !r.match || r.match.test(basename(p))));
  }
  paths.sort();
  const seenIno = new Set<string>();
  const seenId = new Set<string>();
  const cands: ElfPick[] = [];
  for (const p of paths) {
    if (!SAFE_PATH.test(p)) continue;
    const st = statSync(p, { bigint: false, throwIfNoEntry: false });
    // lstat: a symlinked name would make the same file appear twice
    if (!st || st.size === 0 || st.size > size.maxFileBytes) continue;
    const ino = `${st.dev}:${st.ino}`;
    if (seenIno.has(ino)) continue;
    seenIno.add(ino);
    try { if (!isElf(p)) continue; } catch { continue; }
    let id: string;
    try { id = await buildIdOfFile(p); } catch { continue; }
    // rpm's generateBuildIDs only links ids of 16..64 bytes
    if (id.length < 32 || id.length > 128 || seenId.has(id)) continue;
    seenId.add(id);
    cands.push({ path: p, size: st.size, buildId: id });
  }
  if (cands.length === 0) throw new Error('no ELF files with a GNU build-id were found under /usr');
  const picks: ElfPick[] = [];
  let bytes = 0;
  const step = Math.max(1, cands.length / size.maxFiles);
  for (let i = 0; i < size.maxFiles && Math.floor(i * step) < cands.length; i++) {
    const c = cands[Math.floor(i * step)];
    if (bytes + c.size > size.maxBytes) break;
    picks.push(c);
    bytes += c.size;
  }
  return picks;
}

function spec(files: string[], dataFiles: string[] = []): string {
  // No stripping, no debuginfo extraction, no dependency scan: the files go in as found.
  // %defattr 0755 for every ELF file: rpm writes /usr/lib/.build-id links only for files with
  // an exec bit (Debian's brp-elfperms would clear it on DSOs; __os_install_post is off).
  return `%global debug_package %{nil}
%global __os_install_post %{nil}
Name:           %{pkgname}
Version:        1.0
Release:        1
Summary:        darkforge bench corpus (ELF files copied from the bench machine)
License:        distributable
AutoReqProv:    no

%description
ELF files copied from the machine that runs the darkforge benchmark.

%install
mkdir -p %{buildroot}
cp -a${dataFiles.length ? 'l' : ''} %{stagedir}/. %{buildroot}/

%files
%defattr(0755,root,root,0755)
${files.join('\n')}
${dataFiles.map((f) => `%attr(0644,root,root) ${f}`).join('\n')}
`;
}

interface RpmbuildJob { name: string; stage: string; files: string[]; dataFiles?: string[]; payload: string; links: 'compat' | 'none'; out: string; work: string }

async function rpmbuild(j: RpmbuildJob): Promise<string> {
  const top = join(j.work, `top-${j.name}-${j.links}`);
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  const specFile = join(top, 'SPECS', `${j.name}.spec`);
  writeFileSync(specFile, spec(j.files, j.dataFiles));
  const r = await execa('rpmbuild', [
    '-bb', '--quiet',
    '--define', `_topdir ${top}`,
    '--define', `pkgname ${j.name}`,
    '--define', `stagedir ${j.stage}`,
    '--define', `_binary_payload ${j.payload}`,
    '--define', `_build_id_links ${j.links}`,
    specFile,
  ], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`rpmbuild ${j.name} (${j.links}) failed:\n${r.all}`);
  const built = readdirSync(join(top, 'RPMS'), { recursive: true }).map(String).filter((f) => f.endsWith('.rpm'));
  if (built.length !== 1) throw new Error(`rpmbuild ${j.name}: expected one RPM, got ${built.join(', ') || 'none'}`);
  mkdirSync(j.out, { recursive: true });
  const dest = join(j.out, basename(built[0]));
  renameSync(join(top, 'RPMS', built[0]), dest);
  rmSync(top, { recursive: true, force: true });
  return dest;
}

/** Run at most `n` jobs at once (the machine has 2 cores). */
async function pool<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await f(items[i]); }
  }));
  return out;
}

async function rpmVersion(): Promise<string> {
  return (await execa('rpmbuild', ['--version'])).stdout.trim();
}

/** Build-id links rpm wrote into the header (/usr/lib/.build-id/xx/yyyy), as a check. */
async function countBuildIdLinks(rpm: string): Promise<number> {
  const r = await execa('rpm', ['-qlp', rpm]);
  return r.stdout.split('\n').filter((l) => /^\/usr\/lib\/\.build-id\/[0-9a-f]{2}\/[0-9a-f]+$/.test(l)).length;
}

function stageFiles(stage: string, files: ElfPick[]): void {
  for (const f of files) {
    const dest = join(stage, f.path);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(f.path, dest);
    chmodSync(dest, 0o755);
  }
}

export async function ensureCorpus(size: CorpusSize, label: string): Promise<Corpus> {
  log(`corpus (${label}): choosing ELF files under /usr`);
  const picks = await pickElfFiles(size);
  const fingerprint = picks.map((p) => `${p.path}\t${p.size}\t${statSync(p.path).mtimeMs}\t${p.buildId}`).join('\n');
  const key = sha256(RECIPE, JSON.stringify(size), await rpmVersion(), fingerprint).slice(0, 16);
  const dir = join(cacheRoot(), `corpus-${key}`);
  const manifest = join(dir, 'manifest.json');
  if (existsSync(manifest)) {
    log(`corpus (${label}): cached at ${dir}`);
    return JSON.parse(readFileSync(manifest, 'utf8')) as Corpus;
  }

  const work = join(cacheRoot(), `tmp-corpus-${key}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  const packages: CorpusPackage[] = [];
  const per = Math.ceil(picks.length / size.packages);
  for (let i = 0; i * per < picks.length; i++) {
    packages.push({ name: `dfb-${String(i + 1).padStart(2, '0')}`, compressor: i % 2 ? 'xz' : 'zstd', files: picks.slice(i * per, (i + 1) * per) });
  }
  for (const p of packages) stageFiles(join(work, 'stage', p.name), p.files);
  const elfBytes = picks.reduce((n, p) => n + p.size, 0);
  log(`corpus (${label}): rpmbuild ${packages.length} packages x 2 variants from ${picks.length} ELF files (${(elfBytes / MB).toFixed(1)} MB); zstd -19 / xz -6 take a while`);

  const jobs: RpmbuildJob[] = [];
  for (const v of ['links', 'nolinks'] as const) {
    for (const p of packages) {
      jobs.push({
        name: p.name, stage: join(work, 'stage', p.name), files: p.files.map((f) => f.path),
        payload: p.compressor === 'zstd' ? 'w19.zstdio' : 'w6.xzdio',
        links: v === 'links' ? 'compat' : 'none', out: join(work, 'out', v), work,
      });
    }
  }
  let done = 0;
  await pool(jobs, 2, async (j) => {
    const f = await rpmbuild(j);
    log(`corpus (${label}): built ${++done}/${jobs.length} ${basename(j.out)}/${basename(f)}`);
    return f;
  });

  const variants = {} as Corpus['variants'];
  for (const v of ['links', 'nolinks'] as const) {
    const vdir = join(dir, v);
    const rpms = readdirSync(join(work, 'out', v)).filter((f) => f.endsWith('.rpm')).sort().map((f) => join(vdir, f));
    let links = 0;
    for (const r of rpms) links += await countBuildIdLinks(join(work, 'out', v, basename(r)));
    const bytes = rpms.reduce((n, r) => n + statSync(join(work, 'out', v, basename(r))).size, 0);
    variants[v] = { dir: vdir, rpms, bytes, buildIdLinks: links };
  }
  if (variants.links.buildIdLinks !== picks.length) {
    log(`corpus (${label}): warning: rpm wrote ${variants.links.buildIdLinks} build-id links for ${picks.length} ELF files`);
  }
  if (variants.nolinks.buildIdLinks !== 0) throw new Error('the link-less variant has build-id links: %_build_id_links none was not honoured');

  const corpus: Corpus = { key, dir, packages, variants, elfFiles: picks.length, elfBytes };
  mkdirSync(dir, { recursive: true });
  for (const v of ['links', 'nolinks'] as const) renameSync(join(work, 'out', v), join(dir, v));
  writeFileSync(manifest, JSON.stringify(corpus, null, 1));
  rmSync(work, { recursive: true, force: true });
  log(`corpus (${label}): ready at ${dir}`);
  return corpus;
}

/**
 * One ~1 GB RPM: 4 x 256 MiB of random (incompressible) data plus a few ELF files, zstd -3
 * (level 19 on 1 GB would take many minutes for no gain on random bytes). For peak RSS only.
 */
export async function ensureBigRpm(elf: ElfPick[], dataMiB = 1024): Promise<BigRpm> {
  const files = elf.slice(0, 4);
  const key = sha256('big-v1', String(dataMiB), await rpmVersion(), files.map((f) => `${f.path}\t${f.size}\t${f.buildId}`).join('\n')).slice(0, 16);
  const dir = join(cacheRoot(), `big-${key}`);
  const manifest = join(dir, 'manifest.json');
  if (existsSync(manifest)) {
    log(`1 GB RPM: cached at ${dir}`);
    return JSON.parse(readFileSync(manifest, 'utf8')) as BigRpm;
  }
  const work = join(cacheRoot(), `tmp-big-${key}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  const stage = join(work, 'stage');
  stageFiles(stage, files);
  const dataDir = '/usr/share/dfb-big';
  mkdirSync(join(stage, dataDir), { recursive: true });
  const dataFiles: string[] = [];
  const chunk = Buffer.alloc(8 * MB);
  log(`1 GB RPM: writing ${dataMiB} MiB of random data`);
  for (let i = 0; i * 256 < dataMiB; i++) {
    const f = `${dataDir}/blob-${i}.bin`;
    const fd = openSync(join(stage, f), 'w');
    for (let m = 0; m < Math.min(256, dataMiB - i * 256); m += 8) { randomFillSync(chunk); writeSync(fd, chunk); }
    closeSync(fd);
    dataFiles.push(f);
  }
  log('1 GB RPM: rpmbuild (zstd -3)');
  const rpm = await rpmbuild({
    name: 'dfb-big', stage, files: files.map((f) => f.path), dataFiles, payload: 'w3.zstdio', links: 'compat', out: join(work, 'out'), work,
  });
  mkdirSync(dir, { recursive: true });
  const file = join(dir, basename(rpm));
  renameSync(rpm, file);
  const big: BigRpm = { file, bytes: statSync(file).size, elfFiles: files.length };
  writeFileSync(manifest, JSON.stringify(big, null, 1));
  rmSync(work, { recursive: true, force: true });
  log(`1 GB RPM: ready, ${(big.bytes / MB).toFixed(0)} MB`);
  return big;
}

export interface SmallRpms { key: string; dir: string; rpms: string[]; bytes: number }

/**
 * `count` small RPMs (the import-workers benchmark serves each as a Koji build of its own): one
 * real ELF file of at most 256 KiB each, with /usr/lib/.build-id links (a header-first import
 * reads only the header), zstd payloads. One rpmbuild of one spec with a subpackage per RPM.
 */
export async function ensureSmallRpms(count: number): Promise<SmallRpms> {
  const picks = await pickElfFiles({ maxFiles: count, maxBytes: count * 256 * 1024, maxFileBytes: 256 * 1024, packages: count });
  if (picks.length < count) log(`small RPMs: only ${picks.length} ELF files of at most 256 KiB under /usr, so ${picks.length} RPMs`);
  const fingerprint = picks.map((p) => `${p.path}\t${p.size}\t${statSync(p.path).mtimeMs}\t${p.buildId}`).join('\n');
  const key = sha256('small-rpms-v1', String(count), await rpmVersion(), fingerprint).slice(0, 16);
  const dir = join(cacheRoot(), `small-${key}`);
  const manifest = join(dir, 'manifest.json');
  if (existsSync(manifest)) {
    log(`small RPMs: cached at ${dir}`);
    return JSON.parse(readFileSync(manifest, 'utf8')) as SmallRpms;
  }
  const work = join(cacheRoot(), `tmp-small-${key}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  const stage = join(work, 'stage');
  stageFiles(stage, picks);
  const name = (i: number): string => `dfw-${String(i + 1).padStart(3, '0')}`;
  const sub = picks.map((p, i) => `%package -n ${name(i)}
Summary: darkforge bench RPM ${i + 1}
%description -n ${name(i)}
One ELF file copied from the bench machine.
%files -n ${name(i)}
%defattr(0755,root,root,0755)
${p.path}
`).join('\n');
  const top = join(work, 'top');
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  const specFile = join(top, 'SPECS', 'dfw.spec');
  writeFileSync(specFile, `%global debug_package %{nil}
%global __os_install_post %{nil}
Name:           dfw
Version:        1.0
Release:        1
Summary:        darkforge import-workers bench corpus
License:        distributable
AutoReqProv:    no

%description
Small RPMs, one ELF file each, for the import-workers benchmark.

%install
mkdir -p %{buildroot}
cp -a %{stagedir}/. %{buildroot}/

${sub}`);
  log(`small RPMs: rpmbuild of ${picks.length} subpackages (one spec)`);
  const r = await execa('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', `stagedir ${stage}`,
    '--define', '_binary_payload w3.zstdio', '--define', '_build_id_links compat', specFile], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`rpmbuild of the small RPMs failed:\n${r.all}`);
  const built = readdirSync(join(top, 'RPMS'), { recursive: true }).map(String).filter((f) => f.endsWith('.rpm')).sort();
  if (built.length !== picks.length) throw new Error(`rpmbuild made ${built.length} RPMs, not ${picks.length}`);
  mkdirSync(join(dir, 'rpms'), { recursive: true });
  const rpms = built.map((f) => {
    const dest = join(dir, 'rpms', basename(f));
    renameSync(join(top, 'RPMS', f), dest);
    return dest;
  });
  const out: SmallRpms = { key, dir, rpms, bytes: rpms.reduce((n, f) => n + statSync(f).size, 0) };
  writeFileSync(manifest, JSON.stringify(out, null, 1));
  rmSync(work, { recursive: true, force: true });
  log(`small RPMs: ready at ${dir}`);
  return out;
}
