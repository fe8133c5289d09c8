import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { followLog } from '../../lib/image/follow.js';
import { JobStore } from '../../lib/image/jobs.js';
import { lookupJob } from '../../lib/image/lookup.js';

export default class ImagebuildLogs extends BaseCommand {
  static override summary = 'Print a job\'s log; --follow keeps printing until the job ends.';
  static override examples = ['<%= config.bin %> imagebuild logs 7', '<%= config.bin %> imagebuild logs 7 --follow'];
  static override args = { job: Args.string({ description: 'job id', required: true, ignoreStdin: true }) };
  static override flags = { db: dbFlag, follow: Flags.boolean({ char: 'f', description: 'Keep printing as the log grows, until the job ends.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildLogs);
    const store = await openStore(flags.db);
    try {
      const jobs = new JobStore(store);
      const job = await lookupJob(jobs, args.job);
      const running = async (): Promise<boolean> => flags.follow && ['queued', 'running'].includes((await jobs.get(job.id))?.state ?? '');
      await followLog(job.log_path, (c) => process.stdout.write(c), running);
    } finally {
      await store.close();
    }
  }
}
