// `darkserver index`: the whole command after argument parsing. The oclif command
// (commands/darkserver/index.ts) and the fast path that skips oclif (fast-path.ts) both run this,
// so their output is the same byte for byte. A file that fails is reported here and raises the
// exit code to 1; the others are still indexed.
import { availableParallelism } from 'node:os';
import { indexPaths, type IndexSummary } from '../index/indexer.js';
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
  const store = openStore(req.db);
  const bar = progressBar(!req.json, '{bar} {value}/{total} RPMs | {percentage}% | ETA {eta_formatted}');
  try {
    const sum = await indexPaths(store, req.paths, {
      jobs: req.jobs ?? availableParallelism(),
      full: req.full,
      onStart: (n) => bar.update(0, n),
      onFile: () => bar.tick(),
      onError: (path, message) => fail(label, `${path}: ${message}`, 1),
    });
    bar.stop();
    for (const d of sum.emptyDirs) note(label, `${d}: no .rpm files found`);
    if (req.json) printJson({ db: store.file, ...sum });
    else process.stdout.write(`${summaryLine(sum)}\n`);
  } finally {
    bar.stop();
    store.close();
  }
}

function summaryLine(s: IndexSummary): string {
  const parts = [`indexed ${s.rpms} RPM${s.rpms === 1 ? '' : 's'} (${s.headerOnly} from the header alone)`];
  if (s.already) parts.push(`${s.already} already indexed`);
  if (s.skipped) parts.push(`${s.skipped} source skipped`);
  return `${parts.join(', ')}: ${s.elfFiles} ELF files, ${s.buildIds} build-ids, ${s.withoutBuildId} without build-id; ${s.failed} failed`;
}
