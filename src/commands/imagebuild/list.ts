import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { JobStore } from '../../lib/image/jobs.js';
import { workerOf } from '../../lib/image/report.js';

export default class ImagebuildList extends BaseCommand {
  static override summary = 'Image build jobs: id, state, type, arch, times, host and worker.';
  static override description = 'One line per job: id, state, type, arch, backend, started, finished, host, worker (host:pid:random, or "waiting for a worker of ARCH"), then the error if there is one; tab-separated.';
  static override examples = ['<%= config.bin %> imagebuild list', '<%= config.bin %> imagebuild list --json'];
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImagebuildList);
    const store = await openStore(flags.db);
    try {
      const jobs = await new JobStore(store).list();
      if (flags.json) { this.printJson(jobs); return; }
      const t = (s: number | null): string => (s ? new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : '-');
      for (const j of jobs) {
        process.stdout.write(`${j.id}\t${j.state}\t${j.type}\t${j.arch}\t${j.backend}\t${t(j.started_at)}\t${t(j.finished_at)}\t${j.host ?? '-'}\t${workerOf(j)}${j.error ? `\t${j.error}` : ''}\n`);
      }
    } finally {
      await store.close();
    }
  }
}
