// `imagebuild logs [--follow]`: print a job's log (as it grows, until its job is no longer
// running), from its file on this machine or from the store.
import { open } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { onThisHost } from '../proc/worker.js';
import type { JobStore } from './jobs.js';

export async function followLog(path: string, write: (chunk: Buffer) => void, running: () => boolean | Promise<boolean>, pollMs = 250): Promise<void> {
  let pos = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const stillRunning = await running();
    const fh = await open(path, 'r').catch(() => undefined);
    if (fh) {
      try {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (!bytesRead) break;
          pos += bytesRead;
          write(Buffer.from(buf.subarray(0, bytesRead)));
        }
      } finally {
        await fh.close();
      }
    }
    // Read once more after the job ended, so its last lines are not lost.
    if (!stillRunning) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * `imagebuild logs JOB [--follow]`: the log file when the job ran (or runs) on this machine, else
 * the copy in the store, which every machine sharing it can read (its
 * newest DARKFORGE_DB_LOG_BYTES). --follow on a job still waiting for a worker waits for it to start.
 */
export async function followJobLog(jobs: JobStore, id: number, write: (chunk: Buffer) => void, o: { follow: boolean; note: (line: string) => void; pollMs?: number }): Promise<void> {
  const pollMs = o.pollMs ?? 250;
  const sleep = (): Promise<void> => new Promise((r) => setTimeout(r, pollMs));
  const stateOf = async (): Promise<string> => (await jobs.get(id))?.state ?? 'gone';
  let job = (await jobs.get(id))!;
  if (job.state === 'queued' && !job.log_path) {
    if (!o.follow) {
      o.note(`job ${id} is waiting for a worker: no log yet`);
      return;
    }
    while (job.state === 'queued' && !job.log_path) {
      await sleep();
      job = (await jobs.get(id))!;
    }
  }
  let seenRunning = false;
  const running = async (): Promise<boolean> => {
    const live = o.follow && ['queued', 'running'].includes(await stateOf());
    seenRunning ||= live;
    return live;
  };
  if (job.log_path && onThisHost(job.host)) {
    await followLog(job.log_path, write, running, pollMs);
    return;
  }
  let pos = 0;
  let any = false;
  const readAll = async (): Promise<void> => {
    for (;;) {
      const chunks = await jobs.readLog(id, pos, 1024 * 1024);
      if (!chunks.length) return;
      if (chunks[0].pos > pos) {
        o.note(`the first ${chunks[0].pos - pos} bytes of this part of the log are no longer in the database (it keeps the newest part of each job's log); ${job.host ? `the whole log is in ${job.log_path} on ${job.host}` : ''}`.replace(/; $/, ''));
      }
      for (const c of chunks) {
        write(Buffer.from(c.data));
        pos = c.pos + c.data.length;
      }
      any = true;
    }
  };
  for (;;) {
    const still = await running();
    await readAll();
    if (!still) break;
    await sleep();
  }
  // The runner writes a few lines after the final record (its work folder, mail): wait for them.
  if (seenRunning) {
    await new Promise((r) => setTimeout(r, 1000));
    await readAll();
  }
  if (!any && job.state !== 'queued') {
    throw new UserError(`job ${id} ran on ${job.host ?? 'another machine'}, and the database holds none of its log${job.log_path ? ` (it is in ${job.log_path} there)` : ''}`, 1);
  }
}
