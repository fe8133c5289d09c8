// The Koji import-speed corpus: a few hundred single-RPM builds, each one real ELF file of this
// machine (with its /usr/lib/.build-id link, as every Fedora package has, so the header alone
// answers) plus enough data files to give its header a realistic size. Header sizes (lead +
// signature + main header) are drawn from a log-normal distribution around what real packages
// measure: Fedora's 16-33 KB (hello, rpm-sign, info, imsettings in ../shared/corpus), with a
// tail of packages of many files (up to 512 KB), and small ones like the fixtures (3-17 KB).
// Built once with rpmbuild (50 subpackages per spec, so it takes seconds, not minutes) and cached.
import { copyFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { pickElfFiles, type ElfPick } from './corpus.ts';
import { cacheRoot, log, MB, percentile, rng, sha256 } from './util.ts';

export interface KojiRpm { file: string; name: string; headerBytes: number; size: number; buildId: string }
export interface KojiCorpus { key: string; dir: string; rpms: KojiRpm[]; bytes: number }

const RECIPE = 'koji-corpus-v1';
export const KOJI_BUILDS = 400;
const PER_SPEC = 50;
/** Header distribution: median and log-normal sigma, clamped. */
const MEDIAN_HEADER = 18 * 1024;
const SIGMA = 0.75;
const MIN_HEADER = 7 * 1024;
const MAX_HEADER = 512 * 1024;
/** Measured with rpmbuild 4.18: a package of one linked ELF file has ~7.1 KB of headers; each data file adds ~137 bytes. */
const BASE_HEADER = 7150;
const PER_FILE = 137;

/** Standard normal by Box-Muller, from a seeded uniform generator. */
function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

function targets(n: number): number[] {
  const u = rng(15);
  return Array.from({ length: n }, () => Math.round(Math.min(MAX_HEADER, Math.max(MIN_HEADER, MEDIAN_HEADER * Math.exp(SIGMA * normal(u))))));
}

const name = (i: number): string => `dfk-${String(i + 1).padStart(3, '0')}`;

function spec(group: number, members: { i: number; elf: ElfPick; dataFiles: number }[]): string {
  const subs = members.map(({ i }) => `%package -n ${name(i)}
Summary: darkforge Koji bench package ${i + 1}
%description -n ${name(i)}
One ELF file of the bench machine, and data files.
`).join('\n');
  const install = members.map(({ i, dataFiles }) => [
    `install -D -m 0755 %{stagedir}/${name(i)} %{buildroot}/usr/bin/${name(i)}`,
    dataFiles ? `mkdir -p %{buildroot}/usr/share/${name(i)} && for f in $(seq 1 ${dataFiles}); do echo "${name(i)} $f" > %{buildroot}/usr/share/${name(i)}/data-$f.txt; done` : '',
  ].filter(Boolean).join('\n')).join('\n');
  const files = members.map(({ i, dataFiles }) => `%files -n ${name(i)}
%defattr(0755,root,root,0755)
/usr/bin/${name(i)}
${dataFiles ? `%attr(0644,root,root) /usr/share/${name(i)}` : ''}
`).join('\n');
  return `%global debug_package %{nil}
%global __os_install_post %{nil}
Name:           dfk-group-${group}
Version:        1.0
Release:        1
Summary:        darkforge Koji bench corpus
License:        distributable
AutoReqProv:    no

%description
Packages for the darkforge Koji import benchmark.

${subs}
%install
${install}

${files}
%changelog
* Mon Jan 01 2024 darkforge bench <bench@darkforge.invalid> - 1.0-1
- A changelog entry, as every Fedora package carries a few.
* Sun Dec 31 2023 darkforge bench <bench@darkforge.invalid> - 0.9-1
- Another one.
`;
}

/** Lead + signature header + main header of an RPM file: where its payload starts. */
export function headerBytes(file: string): number {
  const b = readFileSync(file);
  let pos = 96;
  for (const pad of [true, false]) {
    const n = b.readUInt32BE(pos + 8);
    const size = b.readUInt32BE(pos + 12);
    pos += 16 + 16 * n + size;
    if (pad) pos = (pos + 7) & ~7;
  }
  return pos;
}

export async function ensureKojiCorpus(n = KOJI_BUILDS): Promise<KojiCorpus> {
  const picks = await pickElfFiles({ maxFiles: n, maxBytes: 96 * MB, maxFileBytes: 512 * 1024, packages: 1 });
  if (picks.length < n) throw new Error(`the Koji bench corpus needs ${n} ELF files with a build-id under /usr, found ${picks.length}`);
  const rpmVersion = (await execa('rpmbuild', ['--version'])).stdout.trim();
  const fingerprint = picks.map((p) => `${p.path}\t${p.size}\t${p.buildId}`).join('\n');
  const key = sha256(RECIPE, String(n), rpmVersion, fingerprint, JSON.stringify([MEDIAN_HEADER, SIGMA, MIN_HEADER, MAX_HEADER])).slice(0, 16);
  const dir = join(cacheRoot(), `koji-${key}`);
  const manifest = join(dir, 'manifest.json');
  if (existsSync(manifest)) {
    log(`koji corpus: cached at ${dir}`);
    return JSON.parse(readFileSync(manifest, 'utf8')) as KojiCorpus;
  }
  const want = targets(n);
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  const stage = join(work, 'stage');
  mkdirSync(stage, { recursive: true });
  picks.forEach((p, i) => { copyFileSync(p.path, join(stage, name(i))); chmodSync(join(stage, name(i)), 0o755); });
  log(`koji corpus: rpmbuild ${n} single-RPM packages (${Math.ceil(n / PER_SPEC)} specs of ${PER_SPEC}), headers of ${(percentile(want, 50) / 1024).toFixed(0)} KB median`);
  const out = join(work, 'rpms');
  mkdirSync(out, { recursive: true });
  for (let g = 0; g * PER_SPEC < n; g++) {
    const members = picks.slice(g * PER_SPEC, (g + 1) * PER_SPEC).map((elf, k) => {
      const i = g * PER_SPEC + k;
      return { i, elf, dataFiles: Math.max(0, Math.round((want[i] - BASE_HEADER) / PER_FILE)) };
    });
    const top = join(work, `top-${g}`);
    mkdirSync(join(top, 'SPECS'), { recursive: true });
    const specFile = join(top, 'SPECS', `dfk-group-${g}.spec`);
    writeFileSync(specFile, spec(g, members));
    const r = await execa('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', `stagedir ${stage}`,
      '--define', '_binary_payload w3.zstdio', '--define', '_build_id_links compat', specFile], { reject: false, all: true, env: { LC_ALL: 'C' } });
    if (r.exitCode !== 0) throw new Error(`rpmbuild dfk-group-${g} failed:\n${r.all}`);
    for (const f of readdirSync(join(top, 'RPMS'), { recursive: true }).map(String).filter((x) => x.endsWith('.rpm'))) {
      renameSync(join(top, 'RPMS', f), join(out, basename(f)));
    }
    rmSync(top, { recursive: true, force: true });
    log(`koji corpus: built ${Math.min(n, (g + 1) * PER_SPEC)}/${n}`);
  }
  const rpms: KojiRpm[] = picks.map((p, i) => {
    const f = readdirSync(out).find((x) => x.startsWith(`${name(i)}-1.0-1.`))!;
    const file = join(dir, 'rpms', f);
    return { file, name: name(i), headerBytes: headerBytes(join(out, f)), size: statSync(join(out, f)).size, buildId: p.buildId };
  });
  const corpus: KojiCorpus = { key, dir, rpms, bytes: rpms.reduce((s, r) => s + r.size, 0) };
  mkdirSync(dir, { recursive: true });
  renameSync(out, join(dir, 'rpms'));
  writeFileSync(manifest, JSON.stringify(corpus, null, 1));
  rmSync(work, { recursive: true, force: true });
  log(`koji corpus: ready at ${dir}`);
  return corpus;
}
