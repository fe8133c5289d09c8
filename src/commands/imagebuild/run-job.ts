import { Args } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { JobStore } from '../../lib/image/jobs.js';
import { lookupJob } from '../../lib/image/lookup.js';
import { takeSecretsFromEnv, takeSecretsFromStdin } from '../../lib/image/secrets.js';

/** The background half of --detach; not meant to be typed by people. */
export default class ImagebuildRunJob extends BaseCommand {
  static override hidden = true;
  static override summary = 'Run a queued job (used by --detach).';
  static override args = { job: Args.string({ required: true, ignoreStdin: true }) };
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildRunJob);
    const { runJob } = await import('../../lib/image/runner.js');
    // Read the passwords first: the parent may be gone by the time the job starts.
    const secrets = takeSecretsFromStdin() ?? takeSecretsFromEnv();
    const store = await openStore(flags.db);
    try {
      const jobs = new JobStore(store);
      const job = await lookupJob(jobs, args.job);
      if (job.state !== 'queued') return;
      await runJob(job, { jobs, attached: false, secrets });
    } finally {
      await store.close();
    }
  }
}
