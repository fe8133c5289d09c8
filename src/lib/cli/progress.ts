// A progress bar on stderr when it is a terminal; silent otherwise (scripts get the summary line).
import cliProgress from 'cli-progress';

export interface Progress {
  start(total: number): void;
  tick(): void;
  stop(): void;
}

export function progressBar(enabled: boolean, unit: string): Progress {
  if (!enabled || !process.stderr.isTTY) return { start() {}, tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `{bar} {value}/{total} ${unit} | {percentage}% | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: true,
  }, cliProgress.Presets.shades_classic);
  return {
    start: (total) => bar.start(total, 0),
    tick: () => bar.increment(),
    stop: () => bar.stop(),
  };
}
