// The words `darkserver import` ends with: one summary line on stdout for what the run did, and
// on stderr a closing line only when failed work remains (the builds left BUILDING, skipped or
// missing were each named on their own line already). DELETED, FAILED or CANCELED builds are
// never sent to --retry-failed: asking Koji again cannot change them.
import type { FollowBatch } from '../import/follow.js';
import type { ImportSummary } from '../import/summary.js';
import type { WorkerSummary } from '../import/worker.js';
import { formatBytes } from './format.js';

const n = (count: number, one: string, many = `${one}s`): string => `${count} ${count === 1 ? one : many}`;

function rpmPart(s: ImportSummary): string {
  const r = s.rpms;
  return `${r.indexed} RPMs indexed (${r.headerOnly} from the header alone), ${r.already} already indexed, ${r.failed} failed; `
    + `fetched ${formatBytes(s.bytesFetched)} of ${formatBytes(s.bytesOfRpms)}`;
}

/** The summary line, or undefined when the run found nothing to work on (every build named is unknown to Koji: said already). */
export function summaryLine(s: ImportSummary): string | undefined {
  const b = s.builds;
  if (s.mode === 'builds') {
    if (b.missing === b.requested) return undefined;
    return `imported ${b.imported} of ${b.requested} requested builds from ${s.instance}: ${rpmPart(s)}; `
      + `${b.skipped} builds skipped, ${b.building} still building, ${b.failed} failed${b.missing ? `, ${b.missing} not in Koji` : ''}`;
  }
  if (s.mode === 'walk') {
    const w = s.walked!;
    return `walked build ids ${w.from} to ${w.to} of ${s.instance}: ${n(b.imported, 'build')} imported, ${b.already} imported before, `
      + `${b.skipped} skipped (deleted, failed or canceled in Koji), ${b.missing} not in Koji, ${b.building} still building, ${b.failed} failed; ${rpmPart(s)}`;
  }
  if (!s.instances.length) {
    return `the import queue holds nothing to resume${s.remaining.failed ? ` (${n(s.remaining.failed, 'failed build')})` : ''}`;
  }
  return `resumed the import queue of ${s.instance}: ${n(b.imported, 'build')} imported, ${b.building} still building, ${b.failed} failed; ${rpmPart(s)}`;
}

/** For stderr when failed work remains: how many, where to see them, how to retry. */
export function closingLine(s: ImportSummary): string | undefined {
  const failed = s.remaining.failed;
  if (!failed) return undefined;
  const see = `see "darkserver jobs"; --retry-failed tries ${failed === 1 ? 'it' : 'them'} again`;
  if (s.mode === 'builds') return `not every requested build was imported: ${n(failed, 'build')} failed (${see})`;
  if (s.mode === 'walk') return `${n(failed, 'walked build')} failed (${see})`;
  return `${n(failed, 'build')} in the import queue ${failed === 1 ? 'remains' : 'remain'} failed (${see})`;
}

/** One line for a --follow poll that imported or failed something; undefined for a quiet one. */
export function batchLine(batch: FollowBatch): string | undefined {
  const s = batch.summary;
  const b = s.builds;
  const at = batch.mark.event_id === null ? '' : ` up to Koji event ${batch.mark.event_id}`;
  if (s.queued) {
    // --follow --queue: what went on the queue for import workers.
    if (!s.queued.builds && !b.failed && !b.skipped) return undefined;
    const more = [b.skipped ? `, ${b.skipped} skipped in Koji` : '', b.failed ? `, ${n(b.failed, 'build')} failed` : ''].join('');
    return `${s.instance}: ${n(s.queued.builds, 'build')} (${s.queued.rpms} RPMs) queued for import workers${more}${at}`;
  }
  if (!b.imported && !b.failed && !s.rpms.failed) return undefined;
  const r = s.rpms;
  const parts = [`${n(b.imported, 'build')} imported (${r.indexed} RPMs indexed, ${r.headerOnly} from the header alone, ${r.already} already indexed; `
    + `fetched ${formatBytes(s.bytesFetched)})`];
  if (b.failed) parts.push(`${n(b.failed, 'build')} failed`);
  if (b.skipped) parts.push(`${b.skipped} skipped in Koji`);
  return `${s.instance}: ${parts.join(', ')}${at}`;
}

/** import --queue: what went on the queue for import workers. */
export function queuedLine(s: ImportSummary, q: { builds: number; rpms: number }): string {
  const b = s.builds;
  return `queued ${q.builds} builds (${q.rpms} RPMs) from ${s.instance} for import workers; ${b.imported + b.already} imported already, `
    + `${b.skipped + b.missing} skipped, ${b.building} still building (a worker asks Koji again), ${b.failed} failed`;
}

/** import --worker: what this worker did with the builds it worked on. */
export function workerLine(s: WorkerSummary): string {
  const r = s.rpms;
  const b = s.builds;
  return `worker ${s.worker}: imported ${b.imported} of ${b.worked} builds worked on${s.instances.length ? ` from ${s.instances.join(', ')}` : ''}: `
    + `${r.indexed} RPMs indexed (${r.headerOnly} from the header alone), ${r.already} already indexed, ${r.failed} failed; `
    + `fetched ${formatBytes(s.bytesFetched)} of ${formatBytes(s.bytesOfRpms)}; `
    + `${b.skipped} builds skipped, ${b.building} still building, ${b.failed} failed`;
}
