// The original darkserver importer's way (darkimporter/libimporter.py parserpm): unpack the
// whole RPM with rpm2cpio | cpio, then for every listed path that is a file (symlinks
// followed, as os.path.isfile does) starting with the ELF magic, one `eu-unstrip -n -e FILE`.
// Sequential, as one darkjobworker handled one RPM at a time.
import { closeSync, lstatSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { log, nowMs } from './util.ts';

export interface OriginalResult { ms: number; elfPaths: number; buildIds: number }

function listPaths(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (lstatSync(p).isDirectory()) listPaths(p, out); else out.push(p);
  }
  return out;
}

function elfMagic(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    const fd = openSync(p, 'r');
    try { const b = Buffer.alloc(4); return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32BE(0) === 0x7f454c46; } finally { closeSync(fd); }
  } catch { return false; /* dangling link */ }
}

export async function originalWay(rpms: string[], work: string): Promise<OriginalResult> {
  let elfPaths = 0;
  const ids = new Set<string>();
  const s = nowMs();
  for (const rpm of rpms) {
    const dest = mkdtempSync(join(work, 'orig-'));
    await execa('rpm2cpio', [rpm]).pipe('cpio', ['-idm', '--quiet'], { cwd: dest });
    for (const p of listPaths(dest)) {
      if (!elfMagic(p)) continue;
      elfPaths++;
      // "0+0x258a8 HEXID@0x368 FILE - ": the original took split(' ')[1].split('@')[0]
      const r = await execa('eu-unstrip', ['-n', '-e', p], { reject: false });
      const id = r.stdout.split(' ')[1]?.split('@')[0];
      if (r.exitCode === 0 && id && /^[0-9a-f]+$/.test(id)) ids.add(id);
    }
    rmSync(dest, { recursive: true, force: true });
  }
  const ms = nowMs() - s;
  log(`original darkserver way: ${(ms / 1000).toFixed(2)} s, ${elfPaths} ELF paths, ${ids.size} build-ids`);
  return { ms, elfPaths, buildIds: ids.size };
}
