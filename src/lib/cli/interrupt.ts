// Ctrl-C (SIGINT), SIGTERM and SIGHUP for commands that write the index. The first signal asks the
// command to stop: it keeps what is committed (each RPM is one transaction, and a transaction
// never spans two turns of the event loop, so a signal handler never runs inside one), abandons
// the RPMs in flight (nothing of them was written), says in one line what was done and exits with
// 128 + the signal number (130 for SIGINT, 143 for SIGTERM). A second signal exits at once.
import { UserError } from '../errors.js';

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type StopSignal = keyof typeof SIGNALS;

/** A command stopped by a signal; reportError prints it and exits with exitCode at once. */
export class InterruptedError extends UserError {
  constructor(message: string, readonly signal: StopSignal) {
    super(message, 128 + SIGNALS[signal]);
    this.name = 'InterruptedError';
  }
}

export interface Interrupts {
  /** Resolves with the first signal received; never rejects. */
  readonly received: Promise<StopSignal>;
  /**
   * Wait for `work`, unless a signal comes (or came) first: then `onSignal` (put claims back,
   * count what was done) returns the note, `work` is abandoned and InterruptedError is thrown.
   */
  race<T>(work: Promise<T>, onSignal: (signal: StopSignal) => string | Promise<string>): Promise<T>;
  /** Stop listening (the signals get Node's default action again). */
  dispose(): void;
}

export function watchInterrupts(): Interrupts {
  let first: StopSignal | undefined;
  let resolve!: (s: StopSignal) => void;
  const received = new Promise<StopSignal>((r) => { resolve = r; });
  const handler = (sig: NodeJS.Signals): void => {
    const s = sig as StopSignal;
    if (first) process.exit(128 + SIGNALS[s]);
    first = s;
    resolve(s);
  };
  const names = Object.keys(SIGNALS) as StopSignal[];
  for (const s of names) process.on(s, handler);
  return {
    received,
    async race(work, onSignal) {
      const result = await Promise.race([work.then((value) => ({ value })), received]);
      if (typeof result === 'string') {
        work.catch(() => undefined); // whatever it still does is never written
        throw new InterruptedError(await onSignal(result), result);
      }
      return result.value;
    },
    dispose() { for (const s of names) process.off(s, handler); },
  };
}

/** watchInterrupts().race(work, onSignal), listening only while `work` runs. */
export async function interruptible<T>(work: Promise<T>, onSignal: (signal: StopSignal) => string | Promise<string>): Promise<T> {
  const interrupts = watchInterrupts();
  try {
    return await interrupts.race(work, onSignal);
  } finally {
    interrupts.dispose();
  }
}
