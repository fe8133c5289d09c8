// The `darkserver debug` command's work: build the tree, name what the index does not know, then
// run gdb (its exit code is the command's) or print its command line.
import { stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { execa } from 'execa';
import { ioMessage, UserError } from '../errors.js';
import type { Store } from '../store/port.js';
import type { NetOptions } from '../net/dispatcher.js';
import { openCoreInput } from '../elf/core-input.js';
import { gdbArgs, prepareTree, unknownModuleLines } from './session.js';

export interface DebugCommand {
  core: string;
  exe?: string;
  cacheRoot: string;
  net?: NetOptions;
  print: boolean;
  batch: boolean;
  commands: string[];
  gdb: string;
  sources: boolean;
  debuginfod: boolean;
  /** With print: the argument list and the modules as JSON. */
  json: boolean;
}

/** Shell quoting, for showing a command line (it is never run through a shell). */
const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The exit code: gdb's, or 0 after --print. */
export async function runDebug(store: Store, c: DebugCommand, note: (line: string) => void): Promise<number> {
  if (c.exe) {
    try {
      if (!(await stat(c.exe)).isFile()) throw new UserError(`${c.exe}: not a regular file`, 2);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${c.exe}: ${ioMessage(e)}`, 2);
    }
  }
  const core = await openCoreInput(c.core);
  try {
    const tree = await prepareTree(store, { core: core.path, coreName: core.name, exe: c.exe, cacheRoot: c.cacheRoot, net: c.net, sources: c.sources, note });
    for (const line of unknownModuleLines(tree)) note(line);
    if (!tree.modules.some((m) => m.from === 'index')) note(`${core.name}: none of its modules is in the index; gdb runs with what this machine has`);
    const args = gdbArgs(tree, core.path, { gdb: c.gdb, batch: c.batch, commands: c.commands, debuginfod: c.debuginfod });
    if (c.print) {
      if (c.json) {
        const modules = tree.modules.map((o) => ({
          path: o.module.path, buildid: o.module.buildId ?? null, from: o.from,
          executable: o.executable ?? null, debuginfo: o.debuginfo ?? null, placed: o.placed ?? null,
        }));
        process.stdout.write(`${JSON.stringify({ gdb: c.gdb, args, tree: tree.dir, modules }, null, 2)}\n`);
      } else {
        process.stdout.write(`${[c.gdb, ...args].map(quote).join(' ')}\n`);
      }
      return 0;
    }
    // Ctrl-C belongs to gdb (it stops the inferior's listing, not the session): this process,
    // which gets the same signal from the terminal, must not die of it and leave gdb behind.
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    let r;
    try {
      r = await execa(c.gdb, args, { stdio: 'inherit', reject: false });
    } finally {
      process.off('SIGINT', ignore);
    }
    if (r.exitCode !== undefined) return r.exitCode;
    if (r.signal) return 128 + (constants.signals[r.signal] ?? 0);
    const why = (r as { code?: string }).code === 'ENOENT'
      ? 'not found; install gdb (Debian/Ubuntu: apt-get install gdb; Fedora: dnf install gdb) or name it with --gdb'
      : `could not be started (${r.shortMessage})`;
    throw new UserError(`${c.gdb}: ${why}`, 1);
  } finally {
    await core.cleanup();
  }
}
