// `darkserver import --follow`: poll Koji and import what completes, until stopped. Quiet as a
// service should be: one line on stdout for each poll that imported something (a JSON object per
// line with --json), one on stderr for each problem (a hub that stops answering is told once,
// and again when it answers). On a terminal it also says where it starts and shows a progress bar.
//
// Stopping: SIGTERM, SIGINT or SIGHUP between two polls ends it at once with exit 0. During a
// poll, the RPMs in flight are put back on the queue (nothing of them was written) and it exits
// 128 + the signal, as every darkforge command that writes does; the mark stays at the last poll,
// and the next start finishes that poll's builds first. A failure of the database itself ends it
// with exit 1.
import { UserError } from '../errors.js';
import { Follower, type FollowOptions } from '../import/follow.js';
import { databaseError } from '../index/db-errors.js';
import type { Store } from '../store/port.js';
import { formatBytes } from './format.js';
import { batchLine } from './import-summary.js';
import { note } from './output.js';
import { progressBar } from './progress.js';
import { serviceLoop } from './service-loop.js';

export interface FollowRequest extends Omit<FollowOptions, 'onProgress' | 'onError'> {
  pollS: number;
  json?: boolean;
}

const when = (ts: number): string => new Date(ts * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

export async function runFollow(store: Store, req: FollowRequest, label: string): Promise<void> {
  const tty = process.stderr.isTTY && !req.json;
  const bar = progressBar(!req.json, '{bar} {value}/{total} RPMs | {builds} builds | {fetched} fetched');
  const problem = (subject: string, message: string): void => { bar.stop(); note(label, `${subject}: ${message}`); };
  // A hub that does not answer is told once, not at every poll, and again when it is back.
  let trouble: string | undefined;
  const at = (f: Follower): string => String(f.current.event_id ?? when(f.current.event_ts));
  const follower = await serviceLoop(store, {
    start: async () => {
      const f = await Follower.start(store, {
        ...req,
        onProgress: (p) => bar.update(p.rpmsDone, p.rpmsTotal, { builds: p.builds, fetched: formatBytes(p.bytes) }),
        onError: problem,
      });
      const m = f.current;
      if (tty) {
        note(label, `following ${f.instance} from ${m.event_id === null ? '' : `Koji event ${m.event_id}, `}${when(m.event_ts)}; `
          + `looking every ${req.pollS} s${req.queueOnly ? ', queuing for import workers' : ''} (Ctrl-C stops)`);
      }
      return f;
    },
    startInterrupted: 'interrupted while starting; nothing was changed',
    intervalMs: req.pollS * 1000,
    quiet: () => bar.stop(),
    interrupted: (signal, back, f) => `interrupted by ${signal} during a poll: ${back} RPMs in progress put back on the queue; `
      + `the next "darkserver import --follow" goes on from Koji event ${at(f)}`,
    step: async (f) => {
      try {
        const batch = await f.poll();
        bar.stop();
        if (trouble) { note(label, `${f.instance}: Koji answers again`); trouble = undefined; }
        // One line (with --json, one object: JSON Lines) per poll that imported, queued or failed something.
        const line = batchLine(batch);
        if (line) process.stdout.write(`${req.json ? JSON.stringify(batch) : line}\n`);
      } catch (e) {
        bar.stop();
        // The database failing ends the run; a hub or network failure only this poll.
        if (databaseError(e) || !(e instanceof UserError)) throw e;
        if (e.message !== trouble) note(label, `${e.message}; trying again every ${req.pollS} s`);
        trouble = e.message;
      }
    },
  });
  if (tty) note(label, `stopped at Koji event ${at(follower)}`);
}
