// A tiny dnf repository built at test time with the real rpmbuild and createrepo_c: noarch
// packages, one requiring another, one recommending a third, comps groups (core among them).
// For live images it also packages the host's static busybox as /bin/sh (so %post can run in
// a chroot), a dummy kernel, a dracut stand-in (Fedora's dracut cannot run here: it records its
// argv and writes the initramfs file it was asked for) and the host's real isolinux files.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from './cli.ts';

export interface TestRepo {
  dir: string;
  url: string;
  /** The shell, kernel, dracut and isolinux packages could be made from this host's files. */
  bootable: boolean;
}

// Only a static busybox runs inside a root that has no libc.
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p) && isStatic(p));

function isStatic(file: string): boolean {
  const r = spawnSync('ldd', [file], { encoding: 'utf8' });
  return /not a dynamic executable|statically linked/.test(`${r.stdout}${r.stderr}`);
}
const ISOLINUX = '/usr/lib/ISOLINUX/isolinux.bin';
const LDLINUX = '/usr/lib/syslinux/modules/bios/ldlinux.c32';
const MBR = '/usr/lib/ISOLINUX/isohdpfx.bin';

export const KERNEL_VERSION = '6.1.0-1.df.x86_64';

interface Pkg { name: string; requires?: string[]; recommends?: string[]; provides?: string[]; install?: string[]; files?: string[] }

const DRACUT = `#!/bin/sh
# dracut stand-in: record the arguments, write the initramfs named after --force.
echo "$@" > /var/log/df-dracut.args
out=""; prev=""
for a in "$@"; do [ "$prev" = "--force" ] && out="$a"; prev="$a"; done
echo "DF-INITRAMFS for $*" > "$out"
`;

const SERVICE = '[Unit]\nDescription=df hello\n\n[Service]\nExecStart=/usr/bin/true\n\n[Install]\nWantedBy=multi-user.target\n';

function spec(p: Pkg, src: string): string {
  const readme = ['mkdir -p %{buildroot}/usr/share/' + p.name, `echo ${p.name} > %{buildroot}/usr/share/${p.name}/README`];
  return [
    `Name: ${p.name}`, 'Version: 1.0', 'Release: 1', `Summary: test package ${p.name}`, 'License: MIT', 'BuildArch: noarch', 'AutoReqProv: no',
    ...(p.requires ?? []).map((r) => `Requires: ${r}`),
    ...(p.recommends ?? []).map((r) => `Recommends: ${r}`),
    ...(p.provides ?? []).map((r) => `Provides: ${r}`),
    '%global _binaries_in_noarch_packages_terminate_build 0',
    '%global __os_install_post %{nil}',
    '%global debug_package %{nil}',
    '%description', `test package ${p.name}`,
    '%install', ...readme, ...(p.install ?? []).map((l) => l.replaceAll('@SRC@', src)),
    '%files', `/usr/share/${p.name}`, ...(p.files ?? []), '',
  ].join('\n');
}

let built: TestRepo | undefined;

/** Builds the repository once per test process. */
export function testRepo(): TestRepo {
  if (built) return built;
  const top = tempDir('darkforge-repo-');
  const dir = join(top, 'repo');
  const src = join(top, 'src');
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'dracut'), DRACUT);
  writeFileSync(join(src, 'df-hello.service'), SERVICE);
  const bootable = BUSYBOX !== undefined && [ISOLINUX, LDLINUX, MBR].every(existsSync);
  const pkgs: Pkg[] = [
    {
      name: 'df-hello', requires: ['df-greeting'], recommends: ['df-more'],
      install: ['install -D -m 0644 @SRC@/df-hello.service %{buildroot}/usr/lib/systemd/system/df-hello.service'],
      files: ['/usr/lib/systemd/system/df-hello.service'],
    },
    { name: 'df-greeting' }, { name: 'df-extra' }, { name: 'df-unwanted' }, { name: 'df-more' }, { name: 'df-core' },
  ];
  if (bootable) {
    pkgs.push(
      {
        name: 'df-shell', provides: ['/bin/sh'],
        install: [`install -D -m 0755 ${BUSYBOX} %{buildroot}/usr/bin/busybox`, 'mkdir -p %{buildroot}/bin', 'ln -s /usr/bin/busybox %{buildroot}/bin/sh'],
        files: ['/usr/bin/busybox', '/bin/sh'],
      },
      {
        name: 'df-kernel',
        install: [`mkdir -p %{buildroot}/usr/lib/modules/${KERNEL_VERSION}`, `echo DF-KERNEL > %{buildroot}/usr/lib/modules/${KERNEL_VERSION}/vmlinuz`],
        files: [`/usr/lib/modules/${KERNEL_VERSION}`],
      },
      { name: 'df-dracut', requires: ['/bin/sh'], install: ['install -D -m 0755 @SRC@/dracut %{buildroot}/usr/bin/dracut'], files: ['/usr/bin/dracut'] },
      {
        name: 'df-syslinux',
        install: [ISOLINUX, LDLINUX, MBR].map((f) => `install -D -m 0644 ${f} %{buildroot}/usr/share/syslinux/${f.slice(f.lastIndexOf('/') + 1)}`),
        files: ['/usr/share/syslinux'],
      },
    );
  }
  for (const p of pkgs) {
    const file = join(top, 'SPECS', `${p.name}.spec`);
    writeFileSync(file, spec(p, src));
    execFileSync('rpmbuild', ['--quiet', '-bb', '--define', `_topdir ${top}`, '--define', `_rpmdir ${dir}`,
      '--define', '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm', file], { stdio: 'pipe' });
  }
  const comps = join(top, 'comps.xml');
  writeFileSync(comps, `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group><id>core</id><name>Core</name><description>Always there</description><default>true</default><uservisible>false</uservisible>
    <packagelist><packagereq type="mandatory">df-core</packagereq></packagelist></group>
  <group><id>df-tools</id><name>DF tools</name><description>Tools</description><default>true</default><uservisible>true</uservisible>
    <packagelist><packagereq type="mandatory">df-extra</packagereq><packagereq type="default">df-unwanted</packagereq></packagelist></group>
  <group><id>df-more</id><name>DF more</name><description>More</description><default>false</default><uservisible>true</uservisible>
    <packagelist><packagereq type="default">df-more</packagereq></packagelist></group>
</comps>
`);
  execFileSync('createrepo_c', ['--quiet', '-g', comps, dir], { stdio: 'pipe' });
  built = { dir, url: pathToFileURL(dir).href, bootable };
  return built;
}
