// The API filesystems a chroot needs while %post and dracut run in an image root — /proc, /sys
// and a private /dev with the usual device nodes, as livecd-creator and mock provide them — and
// the guard that keeps a recursive delete from ever walking into a mount (a bind-mounted /dev
// under a work folder would take the host's devices with it).
import { execa } from 'execa';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const base = resolve(dir);
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = text.split('\n').filter(Boolean)
    .map((l) => l.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => p !== undefined && (p === base || p.startsWith(`${base}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything below `dir`; call before removing it. */
export async function unmountUnder(dir: string, log?: (line: string) => void): Promise<void> {
  for (const p of await mountsUnder(dir)) {
    const r = await execa('umount', ['-l', p], { reject: false });
    log?.(r.exitCode === 0 ? `unmounted ${p}` : `could not unmount ${p}: ${r.stderr.trim()}`);
  }
}

// The nodes of a minimal /dev (Linux major/minor numbers).
const NODES: [string, number, number][] = [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]];

/**
 * Runs `fn` with /proc, /sys and a private tmpfs /dev mounted in `root`, and unmounts them
 * whatever happens. Where mounting is not allowed (an unprivileged container), says so and
 * runs `fn` anyway: simple scripts do not need them.
 */
export async function withApiFilesystems<T>(root: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const mount = async (args: string[], at: string): Promise<boolean> => {
    await mkdir(at, { recursive: true });
    const r = await execa('mount', [...args, at], { reject: false });
    if (r.exitCode !== 0) log(`could not mount ${at.slice(root.length)} in the image root (${r.stderr.trim() || `exit ${r.exitCode}`}); scripts run without it`);
    return r.exitCode === 0;
  };
  try {
    await mount(['-t', 'proc', 'proc'], join(root, 'proc'));
    await mount(['-t', 'sysfs', 'sysfs'], join(root, 'sys'));
    const dev = join(root, 'dev');
    if (await mount(['-t', 'tmpfs', '-o', 'mode=755,nosuid', 'darkforge-dev'], dev)) {
      for (const [name, major, minor] of NODES) {
        await execa('mknod', ['-m', '666', join(dev, name), 'c', String(major), String(minor)]);
      }
      for (const d of ['pts', 'shm']) await mkdir(join(dev, d));
      for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]) {
        await symlink(target, join(dev, name));
      }
    }
    return await fn();
  } finally {
    await unmountUnder(root);
  }
}
