// Shapes of the Koji hub answers darkforge uses (kojihub getBuild / listRPMs / getRPM).
// Only the fields we read are typed strictly; the hub adds keys over time, so extras are allowed.
// Times come as strings: the hub marshals datetimes with isoformat(' '), not as dateTime.iso8601.
import type { XmlRpcValue } from './xmlrpc.js';

export const BUILD_STATES = { BUILDING: 0, COMPLETE: 1, DELETED: 2, FAILED: 3, CANCELED: 4 } as const;

export type BuildStateName = keyof typeof BUILD_STATES;

/** "COMPLETE" for 1, and so on; unknown numbers come back as "STATE <n>". */
export function buildStateName(state: number): BuildStateName | `STATE ${number}` {
  const hit = (Object.keys(BUILD_STATES) as BuildStateName[]).find((k) => BUILD_STATES[k] === state);
  return hit ?? `STATE ${state}`;
}

export interface KojiBuild {
  id: number;
  /** Alias of id on hubs since 2016; listBuilds has only this one. */
  build_id?: number;
  package_id: number;
  package_name: string;
  name: string;
  version: string;
  release: string;
  epoch: number | null;
  nvr: string;
  state: number;
  task_id?: number | null;
  owner_id?: number;
  owner_name?: string;
  volume_id?: number;
  /** "DEFAULT" means the main volume; anything else lives under /vol/<name>. */
  volume_name?: string;
  creation_event_id?: number;
  creation_time?: string | null;
  creation_ts?: number | null;
  start_time?: string | null;
  start_ts?: number | null;
  completion_time?: string | null;
  completion_ts?: number | null;
  source?: string | null;
  extra?: XmlRpcValue;
  cg_id?: number | null;
  cg_name?: string | null;
  draft?: boolean;
  [key: string]: XmlRpcValue | undefined;
}

export interface KojiRpm {
  id: number;
  name: string;
  version: string;
  release: string;
  nvr: string;
  arch: string;
  epoch: number | null;
  /** Hex sigmd5 of header + payload. */
  payloadhash: string;
  size: number;
  buildtime?: number;
  build_id: number;
  buildroot_id?: number | null;
  /** Set (with external_repo_name) for RPMs from an external repo: not downloadable from the hub's topurl. */
  external_repo_id?: number | null;
  external_repo_name?: string;
  metadata_only?: boolean;
  extra?: XmlRpcValue;
  draft?: boolean;
  [key: string]: XmlRpcValue | undefined;
}

/** A Koji event (getLastEvent, getEvent): ids grow with time; `ts` is seconds since 1970 by the hub's database clock. */
export interface KojiEvent {
  id: number;
  ts: number;
}
