// A live image's root after dnf has installed it: the kickstart's simple settings (lang,
// keyboard, timezone, rootpw, services), its %post scripts, and what makes it bootable (a
// kernel, an initramfs with dmsquash-live made by the root's own dracut, isolinux and grub
// configurations). Anything that runs inside the root runs through chroot, never a shell string.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CanceledError, UserError } from '../../errors.js';
import { requireTool } from '../tools.js';
import type { KickstartSummary } from '../kickstart.js';

/** Runs one program (its output goes to the job log); rejects when it fails. */
export type Exec = (argv: string[], o?: { env?: NodeJS.ProcessEnv; cwd?: string }) => Promise<void>;

export interface RootContext {
  root: string;
  exec: Exec;
  log: (line: string) => void;
}

/** Kickstart values that become file contents or link targets: names, never paths with "..". */
const safeName = (what: string, v: string, re: RegExp): string => {
  if (!re.test(v) || v.includes('..')) throw new UserError(`kickstart ${what} "${v}" is not a valid value`);
  return v;
};

/** lang, keyboard, timezone, rootpw and services, written the way anaconda writes them. */
export async function applySettings(ks: KickstartSummary, c: RootContext): Promise<void> {
  const etc = join(c.root, 'etc');
  await mkdir(etc, { recursive: true });
  if (ks.lang) {
    await writeFile(join(etc, 'locale.conf'), `LANG="${safeName('lang', ks.lang, /^[A-Za-z0-9_.@-]+$/)}"\n`);
    c.log(`lang ${ks.lang}: /etc/locale.conf`);
  }
  if (ks.keyboard) {
    await writeFile(join(etc, 'vconsole.conf'), `KEYMAP="${safeName('keyboard', ks.keyboard, /^[A-Za-z0-9_.()-]+$/)}"\n`);
    c.log(`keyboard ${ks.keyboard}: /etc/vconsole.conf`);
  }
  if (ks.timezone) {
    const tz = safeName('timezone', ks.timezone, /^[A-Za-z0-9_+/-]+$/);
    if (tz.startsWith('/')) throw new UserError(`kickstart timezone "${tz}" is not a valid value`);
    await rm(join(etc, 'localtime'), { force: true });
    await symlink(`../usr/share/zoneinfo/${tz}`, join(etc, 'localtime'));
    if (!existsSync(join(c.root, `usr/share/zoneinfo/${tz}`))) c.log(`timezone ${tz}: /etc/localtime links to a zone the image does not have (no tzdata package?)`);
    else c.log(`timezone ${tz}: /etc/localtime`);
  }
  if (ks.rootpw) await setRootPassword(ks.rootpw, c);
  if (ks.services) {
    for (const [verb, names] of [['enable', ks.services.enabled], ['disable', ks.services.disabled]] as const) {
      for (const s of names) {
        safeName('service', s, /^[A-Za-z0-9@_.:\\-]+$/);
        // systemctl --root edits the unit links offline, without a running systemd.
        await c.exec(['systemctl', `--root=${c.root}`, verb, s]);
      }
    }
  }
}

/** rootpw: a crypted value is used as it is; plain text is hashed with SHA-512 crypt. */
async function setRootPassword(pw: NonNullable<KickstartSummary['rootpw']>, c: RootContext): Promise<void> {
  let hash: string;
  if (pw.value === undefined) hash = '*';
  else if (pw.iscrypted) hash = pw.value;
  else {
    // The password reaches openssl on stdin, never in an argv that ps could show.
    const r = await execa(requireTool('openssl'), ['passwd', '-6', '-stdin'], { input: pw.value, reject: false });
    if (r.exitCode !== 0 || !r.stdout.startsWith('$6$')) throw new UserError('openssl could not hash the kickstart\'s rootpw');
    hash = r.stdout.trim();
  }
  if (pw.lock) hash = `!${hash}`;
  if (/[:\n]/.test(hash)) throw new UserError('the kickstart\'s rootpw --iscrypted value is not a crypt(3) hash');
  const shadow = join(c.root, 'etc/shadow');
  const lines = existsSync(shadow) ? (await readFile(shadow, 'utf8')).split('\n').filter(Boolean) : [];
  const days = Math.floor(Date.now() / 86_400_000);
  const entry = `root:${hash}:${days}:0:99999:7:::`;
  const at = lines.findIndex((l) => l.startsWith('root:'));
  if (at >= 0) lines[at] = entry;
  else lines.unshift(entry);
  await writeFile(shadow, `${lines.join('\n')}\n`, { mode: 0o000 });
  await chmod(shadow, 0o000);
  c.log(`rootpw: /etc/shadow${pw.lock ? ' (locked)' : ''}`);
}

/**
 * Each %post in order, as anaconda runs them: in the root through chroot (the interpreter must
 * be in the image), or with --nochroot on the build host with $INSTALL_ROOT set. A failing
 * script is logged and the build goes on, unless it says --erroronfail.
 */
export async function runPosts(ks: KickstartSummary, c: RootContext & { workDir: string }): Promise<void> {
  let n = 0;
  for (const post of ks.posts) {
    n++;
    const interpreter = post.interpreter ?? '/bin/sh';
    const name = `ks-script-${n}`;
    const where = post.nochroot ? join(c.workDir, name) : join(c.root, 'tmp', name);
    if (!post.nochroot && !existsSync(join(c.root, interpreter))) {
      throw new UserError(`the kickstart's %post ${n} needs ${interpreter} inside the image, and no package installed it`);
    }
    await mkdir(dirname(where), { recursive: true, mode: 0o1777 });
    await writeFile(where, post.body, { mode: 0o700 });
    c.log(`%post ${n}${post.nochroot ? ' (--nochroot) on this host' : ' in the image root'} with ${interpreter}`);
    try {
      if (post.nochroot) await c.exec([interpreter, where], { env: { INSTALL_ROOT: c.root }, cwd: c.workDir });
      else await c.exec(['chroot', c.root, interpreter, `/tmp/${name}`], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    } catch (e) {
      if (e instanceof CanceledError) throw e;
      if (post.erroronfail) throw new UserError(`the kickstart's %post ${n} failed (--erroronfail): ${(e as Error).message}`, 1);
      c.log(`%post ${n} failed (${(e as Error).message}); going on, as anaconda does without --erroronfail`);
    } finally {
      await rm(where, { force: true });
    }
  }
}

export interface Kernel {
  version: string;
  /** vmlinuz inside the root (absolute host path) */
  vmlinuz: string;
}

/** Fedora's kernel-core ships /lib/modules/VERSION/vmlinuz; older ones /boot/vmlinuz-VERSION. */
export async function findKernel(root: string): Promise<Kernel | undefined> {
  const mods = join(root, 'usr/lib/modules');
  for (const v of (await readdir(mods).catch(() => [] as string[])).sort().reverse()) {
    if (existsSync(join(mods, v, 'vmlinuz'))) return { version: v, vmlinuz: join(mods, v, 'vmlinuz') };
  }
  for (const f of (await readdir(join(root, 'boot')).catch(() => [] as string[])).sort().reverse()) {
    const m = /^vmlinuz-(.+)$/.exec(f);
    if (m && !m[1].includes('rescue')) return { version: m[1], vmlinuz: join(root, `boot/${f}`) };
  }
  return undefined;
}

/** dracut inside the root, as a path inside it. */
export function findDracut(root: string): string | undefined {
  return ['/usr/bin/dracut', '/usr/sbin/dracut', '/sbin/dracut'].find((p) => existsSync(join(root, p)));
}

/** isolinux from the root's syslinux package: the boot image, its loader module and the hybrid MBR. */
export function findIsolinux(root: string): { bin: string; modules: string[]; mbr?: string } | undefined {
  const dir = join(root, 'usr/share/syslinux');
  if (!existsSync(join(dir, 'isolinux.bin'))) return undefined;
  const modules = ['ldlinux.c32', 'libcom32.c32', 'libutil.c32', 'vesamenu.c32'].map((m) => join(dir, m)).filter((p) => existsSync(p));
  const mbr = join(dir, 'isohdpfx.bin');
  return { bin: join(dir, 'isolinux.bin'), modules, mbr: existsSync(mbr) ? mbr : undefined };
}

/** The kernel command line dracut's dmsquash-live needs to find LiveOS/squashfs.img on the disc. */
export const liveCmdline = (label: string): string => `root=live:CDLABEL=${label} rd.live.image quiet`;

export function grubConfig(label: string, title: string): string {
  return `set default=0\nset timeout=5\n\nmenuentry '${title.replace(/'/g, '')}' --class fedora --class gnu-linux {\n`
    + `\tlinux /images/pxeboot/vmlinuz ${liveCmdline(label)}\n\tinitrd /images/pxeboot/initrd.img\n}\n`;
}

export function isolinuxConfig(label: string, title: string): string {
  return `default live\ntimeout 50\nprompt 0\n\nlabel live\n  menu label ${title.replace(/\n/g, ' ')}\n`
    + `  kernel /images/pxeboot/vmlinuz\n  append initrd=/images/pxeboot/initrd.img ${liveCmdline(label)}\n`;
}

/**
 * Makes the ISO folder bootable when the root allows it: initramfs by the root's dracut (with
 * dmsquash-live), kernel and initrd in images/pxeboot/, grub.cfg for EFI/BOOT and boot/grub2,
 * and isolinux when the root has syslinux. Returns the BIOS boot image, or why it is not bootable.
 */
export async function makeBootable(c: RootContext, isoDir: string, label: string, title: string): Promise<{ bios?: { image: string; catalog: string; hybridMbr?: string }; notBootable?: string }> {
  const kernel = await findKernel(c.root);
  if (!kernel) return { notBootable: 'the image has no kernel (add "kernel" to %packages)' };
  const dracut = findDracut(c.root);
  if (!dracut) return { notBootable: `the image has kernel ${kernel.version} but no dracut to make its initramfs (add "dracut" to %packages)` };
  const initrd = '/tmp/darkforge-initrd.img';
  c.log(`initramfs for kernel ${kernel.version} with the image's dracut (dmsquash-live)`);
  await c.exec(['chroot', c.root, dracut, '--no-hostonly', '--no-hostonly-cmdline', '--add', 'dmsquash-live', '--force', initrd, kernel.version],
    { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  const pxe = join(isoDir, 'images', 'pxeboot');
  await mkdir(pxe, { recursive: true });
  await copyFile(kernel.vmlinuz, join(pxe, 'vmlinuz'));
  await copyFile(join(c.root, initrd), join(pxe, 'initrd.img'));
  await rm(join(c.root, initrd), { force: true });
  for (const d of [join(isoDir, 'EFI', 'BOOT'), join(isoDir, 'boot', 'grub2')]) {
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'grub.cfg'), grubConfig(label, title));
  }
  const iso = findIsolinux(c.root);
  if (!iso) return { notBootable: 'the image has a kernel and initramfs but no isolinux to boot them (add "syslinux" to %packages); grub.cfg is there for a boot loader you add' };
  const dir = join(isoDir, 'isolinux');
  await mkdir(dir, { recursive: true });
  for (const f of [iso.bin, ...iso.modules]) await copyFile(f, join(dir, f.slice(f.lastIndexOf('/') + 1)));
  await writeFile(join(dir, 'isolinux.cfg'), isolinuxConfig(label, title));
  return { bios: { image: 'isolinux/isolinux.bin', catalog: 'isolinux/boot.cat', hybridMbr: iso.mbr } };
}
