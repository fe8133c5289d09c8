// `darkserver import --worker`: an import worker, as the original darkserver's darkjobworker was.
// It takes the queued work of every Koji instance the store records (builds still to be looked up
// in Koji, and RPMs to fetch), with each instance's hub and package store as the store records
// them, so a worker on another machine needs nothing but the database. Workers on one machine or
// many share the queue through leases (queue.ts): each RPM is fetched by one of them, and a
// worker that dies or is cut off loses its RPMs when their leases run out.
//
// drainQueue() is one pass: it works until no work is left anywhere (nothing queued, and nothing
// another worker holds: it waits for those, and takes over the ones whose leases run out), then
// answers for the builds it worked on. A store that cannot be reached for a while (a server
// restart, a cut link) is waited out, as a service does: one line when it goes, one when it is
// back. `import --worker --follow` is this pass run again and again (lib/cli/darkserver-import-worker.ts).
import { isDatabaseFailure, isStoreUnreachable, type DatabaseError } from '../index/db-errors.js';
import { KojiClient } from '../koji/client.js';
import type { KojiInstance } from '../koji/instances.js';
import type { NetOptions } from '../net/dispatcher.js';
import { thisWorker, type WorkerRef } from '../proc/worker.js';
import type { BuildJob, Store } from '../store/port.js';
import { fetchClaimed, label, resolveQueued, type Claims, type ImportProgress, type ImportSummary } from './importer.js';
import { ImportQueue, leaseMs, releaseClaims } from './queue.js';

export interface WorkerOptions {
  /** RPMs fetched at once. */
  jobs?: number;
  /** Always stream the payload. */
  full?: boolean;
  /** Put failed builds and RPMs of every instance back on the queue first. */
  retryFailed?: boolean;
  /** Keep asking Koji about BUILDING builds for this long before leaving them queued. */
  waitBuildingMs?: number;
  /** A build still BUILDING is no problem (import --worker --follow asks again at the next pass): no line, and `complete` stays true. */
  quietBuilding?: boolean;
  /** Timeout and TLS settings for the hubs and the downloads (--timeout, --insecure). */
  net?: NetOptions;
  /** How often to look again while others hold the last RPMs. Default: 250 ms (an eighth of the lease when shorter). */
  pollMs?: number;
  /** The Koji client of an instance; default: one per hub, with `net`. */
  client?: (inst: KojiInstance) => KojiClient;
  worker?: WorkerRef;
  onProgress?: (p: ImportProgress) => void;
  /** One problem: an RPM or a build that failed, a build still BUILDING, a hub that cannot be reached. */
  onError?: (subject: string, message: string) => void;
  /** A line about the worker itself: the store cannot be reached, and answers again. */
  onNote?: (line: string) => void;
}

export interface WorkerSummary {
  /** This worker (host:pid:random), as `darkserver jobs` shows it beside the RPMs it holds. */
  worker: string;
  host: string;
  /** The instances whose builds it worked on. */
  instances: string[];
  /** The builds it worked on (looked up in Koji, or fetched an RPM of), by where they ended. */
  builds: { worked: number; imported: number; skipped: number; building: number; failed: number };
  /** The RPMs it fetched. */
  rpms: ImportSummary['rpms'];
  bytesFetched: number;
  bytesOfRpms: number;
  /** Every build it worked on is imported (or skipped by Koji), and none of its RPMs failed. */
  complete: boolean;
}

interface Instance {
  inst: KojiInstance;
  queue: ImportQueue;
  client: KojiClient;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Work the queue until no work is left anywhere, then say what became of the builds this worker worked on. */
export async function drainQueue(store: Store, opts: WorkerOptions = {}): Promise<WorkerSummary> {
  const me = opts.worker ?? thisWorker();
  const lease = leaseMs();
  // Waiting for others' last RPMs costs one small read per look; a store that does not answer is asked less often.
  const poll = opts.pollMs ?? Math.max(50, Math.min(250, lease / 8));
  const retry = Math.max(poll, Math.min(1000, lease / 4));
  const errors = opts.onError ?? (() => undefined);
  const note = opts.onNote ?? (() => undefined);
  const sum: WorkerSummary = {
    worker: me.id, host: me.host, instances: [],
    builds: { worked: 0, imported: 0, skipped: 0, building: 0, failed: 0 },
    rpms: { indexed: 0, headerOnly: 0, payload: 0, already: 0, failed: 0 },
    bytesFetched: 0, bytesOfRpms: 0, complete: true,
  };
  const progress: ImportProgress = { rpmsDone: 0, rpmsTotal: 0, bytes: 0, builds: 0 };
  const instances = new Map<string, Instance>();
  // Queue-wide operations only (claims of any instance, leases, lookups by row id): no instance of its own.
  const shared = new ImportQueue(store, '', me, lease);
  /** Rows (import_builds.id) of the builds this worker looked up or fetched an RPM of. */
  const worked = new Set<number>();
  /** Instances whose hub did not answer in this pass: their unlooked builds wait for the next. */
  const hubDown = new Set<string>();

  // Instances recorded since the last look (a producer on another machine may add one at any time).
  const load = async (): Promise<void> => {
    for (const [name, rec] of await store.instances()) {
      if (instances.has(name)) continue;
      const inst: KojiInstance = { ...rec, source: 'the database' };
      instances.set(name, { inst, queue: new ImportQueue(store, name, me, lease), client: opts.client?.(inst) ?? new KojiClient({ hub: inst.hub, ...opts.net }) });
    }
  };
  const claims: Claims = {
    claim: async (n) => {
      const got = await shared.claimAny(n);
      for (const job of got) worked.add(job.job_id);
      progress.builds = worked.size;
      return got;
    },
    of: async (job) => {
      if (!instances.has(job.instance)) await load();
      const i = instances.get(job.instance);
      return { queue: i?.queue ?? shared, inst: i?.inst };
    },
    renew: (ids) => shared.renew(ids),
    // Writes are judged by this worker's leases alone, whatever the instance.
    complete: (items) => shared.completeMany(items),
    leaseMs: lease,
  };
  /** Builds of this instance not looked up in Koji yet (their producer stopped first, or is at it now): look them up. */
  const lookUp = async (i: Instance): Promise<void> => {
    if (hubDown.has(i.inst.name)) return;
    const queued = await i.queue.buildsIn('queued');
    if (!queued.length) return;
    for (const b of queued) worked.add(b.id);
    progress.builds = worked.size;
    try {
      await resolveQueued({ client: i.client, queue: i.queue, inst: i.inst, errors, known: new Map() });
    } catch (e) {
      if (isDatabaseFailure(e)) throw e;
      // The hub itself (not one build) failed: the builds stay queued for the next pass or worker.
      hubDown.add(i.inst.name);
      sum.complete = false;
      errors(`instance ${i.inst.name}`, `${(e as Error).message}; its ${queued.length} build(s) not looked up yet stay queued`);
    }
  };
  const workLeft = async (): Promise<boolean> => {
    for (const i of instances.values()) {
      if (await i.queue.queuedRpms() > 0) return true;
      if (!hubDown.has(i.inst.name) && (await i.queue.buildsIn('queued')).length > 0) return true;
    }
    return false;
  };

  let started = false;
  let trouble = false;
  const deadline = Date.now() + (opts.waitBuildingMs ?? 0);
  for (;;) {
    try {
      await load();
      if (trouble) {
        // Claims left when the store went away are this worker's, and none is in flight now.
        await releaseClaims(store, me);
        note('the database answers again');
        trouble = false;
      }
      if (!started) {
        await shared.releaseAbandoned();
        for (const i of instances.values()) {
          if (opts.retryFailed) await i.queue.retryFailed();
          // Builds Koji was still building when they were queued: ask again.
          for (const b of await i.queue.buildsIn('building')) await i.queue.setBuild(b.id, 'queued');
        }
        started = true;
      }
      for (const i of instances.values()) await lookUp(i);
      let waiting = 0;
      for (const i of instances.values()) waiting += await i.queue.queuedRpms();
      progress.rpmsTotal = Math.max(progress.rpmsTotal, progress.rpmsDone + waiting);
      opts.onProgress?.(progress);
      await fetchClaimed(store, claims, opts, sum, progress, errors);
      for (const i of instances.values()) for (const b of await i.queue.buildsIn('fetching')) await i.queue.settle(b);
      // Put back meanwhile (a worker interrupted), or queued by a producer: take it.
      if (await workLeft()) continue;
      // Held by others: wait, and take over what they lose (their leases run out, or they die on this machine).
      if (await shared.heldElsewhere() > 0) {
        await sleep(poll);
        await shared.releaseAbandoned();
        continue;
      }
      if (Date.now() < deadline) {
        const building: Instance[] = [];
        for (const i of instances.values()) if ((await i.queue.buildsIn('building')).length) building.push(i);
        if (building.length) {
          await sleep(Math.min(30_000, Math.max(0, deadline - Date.now())));
          for (const i of building) for (const b of await i.queue.buildsIn('building')) await i.queue.setBuild(b.id, 'queued');
          continue;
        }
      }
      // The last RPMs may have been another worker's, which may not have settled their builds yet.
      for (const i of instances.values()) for (const b of await i.queue.buildsIn('fetching')) await i.queue.settle(b);
      // The builds worked on, as they ended (read before anything is counted: the store may still go away).
      const ended: BuildJob[] = [];
      for (const id of [...worked].sort((x, y) => x - y)) {
        const b = await shared.buildById(id);
        if (b) ended.push(b);
      }
      account(ended, instances.size > 1, sum, errors, !opts.quietBuilding);
      return sum;
    } catch (e) {
      if (!isStoreUnreachable(e)) throw e;
      if (!trouble) note(`${storeTrouble(e)}; waiting for it (trying again every ${seconds(retry)})`);
      trouble = true;
      await sleep(retry);
    }
  }
}

/** The builds this worker worked on, by where they ended; a BUILDING one is a problem, as for import. */
function account(ended: BuildJob[], manyInstances: boolean, sum: WorkerSummary, errors: (s: string, m: string) => void, buildingLeft: boolean): void {
  const names = new Set<string>();
  for (const b of ended) {
    names.add(b.instance);
    sum.builds.worked++;
    if (b.state === 'done') sum.builds.imported++;
    else if (b.state === 'skipped') sum.builds.skipped++;
    else if (b.state === 'failed') {
      sum.builds.failed++;
      sum.complete = false;
    } else if (b.state === 'building') {
      sum.builds.building++;
      if (!buildingLeft) continue;
      sum.complete = false;
      errors(manyInstances ? `${b.instance} ${label(b)}` : label(b), 'still BUILDING in Koji; it stays queued for the next import');
    }
  }
  if (sum.rpms.failed) sum.complete = false;
  sum.instances = [...names].sort();
}

/** "STORE: problem", without the hint a command would give ("run the same command again"): the worker does that itself. */
const storeTrouble = (e: DatabaseError): string => `${e.file}: ${e.problem}`;

const seconds = (ms: number): string => (ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(2).replace(/0+$/, '').replace(/\.$/, '')} s`);
