// `darkserver index`: the whole command after argument parsing. The oclif command
// (commands/darkserver/index.ts) and the fast path that skips oclif (fast-path.ts) both run this,
// so their output is the same byte for byte. A file that fails is reported here and raises the
// exit code to 1; the others are still indexed. A failure of the database itself (disk full,
// read-only, I/O error) stops the run with one sentence; so does a signal (interrupt.ts).
import { availableParallelism } from 'node:os';
import { indexPaths, type IndexSummary } from '../index/indexer.js';
import { watchInterrupts } from './interrupt.js';
import { openStore } from './open-store.js';
import { fail, note, printJson } from './output.js';
import { progressBar } from './progress.js';

/** The parsed command line of `darkserver index`. */
export interface IndexRequest {
  paths: string[];
  db?: string;
  json?: boolean;
  jobs?: number;
  full?: boolean;
}

export async function runIndex(req: IndexRequest, label = 'darkserver index'): Promise<void> {
  // Listening from the start: a signal while the database opens (a migration, a wait for another
  // writer's lock) also ends the run through the note below.
  const interrupts = watchInterrupts();
  try {
    const store = await openStore(req.db);
    const bar = progressBar(!req.json, '{bar} {value}/{total} RPMs | {percentage}% | ETA {eta_formatted}');
    // Counted as files finish, for the note an interrupted run leaves; after it, files still in
    // flight (abandoned, their store closed) say nothing.
    const seen = { total: 0, indexed: 0, already: 0, finished: 0, stopped: false };
    try {
      const sum = await interrupts.race(indexPaths(store, req.paths, {
        jobs: req.jobs ?? availableParallelism(),
        full: req.full,
        onStart: (n) => { seen.total = n; bar.update(0, n); },
        onFile: (_file, outcome) => {
          if (seen.stopped) return;
          seen.finished++;
          if (outcome === 'indexed') seen.indexed++;
          if (outcome === 'already') seen.already++;
          bar.tick();
        },
        onError: (path, message) => { if (!seen.stopped) fail(label, `${path}: ${message}`, 1); },
      }), (signal) => {
        seen.stopped = true;
        bar.stop();
        return `interrupted by ${signal}: ${seen.indexed} RPMs indexed, ${seen.already} already indexed, `
          + `${Math.max(0, seen.total - seen.finished)} not done; run the same command again to index the rest`;
      });
      bar.stop();
      for (const d of sum.emptyDirs) note(label, `${d}: no .rpm files found`);
      if (req.json) printJson({ db: store.file, ...sum });
      else process.stdout.write(`${summaryLine(sum)}\n`);
    } finally {
      bar.stop();
      await store.close();
    }
  } finally {
    interrupts.dispose();
  }
}

function summaryLine(s: IndexSummary): string {
  const parts = [`indexed ${s.rpms} RPM${s.rpms === 1 ? '' : 's'} (${s.headerOnly} from the header alone)`];
  if (s.already) parts.push(`${s.already} already indexed`);
  if (s.skipped) parts.push(`${s.skipped} source skipped`);
  return `${parts.join(', ')}: ${s.elfFiles} ELF files, ${s.buildIds} build-ids, ${s.withoutBuildId} without build-id; ${s.failed} failed`;
}
