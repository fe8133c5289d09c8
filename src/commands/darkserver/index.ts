import { Args, Flags } from '@oclif/core';
import { availableParallelism } from 'node:os';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { progressBar } from '../../lib/cli/progress.js';
import { indexPaths, IndexSummary } from '../../lib/index/indexer.js';

export default class DarkserverIndex extends BaseCommand {
  static override summary = 'Index the GNU build-ids of every ELF file in local RPM files and folders.';
  static override description = `Folders are searched recursively for *.rpm. The RPM header is read first; when its build-id
links, file classes and debuginfo(build-id) provides account for every ELF file, the payload is
never decompressed (--full always reads it). An RPM already in the index (same SIGMD5) is skipped.
A damaged file is reported on stderr and indexes nothing; the others are still indexed (exit 1).`;
  static override examples = [
    '<%= config.bin %> darkserver index ~/rpmbuild/RPMS',
    '<%= config.bin %> darkserver index --jobs 4 --db ./buildids.sqlite /srv/koji/packages/bash',
  ];
  static override strict = false;
  static override args = { path: Args.string({ description: 'RPM file or folder', required: true }) };
  static override flags = {
    db: dbFlag,
    jobs: Flags.integer({ char: 'j', description: 'RPMs scanned at once [default: number of CPUs]', min: 1, max: 64 }),
    full: Flags.boolean({ description: 'Always stream the payload, even when the header accounts for every ELF file.' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(DarkserverIndex);
    const store = openStore(flags.db);
    const bar = progressBar(!flags.json, '{bar} {value}/{total} RPMs | {percentage}% | ETA {eta_formatted}');
    try {
      const sum = await indexPaths(store, argv as string[], {
        jobs: flags.jobs ?? availableParallelism(),
        full: flags.full,
        onStart: (n) => bar.update(0, n),
        onFile: () => bar.tick(),
        onError: (path, message) => this.fail(`${path}: ${message}`, 1),
      });
      bar.stop();
      for (const d of sum.emptyDirs) this.note(`${d}: no .rpm files found`);
      if (flags.json) this.printJson({ db: store.file, ...sum });
      else process.stdout.write(`${summaryLine(sum)}\n`);
    } finally {
      bar.stop();
      store.close();
    }
  }
}

function summaryLine(s: IndexSummary): string {
  const parts = [`indexed ${s.rpms} RPM${s.rpms === 1 ? '' : 's'} (${s.headerOnly} from the header alone)`];
  if (s.already) parts.push(`${s.already} already indexed`);
  if (s.skipped) parts.push(`${s.skipped} source skipped`);
  return `${parts.join(', ')}: ${s.elfFiles} ELF files, ${s.buildIds} build-ids, ${s.withoutBuildId} without build-id; ${s.failed} failed`;
}
