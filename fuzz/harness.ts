// The fuzz oracle, shared by `npm run fuzz` (fuzz/run.ts) and test/fuzz.test.ts. Every case must
// end in a value or a typed error (FormatError, UserError, DownloadError) with a one-line
// message; anything else — a TypeError or RangeError from a parser, an uncaught exception, an
// unhandled rejection, a case that outlives its deadline, one huge allocation — fails the run
// with fast-check's seed and path, which replay the case exactly.
import fc from 'fast-check';
import { DownloadError, FormatError, UserError } from '../src/lib/errors.ts';

export interface Target<I> {
  name: string;
  /** What the inputs are (printed with the counts). */
  about: string;
  arbitrary: fc.Arbitrary<I>;
  /** Resolves to an outcome class for the statistics, or throws. Typed errors are counted by the harness. */
  run(input: I): Promise<string> | string;
  /** The input as bytes, for the failure report (saved beside it). */
  bytes?(input: I): Buffer | string;
  /** Biggest single allocation a case may make (default 32 MiB): bounded, whatever the input claims. */
  maxAlloc?: number;
  /** All Buffer allocations of a case together (default 256 MiB). */
  maxTotalAlloc?: number;
  /** Cases in `npm run fuzz` (default 2000) and in npm test (default 40). */
  runs?: number;
  testRuns?: number;
}

/** A broken oracle: the message says what was wrong with the case. */
export class OracleFailure extends Error {
  constructor(message: string, readonly causeError?: unknown) {
    super(message);
    this.name = 'OracleFailure';
  }
}

const TYPED = [FormatError, UserError, DownloadError];

/** Outcome class of a thrown error, or an OracleFailure when it is not a proper typed error. */
export function classifyError(e: unknown, input?: string): string {
  if (e instanceof OracleFailure) throw e;
  if (!TYPED.some((T) => e instanceof T)) {
    const err = e as Error;
    throw new OracleFailure(`untyped ${err?.name ?? typeof e}: ${err?.message ?? String(e)}`, e);
  }
  checkMessage((e as Error).message, (e as Error).name, input, e);
  return (e as Error).name;
}

/** One line, not empty, and no "undefined"/"NaN" the input did not bring. */
export function checkMessage(message: string, kind: string, input: string | undefined, e?: unknown): void {
  if (typeof message !== 'string' || message.trim() === '') throw new OracleFailure(`${kind} with an empty message`, e);
  if (/[\r\n]/.test(message)) throw new OracleFailure(`${kind} message spans several lines: ${JSON.stringify(message.slice(0, 300))}`, e);
  for (const word of ['undefined', 'NaN', '[object Object]']) {
    if (message.includes(word) && !(input ?? '').includes(word)) {
      throw new OracleFailure(`${kind} message says "${word}": ${JSON.stringify(message.slice(0, 300))}`, e);
    }
  }
}

// ---- allocation guard: the largest single Buffer allocation of a case, and their sum ----

let largest = 0;
let total = 0;
const ALLOCATORS = ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const;

/** Count Buffer allocations until the returned function puts the originals back. */
function guardAllocations(): () => void {
  const saved = ALLOCATORS.map((name) => Buffer[name]);
  ALLOCATORS.forEach((name, k) => {
    const orig = saved[k] as (size: number, ...rest: unknown[]) => Buffer;
    (Buffer as unknown as Record<string, unknown>)[name] = function (this: unknown, size: number, ...rest: unknown[]): Buffer {
      if (size > largest) largest = size;
      if (size > 0) total += size;
      return orig.call(this, size, ...rest);
    };
  });
  return () => ALLOCATORS.forEach((name, k) => { (Buffer as unknown as Record<string, unknown>)[name] = saved[k]; });
}

// ---- stray failures: uncaught exceptions and unhandled rejections between cases ----

const strays: unknown[] = [];

function listenForStrays(): () => void {
  const record = (e: unknown): void => { strays.push(e); };
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  return () => {
    process.off('uncaughtException', record);
    process.off('unhandledRejection', record);
  };
}

export interface Stats {
  target: string;
  runs: number;
  ms: number;
  outcomes: Record<string, number>;
  failure?: { seed: number; path: string | null; message: string; input?: Buffer | string; stack?: string };
}

export interface CheckOptions {
  seed: number;
  runs: number;
  /** Per case, for async work (default 10 s). Synchronous loops are caught by run.ts's watchdog. */
  timeoutMs?: number;
  /** Replay one case (fast-check path). */
  path?: string;
  /** Called before each case with its number (the watchdog's heartbeat). */
  onCase?: (n: number) => void;
  /** Shrink a failure to its smallest form (default true; off when replaying). */
  shrink?: boolean;
  /** A case that takes longer than this fails (default: no limit; `npm run fuzz` sets one, tests do not, as a loaded machine is slow). */
  slowMs?: number;
}

/** Run `runs` cases of a target; never throws for a failing case (see Stats.failure). */
export async function checkTarget<I>(t: Target<I>, o: CheckOptions): Promise<Stats> {
  const stopGuard = guardAllocations();
  const stopListening = listenForStrays();
  try {
    return await check(t, o);
  } finally {
    stopGuard();
    stopListening();
  }
}

async function check<I>(t: Target<I>, o: CheckOptions): Promise<Stats> {
  const outcomes: Record<string, number> = {};
  const maxAlloc = t.maxAlloc ?? 32 << 20;
  const maxTotal = t.maxTotalAlloc ?? 256 << 20;
  const timeoutMs = o.timeoutMs ?? 10_000;
  let n = 0;
  const oneCase = async (input: I): Promise<void> => {
    o.onCase?.(n++);
    strays.length = 0;
    largest = 0;
    total = 0;
    const began = Date.now();
    let outcome: string;
    try {
      outcome = await withDeadline(Promise.resolve().then(() => t.run(input)), timeoutMs);
    } catch (e) {
      if (e instanceof OracleFailure) throw e;
      outcome = classifyError(e, inputText(t, input));
    }
    // Let pending callbacks (stream errors, child exits) surface before judging the case.
    await new Promise((r) => setImmediate(r));
    if (strays.length) {
      const s = strays[0] as Error;
      throw new OracleFailure(`uncaught ${s?.name ?? 'error'} after the case: ${s?.message ?? String(s)}`, s);
    }
    if (largest > maxAlloc) throw new OracleFailure(`one allocation of ${largest} bytes (limit ${maxAlloc})`);
    if (total > maxTotal) throw new OracleFailure(`allocations of ${total} bytes in all (limit ${maxTotal})`);
    const took = Date.now() - began;
    if (o.slowMs !== undefined && took > o.slowMs) throw new OracleFailure(`the case took ${took} ms (limit ${o.slowMs})`);
    // Shrinking re-runs cases after a failure; only the first `runs` are counted.
    if (n <= o.runs) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  };
  const started = Date.now();
  const details = await fc.check(fc.asyncProperty(t.arbitrary, async (input) => { await oneCase(input); }), {
    seed: o.seed, numRuns: o.runs, path: o.path, endOnFailure: o.shrink === false, verbose: 0,
  });
  const stats: Stats = { target: t.name, runs: Object.values(outcomes).reduce((a, b) => a + b, 0), ms: Date.now() - started, outcomes };
  if (details.failed) {
    const err = details.errorInstance as Error | undefined;
    const cause = err instanceof OracleFailure ? err.causeError as Error | undefined : undefined;
    stats.failure = {
      seed: details.seed,
      path: details.counterexamplePath,
      message: err?.message ?? String(details.errorInstance),
      stack: (cause ?? err)?.stack,
      input: details.counterexample ? inputBytes(t, details.counterexample[0]) : undefined,
    };
  }
  return stats;
}

function inputText<I>(t: Target<I>, input: I): string | undefined {
  const b = inputBytes(t, input);
  return b === undefined ? undefined : typeof b === 'string' ? b : b.toString('latin1');
}

function inputBytes<I>(t: Target<I>, input: I): Buffer | string | undefined {
  try {
    return t.bytes?.(input);
  } catch {
    return undefined;
  }
}

async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new OracleFailure(`no answer within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** "FormatError: 812, value: 1203" */
export function formatOutcomes(o: Record<string, number>): string {
  return Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
}
