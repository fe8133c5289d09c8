// A progress bar on stderr when it is a terminal; silent otherwise (scripts get the summary line).
// cli-progress is loaded only when a bar is drawn, so no other command pays for it at start-up.
import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';

export interface Progress {
  update(value: number, total: number, payload?: Record<string, string | number>): void;
  tick(): void;
  stop(): void;
  /**
   * Print whole lines (a warning, a server that is down) above the bar: the bar's line is cleared
   * first and drawn again after, so a message never starts in the middle of it.
   */
  above(write: () => void): void;
}

const SILENT: Progress = { update() {}, tick() {}, stop() {}, above(write) { write(); } };

/** `format` is cli-progress's: {bar} {value} {total} {percentage} {eta_formatted} and payload keys. */
export function progressBar(enabled: boolean, format: string): Progress {
  if (!enabled || !process.stderr.isTTY) return SILENT;
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  const bar: SingleBar = new cliProgress.SingleBar(
    { stream: process.stderr, format, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(value, total, payload) {
      if (!started) { bar.start(total, value, payload); started = true; return; }
      bar.setTotal(total);
      bar.update(value, payload);
    },
    tick() { if (started) bar.increment(); },
    stop() { if (started) bar.stop(); started = false; },
    above(write) {
      if (!started) { write(); return; }
      process.stderr.write('\r\x1b[2K');
      write();
      // cli-progress draws only when its line changed; the line was wiped, so it has.
      (bar as unknown as { lastDrawnString: string | null }).lastDrawnString = null;
      bar.render();
    },
  };
}
