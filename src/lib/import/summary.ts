// What one `darkserver import` run did and what it leaves behind, counted from the queue: the
// builds this run answers for (asked for, walked, resumed, or found by --follow) by the state
// they end in, and the failed or BUILDING ones that remain for a later run. The exit code follows
// from it: 0 only when nothing this run answers for is left failed or BUILDING (and, for builds
// asked for by name, when each was imported).
import type { BuildJob } from '../store/port.js';
import type { ImportQueue } from './queue.js';

/** How the run chose its builds: named on the command line, a --from walk, the queue as it was, or --follow. */
export type ImportMode = 'builds' | 'walk' | 'resume' | 'follow';

export interface ImportSummary {
  mode: ImportMode;
  /** import --queue: the builds given (asked for, walked or listed by --follow) whose RPMs now wait for workers, and those RPMs. */
  queued?: { builds: number; rpms: number };
  /** The instance (several, comma-separated, when a resume covered every instance with work). */
  instance: string;
  instances: string[];
  /** For a walk: the ids walked. */
  walked?: { from: number; to: number };
  builds: {
    /** Builds named on the command line (each once), found in Koji or not. */
    requested: number;
    /** Named builds that are imported (done); for walks, resumes and --follow: builds this run finished. */
    imported: number;
    /** Walked builds that were done before this run. */
    already: number;
    /** DELETED, FAILED or CANCELED in Koji: nothing to import. */
    skipped: number;
    /** Builds named or ids walked that Koji does not know. */
    missing: number;
    building: number;
    failed: number;
  };
  rpms: { indexed: number; headerOnly: number; payload: number; already: number; failed: number };
  bytesFetched: number;
  bytesOfRpms: number;
  /**
   * Work left in the queue of what this run answers for: failed builds (--retry-failed tries them
   * again), builds still BUILDING in Koji, builds another run still holds RPMs of. For a resume
   * without builds named, every failed build of the instances it covered.
   */
  remaining: { failed: number; building: number; pending: number };
  /** True when nothing this run answers for is left failed or BUILDING, and every named build is imported. */
  complete: boolean;
}

export function newSummary(mode: ImportMode, instance: string): ImportSummary {
  return {
    mode, instance, instances: [instance],
    builds: { requested: 0, imported: 0, already: 0, skipped: 0, missing: 0, building: 0, failed: 0 },
    rpms: { indexed: 0, headerOnly: 0, payload: 0, already: 0, failed: 0 },
    bytesFetched: 0, bytesOfRpms: 0,
    remaining: { failed: 0, building: 0, pending: 0 },
    complete: true,
  };
}

export interface TallyScope {
  /** Every build this run answers for (Koji build ids). */
  touched: Set<number>;
  /** Named on the command line and found in Koji. */
  requested?: Set<number>;
  /** Of `touched`, those already done when the run began (a walk over imported ids). */
  doneBefore?: Set<number>;
  /** A resume of the whole queue: every failed build of the instance remains to be retried, touched or not. */
  wholeQueue?: boolean;
  /** Told once for each build that ends BUILDING (not under --follow or --queue), and each named build that ends skipped. */
  onLeft?: (b: BuildJob, why: 'building' | 'skipped') => void;
  /**
   * import --queue: the builds were only queued for import workers. Those whose RPMs wait are
   * counted in `sum.queued`, not as work left; a BUILDING one is no problem (a worker asks Koji
   * again); named builds count as done once queued, imported or BUILDING.
   */
  queueOnly?: boolean;
}

const label = (b: BuildJob): string => (b.nvr ? `build ${b.koji_build_id} (${b.nvr})` : `build ${b.koji_build_id}`);
export { label as buildLabel };

/** Count the builds of `scope` by the state they are in now, into `sum` (RPM counts are the run's own). */
export async function tally(queue: ImportQueue, sum: ImportSummary, scope: TallyScope): Promise<void> {
  const { touched, requested, doneBefore } = scope;
  // Of the builds skipped, only those named on the command line are told (a walk meets many, as darkproducer did).
  const named = (b: BuildJob): boolean => requested?.has(b.koji_build_id) ?? false;
  // Row by row for the few builds a poll or a named import touches (a follower must not read every
  // build ever imported each minute); state by state for a big walk or resume.
  let rows: BuildJob[] = [];
  if (touched.size <= 2000) {
    for (const id of touched) { const b = await queue.build(id); if (b) rows.push(b); }
  } else {
    for (const state of ['done', 'failed', 'skipped', 'building', 'queued', 'fetching'] as const) {
      rows.push(...(await queue.buildsIn(state)).filter((b) => touched.has(b.koji_build_id)));
    }
  }
  if (scope.wholeQueue) sum.remaining.failed += (await queue.buildsIn('failed')).filter((b) => !touched.has(b.koji_build_id)).length;
  rows = rows.sort((a, b) => a.koji_build_id - b.koji_build_id);
  const queued = scope.queueOnly ? (sum.queued = { builds: 0, rpms: 0 }) : undefined;
  for (const b of rows) {
    switch (b.state) {
      case 'done':
        if (doneBefore?.has(b.koji_build_id)) sum.builds.already++;
        else if (sum.mode !== 'builds' || requested?.has(b.koji_build_id)) sum.builds.imported++;
        break;
      case 'skipped':
        // A build Koji does not know has no Koji state; one that is DELETED, FAILED or CANCELED has.
        if (b.koji_state === null) sum.builds.missing++;
        else sum.builds.skipped++;
        if (named(b)) scope.onLeft?.(b, 'skipped');
        break;
      case 'building':
        sum.builds.building++;
        if (queued) break;
        sum.remaining.building++;
        if (sum.mode !== 'follow') scope.onLeft?.(b, 'building');
        break;
      case 'failed':
        sum.builds.failed++;
        sum.remaining.failed++;
        break;
      default:
        if (!queued) { sum.remaining.pending++; break; }
        queued.builds++;
        queued.rpms += (await queue.rpmsOf(b)).filter((r) => r.state === 'queued' || r.state === 'running').length;
    }
  }
  const namedDone = sum.builds.imported + (queued ? queued.builds + sum.builds.building : 0);
  const namedLeft = sum.mode === 'builds' && namedDone < sum.builds.requested;
  sum.complete = !namedLeft && !sum.remaining.failed && !sum.remaining.building && !sum.remaining.pending && !sum.rpms.failed;
}

/** One summary for a resume that covered several instances. */
export function mergeSummaries(list: ImportSummary[]): ImportSummary {
  const out = newSummary(list[0]?.mode ?? 'resume', '');
  out.instances = list.flatMap((s) => s.instances);
  out.instance = out.instances.join(', ');
  for (const s of list) {
    for (const k of Object.keys(out.builds) as (keyof ImportSummary['builds'])[]) out.builds[k] += s.builds[k];
    for (const k of Object.keys(out.rpms) as (keyof ImportSummary['rpms'])[]) out.rpms[k] += s.rpms[k];
    for (const k of Object.keys(out.remaining) as (keyof ImportSummary['remaining'])[]) out.remaining[k] += s.remaining[k];
    out.bytesFetched += s.bytesFetched;
    out.bytesOfRpms += s.bytesOfRpms;
    out.complete &&= s.complete;
  }
  return out;
}
