import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../../lib/cli/base.js';
import { runDbCopy } from '../../../lib/cli/darkserver-db-copy.js';

export default class DarkserverDbCopy extends BaseCommand {
  static override summary = 'Copy an index and its import queue into another SQLite or PostgreSQL store.';
  static override description = 'FROM and TO are each a SQLite file or a postgresql:// URL, in either direction. '
    + 'The copy holds every build, RPM, build-id row and Koji instance of FROM and its import queue (RPMs that a worker held are queued again), '
    + 'with the same ids, so it answers every query as FROM does; image job records stay where they are. '
    + 'FROM is read in one snapshot and never changed. TO must be new or empty unless --replace is given; '
    + 'it gets the whole copy or, when the copy fails or is interrupted, nothing: PostgreSQL in one transaction '
    + '(readers wait for its end), a SQLite file written beside TO and renamed over it (refused while another process has TO open). '
    + 'Passwords in URLs are never shown.';
  static override examples = [
    '<%= config.bin %> darkserver db copy buildids.sqlite postgresql://db.example.org/df',
    '<%= config.bin %> darkserver db copy --replace postgresql://db.example.org/df copy.sqlite',
  ];
  static override args = {
    from: Args.string({ description: 'the index to copy: a SQLite file or a postgresql:// URL', required: true }),
    to: Args.string({ description: 'where to copy it: a SQLite file or a postgresql:// URL, new or empty', required: true }),
  };
  static override flags = {
    replace: Flags.boolean({ description: 'Replace the index and import queue TO holds (its image job records stay).' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DarkserverDbCopy);
    await runDbCopy({ from: args.from, to: args.to, replace: flags.replace, json: flags.json });
  }
}
