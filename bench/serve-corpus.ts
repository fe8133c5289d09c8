// RPMs for the serve benchmark: a few packages, each a program whose -debuginfo file is about
// 1 MB (generated C: many types and functions), with -debuginfo and -debugsource subpackages as
// Fedora builds them. Built once with this machine's rpmbuild and cached, keyed by the recipe.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheRoot, log, sha256 } from './util.ts';

export interface ServePackage { name: string; rpm: string; debuginfoRpm: string; exeId: string; debugSize: number }
export interface ServeCorpus { dir: string; rpms: string[]; packages: ServePackage[] }

const RECIPE = 'serve-corpus-v1';
const PACKAGES = 5;
/** Types and functions per program: about 1 MB of DWARF with gcc 12 -O2 -g. */
const FUNCTIONS = 1900;

function program(seed: number): string {
  const out = ['#include <stdio.h>', 'struct s0 { int a0; long b0; };'];
  for (let i = 1; i < FUNCTIONS; i++) {
    out.push(`struct s${i} { int a${i}; long b${i}; double c${i}; char d${i}[${(i % 13) + 1}]; struct s${i - 1} *p${i}; unsigned short e${i}; float f${i}; };`);
  }
  for (let i = 0; i < FUNCTIONS; i++) {
    out.push(`__attribute__((noinline)) long fn${i}(struct s${i} *x, int k) { long t = k; for (int j = 0; j < k; j++) t += j * ${i + seed}; return t + (x ? 1 : 0); }`);
  }
  out.push('int main(int argc, char **argv) { long t = 0; (void)argv;');
  for (let i = 0; i < FUNCTIONS; i++) out.push(` t += fn${i}(0, argc);`);
  out.push(' printf("%ld\\n", t); return 0; }');
  return `${out.join('\n')}\n`;
}

function spec(name: string): string {
  return `Name: ${name}
Version: 1.0
Release: 1.fc40
Summary: darkforge serve benchmark program
License: MIT
Source0: ${name}.c
%global _debugsource_packages 1
%description
A program with about 1 MB of debuginfo.
%debug_package
%prep
%setup -q -c -T
cp -p %{SOURCE0} .
%build
gcc -O2 -g -Wl,--build-id -o ${name} ${name}.c
%install
install -D -m 0755 ${name} %{buildroot}/usr/bin/${name}
%files
/usr/bin/${name}
`;
}

export async function ensureServeCorpus(): Promise<ServeCorpus> {
  const rpmVersion = (await execa('rpm', ['--version'])).stdout.trim();
  const gccVersion = (await execa('gcc', ['-dumpfullversion'])).stdout.trim();
  const key = sha256(RECIPE, rpmVersion, gccVersion, String(PACKAGES), String(FUNCTIONS)).slice(0, 16);
  const dir = join(cacheRoot(), `serve-${key}`);
  const rpmsDir = join(dir, 'rpms');
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) {
    log(`serve corpus: building ${PACKAGES} packages with ~1 MB debuginfo each (once; cached in ${dir})`);
    const work = `${dir}.tmp`;
    rmSync(work, { recursive: true, force: true });
    const top = join(work, 'top');
    mkdirSync(join(top, 'SOURCES'), { recursive: true });
    for (let i = 1; i <= PACKAGES; i++) {
      const name = `dfbench${i}`;
      writeFileSync(join(top, 'SOURCES', `${name}.c`), program(i));
      writeFileSync(join(top, 'SOURCES', `${name}.spec`), spec(name));
      await execa('rpmbuild', ['-bb', '--define', `_topdir ${top}`, '--define', '_binary_payload w19.zstdio', join(top, 'SOURCES', `${name}.spec`)], { env: { LC_ALL: 'C' } });
      log(`serve corpus: ${name} built`);
    }
    mkdirSync(join(work, 'rpms'), { recursive: true });
    const built = readdirSync(join(top, 'RPMS', 'x86_64'));
    for (const f of built) renameSync(join(top, 'RPMS', 'x86_64', f), join(work, 'rpms', f));
    const packages: ServePackage[] = [];
    for (let i = 1; i <= PACKAGES; i++) {
      const name = `dfbench${i}`;
      const rpm = built.find((f) => f.startsWith(`${name}-1.0`))!;
      const debuginfoRpm = built.find((f) => f.startsWith(`${name}-debuginfo-`))!;
      const list = (await execa('rpm', ['-qp', '--qf', '[%{FILENAMES}\t%{FILESIZES}\t%{FILEMODES:perms}\n]', join(work, 'rpms', debuginfoRpm)])).stdout
        .split('\n').map((l) => l.split('\t'));
      const link = list.find(([p]) => /^\/usr\/lib\/debug\/\.build-id\/[0-9a-f]{2}\/[0-9a-f]+\.debug$/.test(p))!;
      const m = /\.build-id\/([0-9a-f]{2})\/([0-9a-f]+)\.debug$/.exec(link[0])!;
      const file = list.find(([p, , perms]) => p.startsWith(`/usr/lib/debug/usr/bin/${name}-`) && perms.startsWith('-'))!;
      packages.push({ name, rpm, debuginfoRpm, exeId: m[1] + m[2], debugSize: Number(file[1]) });
    }
    rmSync(top, { recursive: true, force: true });
    writeFileSync(join(work, 'manifest.json'), JSON.stringify(packages, null, 1));
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  }
  const packages = JSON.parse((await import('node:fs')).readFileSync(manifest, 'utf8')) as ServePackage[];
  return { dir: rpmsDir, rpms: readdirSync(rpmsDir).map((f) => join(rpmsDir, f)), packages };
}
