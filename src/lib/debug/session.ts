// `darkserver debug CORE [EXE]`: what `coredumpctl debug` does, for builds that are gone from
// every repository. The core's modules (read as `darkserver query --core` reads them) are looked
// up in the index; the executable and debuginfo of each known one are fetched into the cache
// (the same fetching as `darkserver serve`: one download per RPM, checked), and laid out for gdb:
//   CACHE/debug/KEY/.build-id/xx/yyyy[.debug]  -> the cached files (gdb's debug-file-directory)
//   CACHE/debug/KEY/root/PATH-IN-CORE          -> each module's file (gdb's sysroot)
//   CACHE/debug/KEY/root/usr/src/debug/...     -> the build's sources (substitute-path)
// A module the index does not know is taken from this machine when the file at its path has the
// same build-id (libc, say), else named on stderr. gdb runs from an argument array, never a shell.
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { buildIdOfFile } from '../elf/file.js';
import { readCoreModules, type CoreModule } from '../elf/core.js';
import { describeFailure, UserError } from '../errors.js';
import type { FindKind } from '../find/cache.js';
import { queryBuildIds } from '../index/query.js';
import type { Store } from '../store/port.js';
import type { NetOptions } from '../net/dispatcher.js';
import { Artifacts } from '../serve/artifacts.js';
import { DiskCache } from '../serve/disk-cache.js';
import { HttpError } from '../serve/http-error.js';
import { Limiter } from '../serve/limiter.js';
import { serveMetrics } from '../serve/metrics.js';
import { RpmFetcher } from '../serve/rpm-fetch.js';
import { placeLink } from './links.js';
import { extractSources } from './sources.js';
import { underRoot } from './tree-paths.js';

export interface DebugRequest {
  /** The core dump file: a plain, readable path (openCoreInput gives one for "-" and compressed cores). */
  core: string;
  /** How messages name the core (default: its path). */
  coreName?: string;
  /** The executable, when the user names it; else the one the index gives for the core. */
  exe?: string;
  cacheRoot: string;
  net?: NetOptions;
  sources: boolean;
  /** Tell the user something (a module not found, a fetch that failed). */
  note: (line: string) => void;
}

export interface ModuleOutcome {
  module: CoreModule;
  /** 'index': fetched from the index's RPMs; 'host': this machine's file has the build-id; 'missing'. */
  from: 'index' | 'host' | 'missing' | 'vdso' | 'no-build-id';
  executable?: string;
  debuginfo?: string;
  /** The module's file as gdb will open it (below the sysroot). */
  placed?: string;
}

export interface DebugTree {
  dir: string;
  root: string;
  exe?: string;
  modules: ModuleOutcome[];
  /** Folders of the sysroot that hold modules, for gdb's solib-search-path (it matches by file name). */
  libDirs: string[];
}

export async function prepareTree(store: Store, r: DebugRequest): Promise<DebugTree> {
  const name = r.coreName ?? r.core;
  const modules = await readCoreModules(r.core, { name });
  if (!modules.length) throw new UserError(`${name}: the core dump names no modules: nothing to fetch`, 1);
  const key = createHash('sha256').update(modules.map((m) => `${m.path}\0${m.buildId ?? ''}`).join('\n')).digest('hex').slice(0, 16);
  const dir = join(r.cacheRoot, 'debug', key);
  const root = join(dir, 'root');

  const cache = new DiskCache(r.cacheRoot, undefined);
  const fetcher = new RpmFetcher({ cache, net: r.net, limiter: new Limiter(4), indexed: async (i, p) => await store.hasRpm(i, p) });
  const artifacts = new Artifacts({ store, cache, fetcher, extractions: new Limiter(4), metrics: serveMetrics(), net: r.net });

  const fetchOne = async (kind: FindKind, buildId: string): Promise<string | undefined> => {
    try {
      const a = await artifacts.obtain({ kind, buildId }, {});
      await a.release();
      return a.path;
    } catch (e) {
      r.note(`${buildId}: no ${kind}: ${e instanceof HttpError ? e.message : describeFailure(e)}`);
      return undefined;
    }
  };

  const outcomes: ModuleOutcome[] = [];
  let exeFromIndex: string | undefined;
  const builds = new Set<string>();
  for (const m of modules) {
    if (m.path === '[vdso]') { outcomes.push({ module: m, from: 'vdso' }); continue; }
    if (!m.buildId) { outcomes.push({ module: m, from: 'no-build-id' }); continue; }
    const rows = (await queryBuildIds(store, [m.buildId])).results;
    const placed = underRoot(root, m.path);
    if (rows.length) {
      const o: ModuleOutcome = { module: m, from: 'index' };
      o.executable = await fetchOne('executable', m.buildId);
      o.debuginfo = await fetchOne('debuginfo', m.buildId);
      const id = m.buildId;
      const bid = join(dir, '.build-id', id.slice(0, 2), id.slice(2));
      if (o.executable) await placeLink(r.cacheRoot, bid, o.executable);
      if (o.debuginfo) await placeLink(r.cacheRoot, `${bid}.debug`, o.debuginfo);
      if (o.executable && placed) {
        await placeLink(r.cacheRoot, placed, o.executable);
        o.placed = placed;
      }
      if (rows.some((x) => x.type === 'executable') && o.placed) exeFromIndex ??= o.placed;
      builds.add(m.buildId);
      outcomes.push(o);
      continue;
    }
    // Not in the index: this machine's copy will do if it is the very same build.
    let hostId: string | undefined;
    try { hostId = await buildIdOfFile(m.path); } catch { hostId = undefined; }
    if (hostId === m.buildId && placed) {
      await placeLink(r.cacheRoot, placed, m.path);
      outcomes.push({ module: m, from: 'host', placed });
    } else {
      outcomes.push({ module: m, from: 'missing' });
    }
  }

  if (r.sources) {
    // One build's sources serve all its modules (the program and its library share one).
    const seen = new Set<string>();
    for (const id of builds) {
      const res = await extractSources(store, fetcher, r.cacheRoot, root, id);
      if (res.rpm && seen.has(res.rpm)) continue;
      if (res.rpm) seen.add(res.rpm);
      for (const p of res.problems) r.note(`sources of ${id}: ${p}`);
    }
  }

  const libDirs = [...new Set(outcomes.filter((o) => o.placed).map((o) => dirname(o.placed!)))];
  return { dir, root, exe: r.exe ?? exeFromIndex ?? firstPlaced(outcomes), modules: outcomes, libDirs };
}

/** The executable when the index does not say which module it is: mapped lowest, as a program is below its libraries. */
function firstPlaced(outcomes: ModuleOutcome[]): string | undefined {
  return outcomes.find((o) => o.placed)?.placed;
}

export interface GdbOptions {
  gdb: string;
  batch: boolean;
  commands: string[];
  debuginfod: boolean;
}

/** gdb's argument list: the tree as debug-file-directory, the sysroot, the sources; then EXE CORE. */
export function gdbArgs(tree: DebugTree, core: string, o: GdbOptions): string[] {
  const args = [
    '-q',
    '-iex', `set debuginfod enabled ${o.debuginfod ? 'on' : 'off'}`,
    '-iex', `set sysroot ${tree.root}`,
    '-iex', `set debug-file-directory ${tree.dir}:/usr/lib/debug`,
    '-iex', `set substitute-path /usr/src/debug ${join(tree.root, 'usr', 'src', 'debug')}`,
  ];
  if (tree.libDirs.length) args.push('-iex', `set solib-search-path ${tree.libDirs.join(':')}`);
  if (o.batch) args.push('-batch');
  const commands = o.commands.length ? o.commands : o.batch ? ['bt'] : [];
  for (const c of commands) args.push('-ex', c);
  if (tree.exe) args.push(tree.exe);
  args.push(tree.exe ? core : `--core=${core}`);
  return args;
}

/** One line per module the index does not know, for stderr. */
export function unknownModuleLines(tree: DebugTree): string[] {
  const out: string[] = [];
  for (const o of tree.modules) {
    const m = o.module;
    if (o.from === 'host') out.push(`${m.path} (${m.buildId}): not in the index; this machine's copy has the same build-id and is used`);
    else if (o.from === 'missing') out.push(`${m.path} (${m.buildId}): not in the index, and this machine has no file of that build-id: gdb will have no symbols for it`);
    else if (o.from === 'no-build-id') out.push(`${m.path}: the core holds no build-id for it (its first page was not dumped): not looked up`);
  }
  return out;
}
