// An installation tree the way Fedora composes lay them out: Packages/<first letter>/*.rpm,
// repodata/ (createrepo_c, by the caller), .discinfo, .treeinfo (productmd 1.2 with the legacy
// [general] section) and media.repo. Anaconda and dnf find the packages through these.
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** Moves every downloaded *.rpm into tree/Packages/<lowercase first letter>/; returns the count. */
export async function layoutPackages(downloadDir: string, tree: string): Promise<number> {
  const rpms = (await readdir(downloadDir)).filter((f) => f.endsWith('.rpm')).sort();
  for (const f of rpms) {
    const dir = join(tree, 'Packages', f[0].toLowerCase());
    await mkdir(dir, { recursive: true });
    await rename(join(downloadDir, f), join(dir, f));
  }
  return rpms.length;
}

export interface TreeInfo {
  /** e.g. "Fedora" */
  family: string;
  version: string;
  /** yum basearch: x86_64, i386, … */
  arch: string;
  /** e.g. "Everything" (the pungi flavor) */
  variant: string;
  /** Seconds since the epoch. */
  timestamp: number;
}

/** productmd's .discinfo: timestamp, description, arch, disc numbers. */
export function discinfo(t: TreeInfo): string {
  return `${t.timestamp.toFixed(6)}\n${t.family} ${t.version}\n${t.arch}\nALL\n`;
}

/** dnf's and anaconda's view of the DVD as a repository. */
export function mediaRepo(t: TreeInfo): string {
  return `[InstallMedia]\nname=${t.family} ${t.version}\nmediaid=${t.timestamp.toFixed(6)}\nmetadata_expire=-1\ngpgcheck=0\ncost=500\n`;
}

/**
 * productmd .treeinfo 1.2. `boot` is the .treeinfo of a lorax boot.iso grafted onto the tree:
 * its [images-ARCH], [stage2] and [checksums] sections say where the kernel, initrd and
 * install.img are, and are kept as they are.
 */
export function treeinfo(t: TreeInfo, boot?: string): string {
  const variant = t.variant.replace(/[^A-Za-z0-9]/g, '') || 'Everything';
  const sections: [string, [string, string][]][] = [
    ['header', [['type', 'productmd.treeinfo'], ['version', '1.2']]],
    ['release', [['name', t.family], ['short', t.family], ['version', t.version]]],
    ['tree', [['arch', t.arch], ['build_timestamp', String(t.timestamp)], ['platforms', t.arch], ['variants', variant]]],
    [`variant-${variant}`, [['id', variant], ['name', variant], ['packages', 'Packages'], ['repository', '.'], ['type', 'variant'], ['uid', variant]]],
    ['general', [
      ['; WARNING.0', 'This section provides compatibility with pre-productmd treeinfos.'],
      ['; WARNING.1', 'Read productmd documentation for details about new format.'],
      ['arch', t.arch], ['family', t.family], ['name', `${t.family} ${t.version}`], ['packagedir', 'Packages'],
      ['platforms', t.arch], ['repository', '.'], ['timestamp', String(t.timestamp)], ['variant', variant], ['version', t.version],
    ]],
  ];
  let text = sections.map(([name, kv]) => `[${name}]\n${kv.map(([k, v]) => `${k} = ${v}`).join('\n')}\n`).join('\n');
  const kept = boot ? bootSections(boot) : '';
  if (kept) text += `\n${kept}`;
  return text;
}

/** The [images-*], [stage2] and [checksums] sections of a boot tree's .treeinfo, verbatim. */
function bootSections(text: string): string {
  const out: string[] = [];
  let keep = false;
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    const m = /^\s*\[([^\]]+)\]/.exec(line);
    if (m) keep = /^(images-.+|stage2|checksums)$/.test(m[1].trim());
    if (keep) out.push(line);
  }
  while (out.length && !out[out.length - 1].trim()) out.pop();
  return out.length ? `${out.join('\n')}\n` : '';
}
