import { Args } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { JobStore } from '../../lib/image/jobs.js';
import { lookupJob } from '../../lib/image/lookup.js';
import { statusLines } from '../../lib/image/report.js';

export default class ImagebuildStatus extends BaseCommand {
  static override summary = 'One job: state, times, log, artifacts, work folder and error.';
  static override description = 'When staging failed, the artifacts are the images kept in the job folder. --json adds the work folder\'s path as workdir.';
  static override examples = ['<%= config.bin %> imagebuild status 7', '<%= config.bin %> imagebuild status 7 --json'];
  static override args = { job: Args.string({ description: 'job id', required: true, ignoreStdin: true }) };
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildStatus);
    const store = await openStore(flags.db);
    try {
      const j = await lookupJob(new JobStore(store), args.job);
      if (flags.json) { this.printJson(j); return; }
      for (const [k, v] of statusLines(j)) process.stdout.write(`${k}:\t${v}\n`);
    } finally {
      await store.close();
    }
  }
}
