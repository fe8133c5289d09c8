// The external programs the image builder drives, where to find them, and which one builds what.
// We search PATH ourselves (instead of letting the spawn fail with ENOENT) so that a missing tool
// is reported before any work starts, naming the package that provides it.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UserError } from '../errors.js';
import type { BackendChoice, BackendName, ImageBuildConfig, ImageType } from './types.js';

export type ToolName = 'lorax' | 'pungi' | 'livecd-creator' | 'livemedia-creator' | 'setarch' | 'createrepo_c'
  | 'dnf' | 'xorriso' | 'implantisomd5' | 'mksquashfs' | 'systemctl' | 'openssl' | 'chroot';

export interface ToolInfo {
  command: string;
  /** The Fedora package that ships the command. */
  package: string;
  /** Said after the package in the "not installed" message. */
  note?: string;
}

export const TOOLS: Record<ToolName, ToolInfo> = {
  lorax: { command: 'lorax', package: 'lorax' },
  pungi: { command: 'pungi', package: 'pungi' },
  'livecd-creator': { command: 'livecd-creator', package: 'livecd-tools' },
  // lorax.spec: /usr/sbin/livemedia-creator is in "lorax"; "lorax-lmc-novirt" only pulls in
  // anaconda-core/anaconda-tui, which --no-virt runs directly on the host.
  'livemedia-creator': {
    command: 'livemedia-creator',
    package: 'lorax',
    note: '--no-virt builds also need "lorax-lmc-novirt"',
  },
  // util-linux ships setarch on Fedora and on Debian alike.
  setarch: { command: 'setarch', package: 'util-linux' },
  createrepo_c: { command: 'createrepo_c', package: 'createrepo_c', note: '"createrepo-c" on Debian' },
  // The builtin backend's tools: Fedora and Debian name their packages alike.
  dnf: { command: 'dnf', package: 'dnf' },
  xorriso: { command: 'xorriso', package: 'xorriso' },
  implantisomd5: { command: 'implantisomd5', package: 'isomd5sum' },
  mksquashfs: { command: 'mksquashfs', package: 'squashfs-tools' },
  systemctl: { command: 'systemctl', package: 'systemd' },
  openssl: { command: 'openssl', package: 'openssl' },
  chroot: { command: 'chroot', package: 'coreutils' },
};

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A name outside TOOLS (e.g. a plan's command) is looked up as itself, with no package known. */
function toolInfo(name: string): ToolInfo {
  return Object.hasOwn(TOOLS, name) ? TOOLS[name as ToolName] : { command: name, package: '' };
}

/** Absolute path of the tool's command on PATH, or undefined. */
export function findTool(name: ToolName | (string & {}), env: NodeJS.ProcessEnv = process.env): string | undefined {
  const command = toolInfo(name).command;
  // Empty PATH entries mean the current directory to a shell; a build service should not run
  // whatever happens to sit in its working directory, so they are skipped.
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

export function notInstalledMessage(name: ToolName | (string & {})): string {
  const { command, package: pkg, note } = toolInfo(name);
  if (!pkg) return `${command} is not installed (not found on PATH)`;
  return `${command} is not installed (it comes in the "${pkg}" package${note ? `; ${note}` : ''})`;
}

/** Like findTool, but a missing tool is a UserError (exit 2) that names its package. */
export function requireTool(name: ToolName | (string & {}), env: NodeJS.ProcessEnv = process.env): string {
  const path = findTool(name, env);
  if (!path) throw new UserError(notInstalledMessage(name), 2);
  return path;
}

/** Which image types each backend can build; 'builtin' is our own DVD/live assembler. */
const BUILDS: Record<BackendName, ImageType[]> = {
  lorax: ['boot'],
  pungi: ['dvd'],
  'livecd-creator': ['live'],
  'livemedia-creator': ['live'],
  builtin: ['dvd', 'live'],
};

/**
 * The backend for an image type. 'auto' prefers the real tools (livemedia-creator before the
 * older livecd-creator, which Fedora retired) and falls back to builtin. A boot.iso has no
 * builtin fallback, so 'auto' picks lorax even when it is missing and the runner's
 * requireTool then says which package to install. An explicit backend is checked against the
 * type only; whether its tool is installed is also left to requireTool.
 */
export function chooseBackend(type: ImageType, choice: BackendChoice, env: NodeJS.ProcessEnv = process.env): BackendName {
  if (choice !== 'auto') {
    if (!BUILDS[choice].includes(type)) {
      const able = (Object.keys(BUILDS) as BackendName[]).filter((b) => BUILDS[b].includes(type));
      throw new UserError(`The ${choice} backend cannot build ${type} images (use ${able.join(' or ')}, or auto)`, 2);
    }
    return choice;
  }
  switch (type) {
    case 'boot':
      return 'lorax';
    case 'dvd':
      return findTool('pungi', env) ? 'pungi' : 'builtin';
    case 'live':
      if (findTool('livemedia-creator', env)) return 'livemedia-creator';
      return findTool('livecd-creator', env) ? 'livecd-creator' : 'builtin';
  }
}

/** chooseBackend for a whole config: archives and a grafted boot.iso are builtin-only, so auto means builtin. */
export function backendFor(cfg: ImageBuildConfig, env: NodeJS.ProcessEnv = process.env): BackendName {
  const builtinOnly = cfg.dvd !== undefined && cfg.type === 'dvd' && (cfg.dvd.format !== 'iso' || cfg.dvd.bootIso !== undefined);
  return chooseBackend(cfg.type, builtinOnly && cfg.backend === 'auto' ? 'builtin' : cfg.backend, env);
}
