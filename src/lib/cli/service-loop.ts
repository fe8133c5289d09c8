// The frame of the import commands that run as services until stopped (`import --follow`,
// `import --worker --follow`): a start, then a step, a pause, the next step. SIGTERM, SIGINT or
// SIGHUP between two steps ends the loop (the command exits 0); one during the start or a step
// puts this process's claimed RPMs back on the queue (nothing of them was written) and ends the
// command with 128 + the signal and one line. A failure of the database puts them back too and
// is thrown.
import { pollLoop } from '../import/poll-loop.js';
import { releaseClaims } from '../import/queue.js';
import { databaseError } from '../index/db-errors.js';
import type { Store } from '../store/port.js';
import { watchInterrupts } from './interrupt.js';

export interface ServiceLoop<T> {
  /** Set up (under the same signal handling); what the steps work with. */
  start: () => Promise<T>;
  /** The line for a signal during the start. */
  startInterrupted: string;
  intervalMs: number;
  step: (state: T) => Promise<void>;
  /** The line for a signal during a step, once `putBack` claimed RPMs are back on the queue. */
  interrupted: (signal: string, putBack: number, state: T) => string;
  /** Clear the terminal's progress bar before a line is written. */
  quiet: () => void;
}

/** Run until stopped; returns the state once a signal came between two steps. */
export async function serviceLoop<T>(store: Store, o: ServiceLoop<T>): Promise<T> {
  const interrupts = watchInterrupts();
  try {
    const state = await interrupts.race(o.start(), () => o.startInterrupted);
    await pollLoop({
      intervalMs: o.intervalMs,
      stop: interrupts.received,
      during: (work) => interrupts.race(work, async (signal) => {
        o.quiet();
        return o.interrupted(signal, await releaseClaims(store) ?? 0, state);
      }),
      step: () => o.step(state),
    });
    return state;
  } catch (e) {
    o.quiet();
    if (databaseError(e)) await releaseClaims(store);
    throw e;
  } finally {
    interrupts.dispose();
  }
}
