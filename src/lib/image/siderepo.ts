// The side repository of Koji packages that are in no repository yet (the Fedora QA use case):
// resolve each N-V-R and build id, keep the image's arch and noarch, drop debuginfo,
// debugsource and source RPMs, download with Koji's checksums, and index it with createrepo_c.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { DownloadError, FormatError, UserError } from '../errors.js';
import { KojiClient } from '../koji/client.js';
import { KojiInstance, TOPURL_SCHEMES } from '../koji/instances.js';
import { BUILD_STATES, buildStateName, KojiBuild, KojiRpm } from '../koji/types.js';
import { kojiRpmUrl } from '../koji/urls.js';
import type { NetOptions } from '../net/dispatcher.js';
import { openSource } from '../net/open-source.js';
import { readRpmHeaders } from '../rpm/reader.js';
import { describeRpm } from '../rpm/package.js';
import { FileSource } from '../rpm/source.js';

export interface SideRpm {
  nvra: string;
  url: string;
  payloadhash: string;
  size: number;
  build: string;
}

/** The RPM arches an image of `arch` can install. */
export function installableArches(arch: string): string[] {
  const x86 = ['i386', 'i486', 'i586', 'i686'];
  if (x86.includes(arch)) return [...x86.slice(0, x86.indexOf(arch) + 1), 'noarch'];
  if (arch === 'armhfp') return ['armv7hl', 'armv7hnl', 'noarch'];
  return [arch, 'noarch'];
}

const unwanted = (r: KojiRpm): boolean => r.arch === 'src' || r.arch === 'nosrc' || /-debug(info|source)$/.test(r.name);

/** What the side repository will hold: one entry per RPM (used by --dry-run as well). */
export async function planSideRepo(client: KojiClient, inst: KojiInstance, arch: string, nvrs: string[], bids: number[]): Promise<SideRpm[]> {
  const arches = installableArches(arch);
  const out: SideRpm[] = [];
  for (const ref of [...nvrs, ...bids]) {
    const b: KojiBuild | null = await client.getBuild(ref);
    if (!b) throw new UserError(`Koji build ${ref} does not exist on ${inst.hub}`, 1);
    if (b.state !== BUILD_STATES.COMPLETE) throw new UserError(`Koji build ${b.nvr} is ${buildStateName(b.state)}, not COMPLETE`, 1);
    const rpms = (await client.listRPMs(b.id)).filter((r) => !unwanted(r) && arches.includes(r.arch));
    if (!rpms.length) throw new UserError(`Koji build ${b.nvr} has no ${arches.join(' or ')} RPMs`, 1);
    for (const r of rpms) {
      out.push({ nvra: `${r.name}-${r.version}-${r.release}.${r.arch}`, url: kojiRpmUrl(inst.topurl, b, r), payloadhash: r.payloadhash.toLowerCase(), size: r.size, build: b.nvr });
    }
  }
  return out;
}

/** Download every planned RPM into `dir` (verified) and run createrepo_c there. */
export async function buildSideRepo(dir: string, rpms: SideRpm[], o: { createrepo: string; log: (line: string) => void; net?: NetOptions }): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const r of rpms) {
    o.log(`downloading ${r.url}`);
    await downloadVerified(r, join(dir, `${r.nvra}.rpm`), o.net);
  }
  o.log(`running ${o.createrepo} ${dir}`);
  const res = await execa(o.createrepo, ['--quiet', '--no-database', dir], { reject: false, all: true });
  if (res.exitCode !== 0) throw new UserError(`createrepo_c failed on ${dir}: ${String(res.all ?? '').trim().split('\n').pop()}`, 1);
}

async function downloadVerified(r: SideRpm, dest: string, net: NetOptions = {}): Promise<void> {
  const part = `${dest}.part`;
  // The topurl may be a local copy of the package store (file:), as for imports.
  const src = await openSource(r.url, { ...net, expectedSize: r.size }, TOPURL_SCHEMES);
  try {
    await pipeline(src.rest(), createWriteStream(part));
  } catch (e) {
    await unlink(part).catch(() => undefined);
    // A download that failed is one sentence naming the RPM's URL (the store's own words, never a stack).
    if (e instanceof DownloadError || e instanceof FormatError) throw new UserError(`Koji package ${r.nvra}: ${e.message}`, 1);
    throw e;
  } finally {
    await src.close();
  }
  // SIGMD5 (Koji's payloadhash) covers the main header and the payload.
  const file = await FileSource.open(part);
  try {
    if (file.size !== r.size) throw new UserError(`${r.url}: ${file.size} bytes, Koji says ${r.size}`, 1);
    const h = await readRpmHeaders(file);
    const info = describeRpm(h);
    if (info.sigmd5 !== r.payloadhash) throw new UserError(`${r.url}: checksum mismatch: SIGMD5 ${info.sigmd5}, Koji's payloadhash ${r.payloadhash}`, 1);
    const md5 = createHash('md5').update(h.headerBytes);
    for await (const chunk of file.rest()) md5.update(chunk as Buffer);
    if (md5.digest('hex') !== r.payloadhash) throw new UserError(`${r.url}: checksum mismatch: the content does not match its SIGMD5 ${r.payloadhash}`, 1);
  } catch (e) {
    await unlink(part).catch(() => undefined);
    throw e;
  } finally {
    await file.close();
  }
  await rename(part, dest);
}
