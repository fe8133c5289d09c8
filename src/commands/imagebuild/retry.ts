import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { UserError } from '../../lib/errors.js';
import { JobStore } from '../../lib/image/jobs.js';
import { jobsRoot } from '../../lib/image/location.js';
import { lookupJob } from '../../lib/image/lookup.js';
import { jobOutcome } from '../../lib/image/report.js';
import { recoverSecrets } from '../../lib/image/secrets.js';
import { resolveDbPath } from '../../lib/index/location.js';
import { hostMachine } from '../../lib/proc/machine.js';

export default class ImagebuildRetry extends BaseCommand {
  static override summary = 'Run a finished job again as a new job, with the configuration it started with.';
  static override description = 'A job that was queued for a worker (or whose arch this host cannot build, with a PostgreSQL --db) is queued again for a worker, and the new id printed; --queue does that for any job.';
  static override examples = ['<%= config.bin %> imagebuild retry 7 --detach', '<%= config.bin %> imagebuild retry 7 --queue'];
  static override args = { job: Args.string({ description: 'job id', required: true, ignoreStdin: true }) };
  static override flags = {
    db: dbFlag,
    detach: Flags.boolean({ description: 'Run in the background and print the new id.' }),
    queue: Flags.boolean({ description: 'Queue the new job for an "imagebuild worker" of its arch and print its id.', exclusive: ['detach'] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildRetry);
    const { runJob } = await import('../../lib/image/runner.js');
    const { detach } = await import('../../lib/image/submit.js');
    // Loaded here, not at the top: validate.js pulls in execa, whose colour check would run (and
    // warn about NO_COLOR/FORCE_COLOR) in every command, since oclif loads every command module.
    const { hostArches } = await import('../../lib/image/validate.js');
    const store = await openStore(flags.db);
    try {
      const jobs = new JobStore(store);
      const old = await lookupJob(jobs, args.job);
      if (old.state === 'queued' || old.state === 'running') throw new UserError(`job ${old.id} is still ${old.state}`, 1);
      const machine = hostMachine();
      const here = hostArches(machine).includes(old.arch);
      if (old.for_worker || flags.queue || !here) {
        if (!here && !store.shared) {
          throw new UserError(`job ${old.id} is for ${old.arch}, which this ${machine} host cannot build, and no worker of another machine can take it from an SQLite store (one machine's file)`, 2);
        }
        const job = await jobs.createForWorker({ config: old.config, backend: old.backend, timeoutS: old.timeout_s ?? undefined, retryOf: old.id });
        this.note(`job ${old.id} queued again as job ${job.id}, for an imagebuild worker of ${job.arch}`);
        if (flags.json) this.printJson(job); else process.stdout.write(`${job.id}\n`);
        return;
      }
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
