import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { queueOverview } from '../../lib/import/queue.js';
import { buildStateName } from '../../lib/koji/types.js';
import type { RpmJob } from '../../lib/store/port.js';

/** Who holds a running RPM and for how long yet: "held by HOST:PID:ID, lease 87 s left". */
function holder(r: RpmJob, now: number): string {
  const who = r.worker_id ?? (r.worker_pid ? `pid ${r.worker_pid}` : 'an unknown worker');
  if (r.lease_until == null) return `held by ${who}`;
  const left = Math.round((r.lease_until - now) / 1000);
  return `held by ${who}, ${left >= 0 ? `lease ${left} s left` : `lease ran out ${-left} s ago`}`;
}

export default class DarkserverJobs extends BaseCommand {
  static override summary = 'The import queue: builds and RPMs by state, and every one pending or failed.';
  static override examples = ['<%= config.bin %> darkserver jobs', '<%= config.bin %> darkserver jobs --json'];
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(DarkserverJobs);
    const store = await openStore(flags.db, { mustExist: true });
    try {
      const o = await queueOverview(store);
      if (flags.json) { this.printJson(o); return; }
      const counts = (c: Record<string, number>): string => Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
      process.stdout.write(`builds: ${counts(o.builds)}\nrpms: ${counts(o.rpms)}\n`);
      // Skipped builds (deleted, failed in Koji, missing ids of a walk) are counted above only.
      for (const b of o.pending.filter((x) => x.state !== 'skipped')) {
        const koji = b.koji_state === null ? '' : ` [${buildStateName(b.koji_state)}]`;
        process.stdout.write(`${b.instance}\t${b.koji_build_id}\t${b.nvr ?? '-'}\t${b.state}${koji}\t${b.rpms_done}/${b.rpms_total} RPMs${b.last_error ? `\t${b.last_error}` : ''}\n`);
      }
      for (const r of o.failedRpms) {
        const detail = r.state === 'running' ? holder(r, o.now) : r.last_error;
        process.stdout.write(`${r.instance}\t${r.nvra}\t${r.state}\tattempts ${r.attempts}${detail ? `\t${detail}` : ''}\n`);
      }
      // Where `import --follow` stands in each instance it follows.
      const at = (ts: number): string => new Date(ts * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      for (const m of o.follow) {
        process.stdout.write(`follow ${m.instance}: ${m.event_id === null ? `since ${at(m.since_ts)}` : `Koji event ${m.event_id} (${at(m.event_ts)})`}\n`);
      }
    } finally {
      await store.close();
    }
  }
}
