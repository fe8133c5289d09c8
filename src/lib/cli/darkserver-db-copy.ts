// `darkserver db copy FROM TO` after argument parsing: a progress bar on a terminal, one summary
// line (or --json) at the end. Ctrl-C stops the copy at its next batch and leaves TO as it was.
import { existsSync } from 'node:fs';
import { UserError } from '../errors.js';
import { isPostgresUrl, resolveStoreArg } from '../index/location.js';
import { copyStore, summaryLine, type CopySummary } from '../store/copy.js';
import { watchInterrupts } from './interrupt.js';
import { printJson } from './output.js';
import { progressBar } from './progress.js';

export interface CopyRequest {
  from: string;
  to: string;
  replace?: boolean;
  json?: boolean;
}

/** A store as messages name it: a PostgreSQL URL without its password (a bad URL is refused here, before anything is opened). */
async function shown(store: string): Promise<string> {
  if (!isPostgresUrl(store)) return store;
  const { parsePgTarget } = await import('../store/postgres/target.js');
  return parsePgTarget(store).display;
}

export async function runDbCopy(req: CopyRequest): Promise<CopySummary> {
  const from = resolveStoreArg(req.from, 'FROM');
  const to = resolveStoreArg(req.to, 'TO');
  if (!isPostgresUrl(from) && !existsSync(from)) throw new UserError(`${from}: no index database there (FROM must be an existing index)`, 2);
  const toShown = await shown(to);
  await shown(from);

  const interrupts = watchInterrupts();
  const stop = new AbortController();
  const bar = progressBar(!req.json, '{bar} {percentage}% | {value}/{total} rows | {table} | ETA {eta_formatted}');
  try {
    const work = copyStore(from, to, {
      replace: req.replace,
      signal: stop.signal,
      onProgress: (done, total, table) => bar.update(done, Math.max(total, 1), { table }),
    });
    const summary = await interrupts.race(work, async (signal) => {
      bar.stop();
      stop.abort();
      const finished = await work.then(() => true, () => false);
      return finished
        ? `interrupted by ${signal} as the copy ended: ${toShown} holds the whole copy`
        : `interrupted by ${signal}: nothing was copied, ${toShown} is as it was`;
    });
    bar.stop();
    if (req.json) printJson(summary);
    else process.stdout.write(`${summaryLine(summary)}\n`);
    return summary;
  } finally {
    bar.stop();
    interrupts.dispose();
  }
}
