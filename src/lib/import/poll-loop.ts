// A loop for commands that run until they are stopped (`darkserver import --follow`, and a queue
// worker that keeps taking work): one step, a pause, the next step. A stop that comes during the
// pause ends the loop at once and cleanly; one that comes during a step is the step's to handle
// (`during` abandons it, the caller puts its claims back).

export interface PollLoopOptions {
  /** Pause between the end of one step and the start of the next. */
  intervalMs: number;
  /** Resolves when the loop should end (the first SIGTERM, SIGINT or SIGHUP). */
  stop: Promise<unknown>;
  /** One round of work. */
  step: () => Promise<void>;
  /** Wraps each step, e.g. to abandon it when `stop` resolves (interrupts.race); the default waits for it. */
  during?: (work: Promise<void>) => Promise<void>;
}

/** Run `step` every `intervalMs` until `stop` resolves between two steps; returns then. */
export async function pollLoop(o: PollLoopOptions): Promise<void> {
  let stopped = false;
  void o.stop.then(() => { stopped = true; });
  const during = o.during ?? ((w) => w);
  // Let a stop that has already come be seen before the first step.
  await Promise.resolve();
  while (!stopped) {
    await during(o.step());
    if (stopped) break;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([o.stop, new Promise((r) => { timer = setTimeout(r, o.intervalMs); })]);
    clearTimeout(timer);
  }
}
