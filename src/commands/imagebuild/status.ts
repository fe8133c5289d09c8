import { Args } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { JobStore } from '../../lib/image/jobs.js';
import { lookupJob } from '../../lib/image/lookup.js';

export default class ImagebuildStatus extends BaseCommand {
  static override summary = 'One job: state, times, log, artifacts, error.';
  static override examples = ['<%= config.bin %> imagebuild status 7', '<%= config.bin %> imagebuild status 7 --json'];
  static override args = { job: Args.string({ description: 'job id', required: true }) };
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ImagebuildStatus);
    const store = openStore(flags.db);
    try {
      const j = lookupJob(new JobStore(store.db), args.job);
      if (flags.json) { this.printJson(j); return; }
      const t = (s: number | null): string => (s ? new Date(s * 1000).toISOString() : '-');
      const lines: [string, string][] = [
        ['job', String(j.id)], ['state', j.state], ['type', j.type], ['arch', j.arch], ['backend', j.backend],
        ['created', t(j.created_at)], ['started', t(j.started_at)], ['finished', t(j.finished_at)],
        ['log', j.log_path], ['artifacts', j.artifacts.join(' ') || '-'], ['error', j.error ?? '-'],
      ];
      for (const [k, v] of lines) process.stdout.write(`${k}:\t${v}\n`);
    } finally {
      store.close();
    }
  }
}
