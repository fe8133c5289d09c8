import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { queueOverview } from '../../lib/import/queue.js';
import { buildStateName } from '../../lib/koji/types.js';

export default class DarkserverJobs extends BaseCommand {
  static override summary = 'The import queue: builds and RPMs by state, and every one pending or failed.';
  static override examples = ['<%= config.bin %> darkserver jobs', '<%= config.bin %> darkserver jobs --json'];
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(DarkserverJobs);
    const store = openStore(flags.db, { mustExist: true });
    try {
      const o = queueOverview(store.db);
      if (flags.json) { this.printJson(o); return; }
      const counts = (c: Record<string, number>): string => Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
      process.stdout.write(`builds: ${counts(o.builds)}\nrpms: ${counts(o.rpms)}\n`);
      // Skipped builds (deleted, failed in Koji, missing ids of a walk) are counted above only.
      for (const b of o.pending.filter((x) => x.state !== 'skipped')) {
        const koji = b.koji_state === null ? '' : ` [${buildStateName(b.koji_state)}]`;
        process.stdout.write(`${b.instance}\t${b.koji_build_id}\t${b.nvr ?? '-'}\t${b.state}${koji}\t${b.rpms_done}/${b.rpms_total} RPMs${b.last_error ? `\t${b.last_error}` : ''}\n`);
      }
      for (const r of o.failedRpms) {
        process.stdout.write(`${r.instance}\t${r.nvra}\t${r.state}\tattempts ${r.attempts}${r.last_error ? `\t${r.last_error}` : ''}\n`);
      }
    } finally {
      store.close();
    }
  }
}
