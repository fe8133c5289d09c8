// `darkserver import --follow`: index every build that completes in Koji from now (or --since)
// on, as the original darkserver did from Koji's build messages, but by polling the hub, so no
// message bus is needed. Each poll reads Koji's newest event (getLastEvent) first, then lists the
// builds completed since the mark (listBuilds completeAfter, paged), queues them as a walk would
// (COMPLETE imported; DELETED, FAILED, CANCELED skipped; one still BUILDING comes back when Koji
// lists it completed), moves the mark to that event, and fetches. The mark is kept in the store
// per instance, so a restart goes on where the last run stopped.
//
// Koji stamps a build's completion with the start of the transaction that completes it, and that
// transaction may commit after a poll has read a later event: a build can appear with a
// completion time behind the mark. So each poll looks back LOOK_BACK_S behind the mark (never
// before the start: a first start or --since), and the queue makes builds seen twice cost nothing.
import { UserError } from '../errors.js';
import { KojiError } from '../koji/client.js';
import type { KojiBuild, KojiEvent } from '../koji/types.js';
import type { FollowMark, Store } from '../store/port.js';
import { drain, importContext, queueListed, resolveQueued, type ImportContext, type ImportOptions } from './importer.js';
import { kojiTime, type Since } from './since.js';
import { newSummary, tally, type ImportSummary } from './summary.js';

/** How far behind the mark each poll looks for builds whose completion committed late. */
export const LOOK_BACK_S = 600;
/** Builds per listBuilds page (below the hub's 1000-row cursor chunk, so one query each). */
const PAGE = 500;

export interface FollowOptions extends Omit<ImportOptions, 'builds' | 'from' | 'to' | 'waitBuildingMs'> {
  /** Where to start instead of the stored mark (or, without one, Koji's newest event). */
  since?: Since;
  /** Override LOOK_BACK_S (tests). */
  lookBackS?: number;
}

/** What one poll did: the builds it finished, and the event Koji was at when it looked. */
export interface FollowBatch {
  summary: ImportSummary;
  mark: FollowMark;
  /** Builds Koji listed as completed since the last poll (new to the queue or not). */
  listed: number;
}

export class Follower {
  private ctx!: ImportContext;
  private mark!: FollowMark;
  /** Builds of the queue to settle on the first poll: those a previous run left unfinished. */
  private leftover = new Set<number>();

  private constructor(private readonly store: Store, private readonly opts: FollowOptions) {}

  /** Set up: the instance recorded, dead workers' claims taken back, failed work queued again (--retry-failed), the start mark fixed. */
  static async start(store: Store, opts: FollowOptions): Promise<Follower> {
    const f = new Follower(store, opts);
    f.ctx = await importContext(store, opts, 'follow');
    if (opts.retryFailed) await f.ctx.queue.retryFailed();
    for (const state of ['queued', 'building', 'fetching'] as const) for (const b of await f.ctx.queue.buildsIn(state)) f.leftover.add(b.koji_build_id);
    f.mark = await f.startMark();
    return f;
  }

  get instance(): string {
    return this.ctx.inst.name;
  }

  /** Where the follower stands (the last event it has looked up to). */
  get current(): FollowMark {
    return this.mark;
  }

  private async startMark(): Promise<FollowMark> {
    const { client, inst } = this.ctx;
    const instance = inst.name;
    const since = this.opts.since;
    if (!since) {
      const stored = await this.store.queue.followMark(instance);
      if (stored) return stored;
      const ev = await client.getLastEvent();
      return this.store.queue.setFollowMark({ instance, event_id: ev.id, event_ts: ev.ts, since_ts: ev.ts }, { reset: true });
    }
    let mark: FollowMark;
    if ('event' in since) {
      let ev: KojiEvent;
      try {
        ev = await client.getEvent(since.event);
      } catch (e) {
        // Koji answers a fault for an event it does not have; transport trouble stays what it is.
        if (e instanceof KojiError && e.faultCode !== undefined) throw new UserError(`--since ${since.event}: Koji has no such event (${client.hub})`, 2);
        throw e;
      }
      mark = { instance, event_id: ev.id, event_ts: ev.ts, since_ts: ev.ts };
    } else {
      // The event Koji was at then, for `darkserver jobs`; a date before Koji's first event has none.
      let before: KojiEvent | undefined;
      try {
        before = await client.getLastEvent(since.ts);
      } catch (e) {
        if (!(e instanceof KojiError && e.faultCode !== undefined)) throw e;
      }
      mark = { instance, event_id: before?.id ?? null, event_ts: since.ts, since_ts: since.ts };
    }
    return this.store.queue.setFollowMark(mark, { reset: true });
  }

  /**
   * One poll: list what Koji completed since the mark, queue it, move the mark, fetch. A failure
   * of the hub leaves the mark where it was (the next poll looks again); a failure of an RPM
   * is its own (told through onError, the build left failed).
   */
  async poll(): Promise<FollowBatch> {
    try {
      return await this.pollOnce();
    } catch (e) {
      // What this poll queued is in the store: the next poll finishes it and counts it.
      try {
        for (const state of ['queued', 'fetching'] as const) for (const b of await this.ctx.queue.buildsIn(state)) this.leftover.add(b.koji_build_id);
      } catch { /* the store failed too: e says what matters */ }
      throw e;
    }
  }

  private async pollOnce(): Promise<FollowBatch> {
    const ctx = this.ctx;
    const { client, inst } = ctx;
    const ev = await client.getLastEvent();
    // Another follower of this instance may have gone further meanwhile.
    const stored = await this.store.queue.followMark(inst.name);
    const mark = stored && stored.event_ts > this.mark.event_ts ? stored : this.mark;
    const after = Math.max(mark.since_ts, mark.event_ts - (this.opts.lookBackS ?? LOOK_BACK_S));
    const touched = new Set<number>(this.leftover);
    this.leftover.clear();
    ctx.known = new Map(); // what Koji said in an earlier poll may have changed
    let listed = 0;
    for (let offset = 0; ; offset += PAGE) {
      // By build id: a build completing while the pages are read sorts in among them and may be
      // listed twice, which costs nothing; the next poll's look back covers the rest.
      const page: KojiBuild[] = await client.listBuilds({ completeAfter: kojiTime(after) }, { order: 'build_id', offset, limit: PAGE });
      listed += page.length;
      for (const id of await queueListed(ctx, page)) touched.add(id);
      if (page.length < PAGE) break;
    }
    // The listed builds are on the queue now: a run stopped from here on finds them there.
    this.mark = await this.store.queue.setFollowMark({ instance: inst.name, event_id: ev.id, event_ts: Math.max(ev.ts, mark.event_ts), since_ts: mark.since_ts });
    ctx.sum = newSummary('follow', inst.name);
    ctx.progress = { rpmsDone: 0, rpmsTotal: 0, bytes: 0, builds: 0 };
    // A producer for import workers (--follow --queue): the builds' RPMs are queued, not fetched.
    if (this.opts.queueOnly) await resolveQueued(ctx);
    else await drain(ctx, touched);
    await tally(ctx.queue, ctx.sum, { touched, queueOnly: this.opts.queueOnly });
    return { summary: ctx.sum, mark: this.mark, listed };
  }
}
