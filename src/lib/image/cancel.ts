// Cancel: record the job as canceled, then end the tool's process group and the runner. The
// record is decided first, in one transaction, so a cancel that races the job's own end gives
// one answer: either the job was canceled, or it had already finished and says how. Processes
// are signalled only on the job's own machine; a runner elsewhere (a worker on another host)
// reads the record every second and ends its tool itself.
import { UserError } from '../errors.js';
import { ImageJob, JobStore } from './jobs.js';
import { groupBelongsTo, runnerAlive } from '../proc/liveness.js';
import { onThisHost } from '../proc/worker.js';
import { killGroup } from './process-group.js';

export async function cancelJob(jobs: JobStore, job: ImageJob): Promise<ImageJob> {
  const { job: now, canceled } = await jobs.cancel(job.id);
  if (!canceled) throw new UserError(`job ${job.id} is already ${now.state}`, 1);
  // A job still waiting for a worker has no process anywhere.
  if ((now.for_worker && !now.host) || !onThisHost(now.host)) return now;
  // Signal only processes that are still the job's: a pid or group id may have been reused.
  if (now.pgid && groupBelongsTo(now.pgid, now.job_dir)) killGroup(now.pgid);
  // A worker runs other jobs too: it is never signalled, it sees the cancel in the record.
  if (!now.for_worker && now.pid && now.pid !== process.pid && runnerAlive(now.pid, now.started_at, now.job_dir)) {
    try { process.kill(now.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
  return now;
}
