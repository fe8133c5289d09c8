import { Args } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { cancelJob } from '../../lib/image/cancel.js';
import { JobStore } from '../../lib/image/jobs.js';
import { lookupJob } from '../../lib/image/lookup.js';

export default class ImagebuildCancel extends BaseCommand {
  static override summary = 'Stop a queued or running job, with its whole process group.';
  static override description = 'The job\'s state becomes canceled. A job that ends on its own first keeps its state, and cancel says so (exit 1).';
  static override examples = ['<%= config.bin %> imagebuild cancel 7'];
  static override args = { job: Args.string({ description: 'job id', required: true, ignoreStdin: true }) };
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildCancel);
    const store = await openStore(flags.db);
    try {
      const jobs = new JobStore(store);
      const j = await cancelJob(jobs, await lookupJob(jobs, args.job));
      if (flags.json) this.printJson(j);
      else process.stdout.write(`job ${j.id} ${j.state}\n`);
    } finally {
      await store.close();
    }
  }
}
