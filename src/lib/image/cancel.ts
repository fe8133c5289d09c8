// Cancel: end the tool's process group and the runner, and record the job as canceled.
import { UserError } from '../errors.js';
import { ImageJob, JobStore } from './jobs.js';
import { killGroup } from './process-group.js';

export function cancelJob(jobs: JobStore, job: ImageJob): ImageJob {
  if (job.state !== 'queued' && job.state !== 'running') {
    throw new UserError(`job ${job.id} is already ${job.state}`, 1);
  }
  jobs.markCanceled(job.id);
  killGroup(job.pgid);
  if (job.pid && job.pid !== process.pid) {
    try { process.kill(job.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
  return jobs.get(job.id)!;
}
