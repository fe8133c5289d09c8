import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { followJobLog } from '../../lib/image/follow.js';
import { JobStore } from '../../lib/image/jobs.js';
import { lookupJob } from '../../lib/image/lookup.js';

export default class ImagebuildLogs extends BaseCommand {
  static override summary = 'Print a job\'s log; --follow keeps printing until the job ends.';
  static override description = 'A job that ran on this machine is read from its log file; one that ran on another machine, from the copy in the database (its newest DARKFORGE_DB_LOG_BYTES, default 8 MiB).';
  static override examples = ['<%= config.bin %> imagebuild logs 7', '<%= config.bin %> imagebuild logs 7 --follow'];
  static override args = { job: Args.string({ description: 'job id', required: true, ignoreStdin: true }) };
  static override flags = { db: dbFlag, follow: Flags.boolean({ char: 'f', description: 'Keep printing as the log grows, until the job ends (a job waiting for a worker: until it has run).' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildLogs);
    const store = await openStore(flags.db);
    try {
      const jobs = new JobStore(store);
      const job = await lookupJob(jobs, args.job);
      await followJobLog(jobs, job.id, (c) => process.stdout.write(c), { follow: flags.follow, note: (line) => this.note(line) });
    } finally {
      await store.close();
    }
  }
}
