// Many distinct small RPMs, made at test time with the real rpmbuild: one spec, one subpackage per
// RPM, each holding `filesPer` copies of one tiny executable whose GNU build-id note is rewritten
// so that every file has its own id. Fault tests need a run long enough to be interrupted at
// different points and a database that grows while it runs; the committed fixtures are too few.
// Built once per (count, filesPer, links) and per test process.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './cli.ts';

export interface RpmSet {
  dir: string;
  files: string[];
  /** Every build-id in the set, lowercase hex. */
  buildIds: string[];
}

const MARK = 'd0d0cafe'.repeat(5); // the placeholder build-id the one executable is linked with

/** The build-id of file `k` of package `n` (20 bytes, distinct per set, package and file). */
function idOf(seed: string, n: number, k: number): string {
  return createHash('sha1').update(`${seed}/${n}/${k}`).digest('hex');
}

const built = new Map<string, RpmSet>();

/**
 * `count` RPMs named df-many-NNN-1.0-1.x86_64. links: rpm writes /usr/lib/.build-id links (the
 * header alone gives the build-ids); without them darkserver index streams every payload.
 */
export function rpmSet(count: number, filesPer: number, opts: { links?: boolean; seed?: string } = {}): RpmSet {
  const links = opts.links ?? true;
  const seed = opts.seed ?? 'rpm-set';
  const key = `${count}/${filesPer}/${links}/${seed}`;
  const have = built.get(key);
  if (have) return have;
  const top = tempDir('darkforge-rpmset-');
  const src = join(top, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'm.c'), 'int main(void) { return 0; }\n');
  const exe = join(src, 'm');
  execFileSync('gcc', ['-O0', '-o', exe, join(src, 'm.c'), `-Wl,--build-id=0x${MARK}`]);
  const image = readFileSync(exe);
  const at = image.indexOf(Buffer.from(MARK, 'hex'));
  if (at < 0 || image.indexOf(Buffer.from(MARK, 'hex'), at + 1) >= 0) throw new Error('rpm-set: the placeholder build-id is not found exactly once');
  const buildIds: string[] = [];
  const name = (n: number): string => `df-many-${String(n).padStart(3, '0')}`;
  const payload = join(top, 'payload');
  for (let n = 0; n < count; n++) {
    const d = join(payload, 'usr', 'lib', name(n));
    mkdirSync(d, { recursive: true });
    for (let k = 0; k < filesPer; k++) {
      const id = idOf(seed, n, k);
      buildIds.push(id);
      const copy = Buffer.from(image);
      Buffer.from(id, 'hex').copy(copy, at);
      writeFileSync(join(d, `f${k}`), copy);
      chmodSync(join(d, `f${k}`), 0o755);
    }
  }
  const spec = [
    '%global debug_package %{nil}', '%global __os_install_post %{nil}', '%global __elf_provides %{nil}', '%global __elf_requires %{nil}', `%global _build_id_links ${links ? 'alldebug' : 'none'}`,
    'Name: df-many', 'Version: 1.0', 'Release: 1', 'Summary: fault-test packages', 'License: MIT', 'AutoReqProv: no',
    '%description', 'fault-test packages',
    ...Array.from({ length: count }, (_, n) => [
      `%package -n ${name(n)}`, `Summary: fault-test package ${n}`, 'AutoReqProv: no', `%description -n ${name(n)}`, `package ${n}`,
    ].join('\n')),
    '%install', `mkdir -p %{buildroot} && cp -a ${payload}/. %{buildroot}/`,
    ...Array.from({ length: count }, (_, n) => `%files -n ${name(n)}\n%attr(0755,root,root) /usr/lib/${name(n)}`),
    '',
  ].join('\n');
  writeFileSync(join(top, 'many.spec'), spec);
  execFileSync('rpmbuild', ['-bb', '--define', `_topdir ${join(top, 'top')}`, '--define', '_binary_payload w1.gzdio',
    '--define', '_buildhost darkforge.invalid', join(top, 'many.spec')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  const dir = join(top, 'top', 'RPMS', 'x86_64');
  const files = readdirSync(dir).filter((f) => f.endsWith('.rpm')).sort().map((f) => join(dir, f));
  if (files.length !== count) throw new Error(`rpm-set: rpmbuild made ${files.length} RPMs, not ${count}`);
  const set = { dir, files, buildIds };
  built.set(key, set);
  return set;
}
