// xorriso command lines for the builtin backend's ISOs. Pure: the argv is shown by --dry-run.
//
// Every image gets 1 MiB of padding inside the ISO filesystem ("included", so the volume size
// counts it): implantisomd5 fragments an image into 20 parts, and checkisomd5 reports a tiny
// image (a few hundred KB) as FAIL however sound it is.
import { basearch } from '../validate.js';

const PADDING = ['-padding', '1m', '-padding', 'included'];

/** Default volume id: NAME-VERSION-BASEARCH in the characters xorriso and CDLABEL= take, ≤ 32. */
export function defaultVolumeId(name: string, version: string, arch: string): string {
  return `${name}-${version}-${basearch(arch)}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32);
}

export interface BiosBoot {
  /** isolinux.bin, relative to the ISO root */
  image: string;
  catalog: string;
  /** isohdpfx.bin on the host, for a USB-bootable (isohybrid) image */
  hybridMbr?: string;
}

/** A new ISO from a folder, optionally BIOS-bootable with isolinux. */
export function mkisofsArgs(o: { dir: string; out: string; volid: string; bios?: BiosBoot }): string[] {
  const args = ['-as', 'mkisofs', '-o', o.out, '-V', o.volid, '-R', '-J', '-joliet-long', '-iso-level', '3'];
  if (o.bios) {
    args.push('-b', o.bios.image, '-c', o.bios.catalog, '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table');
    if (o.bios.hybridMbr) args.push('-isohybrid-mbr', o.bios.hybridMbr);
  }
  args.push(o.dir, '--', ...PADDING);
  return args;
}

/**
 * The tree added to a copy of a lorax boot.iso: `-boot_image any replay` keeps its El Torito
 * entries (BIOS and EFI), boot-info-table and hybrid MBR/GPT, so the DVD boots as boot.iso does.
 */
export function graftArgs(o: { bootIso: string; dir: string; out: string; volid: string }): string[] {
  return ['-indev', o.bootIso, '-outdev', o.out, '-volid', o.volid, '-joliet', 'on', '-rockridge', 'on',
    '-boot_image', 'any', 'replay', '-map', o.dir, '/', ...PADDING, '-commit'];
}

/** Reads one file out of an ISO (the boot.iso's .treeinfo); xorriso exits non-zero when it is absent. */
export function extractArgs(iso: string, path: string, dest: string): string[] {
  return ['-osirrox', 'on', '-indev', iso, '-extract', path, dest];
}
