import { Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { warn } from '../../lib/cli/output.js';
import { UserError } from '../../lib/errors.js';

export default class ImagebuildWorker extends BaseCommand {
  static override summary = 'Run the image jobs queued (--queue) for this machine\'s arches.';
  static override description = 'Takes the jobs recorded with --queue (or queued for an arch their submitting host cannot build) whose arch this machine builds, one at a time (--jobs N: N at once), with a lease renewed while each runs; stages and mails here. A job canceled from any machine stops within a second or two; a worker that dies loses its job when the lease (DARKFORGE_LEASE_SECONDS, default 120) runs out, and the job fails with "worker lost on HOST". SIGTERM, SIGINT or SIGHUP put the running jobs back on the queue and exit 0; SIGQUIT lets them finish first. Job records keep no passwords: --config names this machine\'s imagebuild.conf, whose [smtp] password and FTP staging passwords serve jobs of the same SMTP server and user, or the same FTP user and host.';
  static override examples = [
    '<%= config.bin %> imagebuild worker --db postgresql://build@db.example.org/darkforge',
    '<%= config.bin %> imagebuild worker --arch i686 --jobs 2 -c /etc/darkforge/imagebuild.conf',
    '<%= config.bin %> imagebuild worker --once',
  ];
  static override flags = {
    db: dbFlag,
    arch: Flags.string({ description: 'Take jobs of this arch only (repeatable). Default: every arch this machine builds (x86_64 and i686 on x86_64).', multiple: true, helpValue: 'ARCH' }),
    jobs: Flags.integer({ description: 'Jobs run at once.', min: 1, default: 1, helpValue: 'N' }),
    once: Flags.boolean({ description: 'Exit when no job is waiting and the ones taken have ended (exit 1 if one did not succeed).' }),
    poll: Flags.integer({ description: 'Look for new jobs every SECONDS.', min: 1, default: 5, helpValue: 'SECONDS' }),
    config: Flags.string({ char: 'c', description: 'This machine\'s imagebuild.conf, for the SMTP and FTP passwords that job records never keep.', helpValue: 'FILE' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImagebuildWorker);
    const { hostArches } = await import('../../lib/image/validate.js');
    const { hostMachine, testMachineWarning } = await import('../../lib/proc/machine.js');
    const { runWorker } = await import('../../lib/image/worker.js');
    const { loadCredentials } = await import('../../lib/image/config.js');
    const machineWarning = testMachineWarning();
    if (machineWarning) warn(this.label, machineWarning);
    const machine = hostMachine();
    const able = hostArches(machine);
    const arches = flags.arch ? [...new Set(flags.arch.flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean))] : able;
    const foreign = arches.filter((a) => !able.includes(a));
    if (foreign.length) throw new UserError(`--arch ${foreign.join(', ')}: this ${machine} host cannot build ${foreign.join(', ')} images (allowed: ${able.join(', ')})`, 2);
    let credentials;
    if (flags.config) {
      const r = loadCredentials(flags.config);
      if (r.problem) throw new UserError(`--config ${flags.config}: ${r.problem}`, 2);
      credentials = r.credentials;
    }
    const store = await openStore(flags.db);
    try {
      const r = await runWorker({
        store, arches, slots: flags.jobs, once: flags.once, pollMs: flags.poll * 1000, credentials,
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
        ended: (job) => { if (!flags.json) process.stdout.write(`job ${job.id} ${job.state}\n`); },
      });
      if (flags.json) this.printJson({ ran: r.ran, putBack: r.putBack, signal: r.signal ?? null });
      const bad = r.ran.filter((j) => j.state !== 'succeeded');
      if (flags.once && bad.length) throw new UserError(`${bad.length} of ${r.ran.length} job(s) did not succeed: ${bad.map((j) => `${j.id} ${j.state}`).join(', ')}`, 1);
    } finally {
      await store.close();
    }
  }
}
