// The job a JOB argument names, or a clear error.
import { UserError } from '../errors.js';
import { ImageJob, JobStore } from './jobs.js';

export async function lookupJob(jobs: JobStore, arg: string): Promise<ImageJob> {
  if (!/^\d+$/.test(arg)) throw new UserError(`${arg}: not a job id (a number, as "imagebuild list" shows)`, 2);
  const job = await jobs.get(Number(arg));
  if (!job) throw new UserError(`${arg}: no such image build job`, 1);
  return job;
}
