import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag } from '../../lib/cli/base.js';
import { runIndex } from '../../lib/cli/darkserver-index.js';

export default class DarkserverIndex extends BaseCommand {
  static override summary = 'Index the GNU build-ids of every ELF file in local RPM files and folders.';
  static override description = `Folders are searched recursively for *.rpm. The RPM header is read first; when its build-id `
    + `links, file classes and debuginfo(build-id) provides account for every ELF file, the payload is `
    + `never decompressed (--full always reads it). An RPM already in the index (same SIGMD5) is skipped. `
    + `A damaged file is reported on stderr and indexes nothing; the others are still indexed (exit 1).`;
  static override examples = [
    '<%= config.bin %> darkserver index ~/rpmbuild/RPMS',
    '<%= config.bin %> darkserver index --jobs 4 --db ./buildids.sqlite /srv/koji/packages/bash',
  ];
  static override strict = false;
  static override args = { path: Args.string({ description: 'RPM file or folder', required: true, ignoreStdin: true }) };
  static override flags = {
    db: dbFlag,
    jobs: Flags.integer({ char: 'j', description: 'RPMs scanned at once [default: number of CPUs]', min: 1, max: 64 }),
    full: Flags.boolean({ description: 'Always stream the payload, even when the header accounts for every ELF file.' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(DarkserverIndex);
    await runIndex({ paths: argv as string[], ...flags }, this.label);
  }
}
