import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { UserError } from '../../lib/errors.js';
import { JobStore } from '../../lib/image/jobs.js';
import { jobsRoot } from '../../lib/image/location.js';
import { lookupJob } from '../../lib/image/lookup.js';
import { jobOutcome } from '../../lib/image/report.js';
import { recoverSecrets } from '../../lib/image/secrets.js';
import { resolveDbPath } from '../../lib/index/location.js';

export default class ImagebuildRetry extends BaseCommand {
  static override summary = 'Run a finished job again as a new job, with the configuration it started with.';
  static override examples = ['<%= config.bin %> imagebuild retry 7 --detach'];
  static override args = { job: Args.string({ description: 'job id', required: true, ignoreStdin: true }) };
  static override flags = { db: dbFlag, detach: Flags.boolean({ description: 'Run in the background and print the new id.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildRetry);
    const { runJob } = await import('../../lib/image/runner.js');
    const { detach } = await import('../../lib/image/submit.js');
    const store = await openStore(flags.db);
    try {
      const jobs = new JobStore(store);
      const old = await lookupJob(jobs, args.job);
      if (old.state === 'queued' || old.state === 'running') throw new UserError(`job ${old.id} is still ${old.state}`, 1);
      const job = await jobs.create({ config: old.config, backend: old.backend, jobsRoot: jobsRoot(), timeoutS: old.timeout_s ?? undefined, retryOf: old.id });
      const secrets = await recoverSecrets(old.config);
      if (flags.detach) {
        await detach(job, resolveDbPath(flags.db), secrets, jobs);
        if (flags.json) this.printJson({ id: job.id }); else process.stdout.write(`${job.id}\n`);
        return;
      }
      const done = await runJob(job, { jobs, attached: true, secrets });
      if (flags.json) this.printJson(done); else process.stdout.write(`job ${done.id} ${done.state}\n`);
      if (done.state !== 'succeeded') throw new UserError(jobOutcome(done), 1);
    } finally {
      await store.close();
    }
  }
}
