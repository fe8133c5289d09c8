// What happens to a job's work folder once the job has ended. Image builds leave gigabytes of
// scratch (package downloads, install roots, trees), so by default the folder goes when the job
// succeeded and stays when it did not, for whoever looks into the failure (as `docker build`
// keeps a failed step's container). --keep-workdir keeps it always, --no-keep-workdir removes
// it always; the tools' own logs are first copied beside the job log, so a failure stays
// explained. Nothing mounted below the folder is ever walked into.
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ioMessage } from '../errors.js';
import type { FinalState } from './jobs.js';
import { mountsUnder, unmountUnder } from './builtin/mounts.js';

export interface SettleOptions {
  /** true: keep; false: remove; undefined: keep unless the job succeeded. */
  keep: boolean | undefined;
  state: FinalState;
  jobDir: string;
  /** Logs the tool wrote inside the work folder. */
  toolLogs: string[];
  log: (line: string) => void;
}

export function keepsWorkdir(keep: boolean | undefined, state: FinalState): boolean {
  return keep ?? state !== 'succeeded';
}

export async function settleWorkdir(work: string, o: SettleOptions): Promise<void> {
  if (!existsSync(work)) return;
  if (keepsWorkdir(o.keep, o.state)) {
    o.log(`work folder kept: ${work}`);
    return;
  }
  if (o.state !== 'succeeded') await saveToolLogs(o.toolLogs, join(o.jobDir, 'tool-logs'), o.log);
  await unmountUnder(work, o.log);
  const left = await mountsUnder(work);
  if (left.length) {
    o.log(`work folder kept: ${left.join(', ')} is still mounted below ${work}`);
    return;
  }
  await rm(work, { recursive: true, force: true });
  o.log(`work folder removed: ${work}`);
}

async function saveToolLogs(logs: string[], dir: string, log: (line: string) => void): Promise<void> {
  const present = logs.filter((l) => existsSync(l));
  if (!present.length) return;
  await mkdir(dir, { recursive: true });
  for (const l of present) {
    await copyFile(l, join(dir, basename(l))).catch((e) => log(`could not keep ${l}: ${ioMessage(e)}`));
  }
  log(`the tools' logs are kept in ${dir}`);
}

/**
 * Moves a built job's images out of the work folder into `dir` (same file system: a rename, no
 * copy of a multi-gigabyte ISO). Returns where each image is now; `moved` is false when some
 * stayed where the tool wrote them (then the work folder must be kept).
 */
export async function keepImages(outputs: string[], dir: string, log: (line: string) => void): Promise<{ paths: string[]; moved: boolean }> {
  const paths: string[] = [];
  let moved = true;
  const made = await mkdir(dir, { recursive: true }).then(() => true, (e) => {
    log(`cannot create ${dir} (${ioMessage(e)}): the image(s) stay in the work folder`);
    return false;
  });
  for (const f of outputs) {
    const dest = join(dir, basename(f));
    if (made && await rename(f, dest).then(() => true, (e) => { log(`${f} stays in the work folder (${ioMessage(e)})`); return false; })) {
      paths.push(dest);
    } else {
      paths.push(f);
      moved = false;
    }
  }
  return { paths, moved };
}
