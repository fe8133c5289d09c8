// How a job is told to people: the status lines, and the one sentence for a job that did not
// succeed (the CLI's stderr and exit code 1).
import type { ImageJob } from './jobs.js';

/** One sentence on why the job did not succeed, and where to look. */
export function jobOutcome(j: ImageJob): string {
  if (j.state === 'staging_failed') {
    return `job ${j.id} built its image(s), but ${j.error ?? 'staging failed'}; they are kept at ${j.artifacts.join(' ')}`;
  }
  const work = j.workdir ? `; its work folder is kept at ${j.workdir}` : '';
  return `job ${j.id} ${j.state}: ${j.error ?? 'see imagebuild logs'}${work}`;
}

/** `imagebuild status`: one "key:<TAB>value" pair per line. */
export function statusLines(j: ImageJob): [string, string][] {
  const t = (s: number | null): string => (s ? new Date(s * 1000).toISOString() : '-');
  return [
    ['job', String(j.id)], ['state', j.state], ['type', j.type], ['arch', j.arch], ['backend', j.backend],
    ['created', t(j.created_at)], ['started', t(j.started_at)], ['finished', t(j.finished_at)],
    ['host', j.host ?? '-'], ['worker', workerOf(j)],
    ['log', j.log_path || '-'],
    [j.state === 'staging_failed' ? 'kept images' : 'artifacts', j.artifacts.join(' ') || '-'],
    ['work folder', j.workdir ?? (j.state === 'queued' || j.state === 'running' ? '-' : 'removed')],
    ['error', j.error ?? '-'],
  ];
}

/** Who runs (or ran) the job: its runner's id (host:pid:random), or that it waits for a worker. */
export function workerOf(j: ImageJob): string {
  if (j.worker_id) return j.worker_id;
  return j.for_worker && j.state === 'queued' ? `waiting for a worker of ${j.arch}` : '-';
}
