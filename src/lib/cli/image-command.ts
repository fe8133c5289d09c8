// Shared flags and run() of `imagebuild boot|dvd|live`.
import { Flags } from '@oclif/core';
import { UserError } from '../errors.js';
import { jobOutcome } from '../image/report.js';
import { ImageType } from '../image/types.js';
import { resolveDbPath } from '../index/location.js';
import { OutageLog } from '../net/outages.js';
import { testMachineWarning } from '../proc/machine.js';
import { BaseCommand, dbFlag, openStore } from './base.js';
import { warn } from './output.js';

export const buildFlags = {
  db: dbFlag,
  config: Flags.string({ char: 'c', description: 'The imagebuild.conf: a single file, or the split layout\'s imagebuild.conf beside boot.conf, pungi.conf, live.conf and repoinfo.conf.', default: './config/imagebuild.conf', helpValue: 'FILE' }),
  arch: Flags.string({ description: 'Image architecture (overrides the arch key).', helpValue: 'ARCH' }),
  release: Flags.string({ description: 'Release (overrides the release key).', helpValue: 'RELEASE' }),
  nvr: Flags.string({ description: 'Extra Koji builds by N-V-R, separated by ";".', helpValue: "'N-V-R;…'" }),
  bid: Flags.string({ description: 'Extra Koji builds by build id, separated by ";".', helpValue: "'ID;…'" }),
  staging: Flags.string({ description: 'Where images go: file:///dir, scp://[user@]host/path, host:/path, ftp://[user[:pass]@]host/path.', helpValue: 'URL' }),
  email: Flags.string({ description: 'Mail the requester when the job starts and ends (needs an [smtp] section).', helpValue: 'ADDR' }),
  instance: Flags.string({ description: 'Koji profile for --nvr/--bid packages (as darkserver import).', helpValue: 'NAME' }),
  hub: Flags.string({ description: 'Koji hub XML-RPC URL, instead of a profile.', helpValue: 'URL' }),
  topurl: Flags.string({ description: 'Koji package store URL (with --hub).', helpValue: 'URL' }),
  // helpValue: oclif would otherwise append "<options: auto|lorax|…>", one word too long for the
  // column, which it breaks in the middle.
  backend: Flags.string({
    description: 'Image tool: auto (the one installed; builtin for dvd and live when none is), lorax, pungi, livecd-creator, livemedia-creator or builtin.',
    options: ['auto', 'lorax', 'pungi', 'livecd-creator', 'livemedia-creator', 'builtin'],
    helpValue: 'TOOL',
  }),
  'dry-run': Flags.boolean({ description: 'Print the validated config, side repository, kickstart diff and exact command; run nothing.' }),
  detach: Flags.boolean({ description: 'Run the job in the background and print its id.' }),
  queue: Flags.boolean({
    description: 'Record the job for an "imagebuild worker" of its arch (on this machine or, with a PostgreSQL --db, any other) and print its id; run nothing here.',
    exclusive: ['detach', 'dry-run'],
  }),
  timeout: Flags.integer({ description: 'Stop the image tool after this many seconds.', min: 1, helpValue: 'SECONDS' }),
  'keep-workdir': Flags.boolean({
    description: 'Keep the job\'s work folder after the job (--no-keep-workdir: always remove it). Default: removed when the job succeeds, kept otherwise.',
    allowNo: true,
  }),
};

/** `imagebuild dvd` only: what the builtin backend makes of the tree. */
export const dvdFlags = {
  ...buildFlags,
  format: Flags.string({
    description: 'builtin backend: iso, or the same packages and repodata as a tar.gz or tar.zst archive (overrides the format key).',
    options: ['iso', 'tar.gz', 'tar.zst'],
    helpValue: 'FORMAT',
  }),
  'boot-iso': Flags.string({ description: 'builtin backend: a lorax boot.iso whose boot loader and images/ make the DVD bootable (overrides the bootiso key).', helpValue: 'FILE' }),
};

export abstract class ImageBuildCommand extends BaseCommand {
  protected abstract readonly imageType: ImageType;

  async run(): Promise<void> {
    const { flags } = await this.parse(this.constructor as typeof ImageBuildCommand & { flags: typeof buildFlags });
    const { submitBuild } = await import('../image/submit.js');
    const dbFile = resolveDbPath(flags.db);
    const machineWarning = testMachineWarning();
    if (machineWarning) warn(this.label, machineWarning);
    const store = await openStore(flags.db);
    try {
      const f = flags as typeof flags & { format?: string; 'boot-iso'?: string };
      const r = await submitBuild(store, this.imageType, { ...flags, dryRun: flags['dry-run'], format: f.format, bootIso: f['boot-iso'], keepWorkdir: flags['keep-workdir'] }, {
        dbFile,
        // A kickstart server or Koji hub that is down is waited for, and said once per outage.
        net: { outages: new OutageLog((line) => this.note(line)) },
      });
      if (r.report !== undefined) {
        if (flags.json) this.printJson(r.plan);
        else process.stdout.write(`${r.report}\n`);
        return;
      }
      const job = r.job!;
      if (r.queued) {
        // The id on stdout, as --detach prints it; why it was queued (when not asked) on stderr.
        if (r.queued.why) this.note(`job ${job.id} queued for an imagebuild worker of ${job.arch}: ${r.queued.why} (follow it with "imagebuild logs ${job.id} --follow")`);
        for (const n of r.notes) this.note(n);
        if (flags.json) this.printJson(job);
        else process.stdout.write(`${job.id}\n`);
        return;
      }
      if (flags.json) this.printJson(flags.detach ? { id: job.id } : job);
      else if (flags.detach) process.stdout.write(`${job.id}\n`);
      else process.stdout.write(`job ${job.id} ${job.state}${job.artifacts.length ? `: ${job.artifacts.join(' ')}` : ''}\n`);
      // staging_failed is exit 1 as well: the images exist, but not where the caller asked for them.
      if (!flags.detach && job.state !== 'succeeded') throw new UserError(jobOutcome(job), 1);
    } finally {
      await store.close();
    }
  }
}
