// Cancel: record the job as canceled, then end the tool's process group and the runner. The
// record is decided first, in one transaction, so a cancel that races the job's own end gives
// one answer: either the job was canceled, or it had already finished and says how.
import { UserError } from '../errors.js';
import { ImageJob, JobStore } from './jobs.js';
import { groupBelongsTo, runnerAlive } from '../proc/liveness.js';
import { killGroup } from './process-group.js';

export async function cancelJob(jobs: JobStore, job: ImageJob): Promise<ImageJob> {
  const { job: now, canceled } = await jobs.cancel(job.id);
  if (!canceled) throw new UserError(`job ${job.id} is already ${now.state}`, 1);
  // Signal only processes that are still the job's: a pid or group id may have been reused.
  if (now.pgid && groupBelongsTo(now.pgid, now.job_dir)) killGroup(now.pgid);
  if (now.pid && now.pid !== process.pid && runnerAlive(now.pid, now.started_at, now.job_dir)) {
    try { process.kill(now.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
  return now;
}
