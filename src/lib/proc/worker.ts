// Who this process is, for the claims it makes in a store that processes on other machines may
// share: a pid alone means nothing on another machine, and is reused on this one.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * One process that claims work. `id` is unique among every process on every machine that shares
 * the store (host:pid:random); `host` and `pid` say where it runs, so a process on the same
 * machine can tell a dead claimant at once instead of waiting for its lease to run out.
 */
export interface WorkerRef {
  id: string;
  host: string;
  pid: number;
}

let self: WorkerRef | undefined;

/** This process as a claimant: host:pid:random, the same for the whole life of the process. */
export function thisWorker(): WorkerRef {
  if (!self) {
    const host = hostname();
    self = { id: `${host}:${process.pid}:${randomBytes(4).toString('hex')}`, host, pid: process.pid };
  }
  return self;
}

/** A claim recorded by a process on this machine (claims older darkforges made carry no host: they were all local). */
export const onThisHost = (host: string | null | undefined): boolean => host == null || host === hostname();
