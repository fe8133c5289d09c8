// Expand the PATH arguments of `darkserver index`: files as given, folders searched recursively
// for *.rpm (symlinked folders are not followed, so a loop cannot hang the walk).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ioMessage } from '../errors.js';

export interface Discovered {
  files: string[];
  errors: { path: string; message: string }[];
  emptyDirs: string[];
}

export async function discoverRpms(paths: string[]): Promise<Discovered> {
  const out: Discovered = { files: [], errors: [], emptyDirs: [] };
  const seen = new Set<string>();
  const addFile = (p: string): void => {
    if (!seen.has(p)) { seen.add(p); out.files.push(p); }
  };
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      out.errors.push({ path: p, message: ioMessage(e) });
      continue;
    }
    if (!st.isDirectory()) { addFile(p); continue; }
    const before = out.files.length;
    try {
      await walk(p, addFile);
    } catch (e) {
      out.errors.push({ path: p, message: ioMessage(e) });
    }
    if (out.files.length === before) out.emptyDirs.push(p);
  }
  return out;
}

async function walk(dir: string, add: (p: string) => void): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, add);
    else if (e.name.endsWith('.rpm') && (e.isFile() || (e.isSymbolicLink() && (await stat(p).catch(() => undefined))?.isFile()))) add(p);
  }
}
