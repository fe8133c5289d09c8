// Is a recorded process (an image job's runner, an import's worker) still that process? A pid
// alone can lie: after the process dies (kill -9, OOM, reboot) the kernel may hand its pid to
// something else, and a job would then show "running" forever. So a runner must carry the job's
// token in its environment, or else have started no later than the job did; and a leftover tool
// group is only signalled when its leader carries the token. The token is the job's folder, which
// no other job shares.
import { readFileSync } from 'node:fs';
import { processAlive } from './alive.js';

/** Environment variable every job process (detached runner, each tool) carries. */
export const JOB_TOKEN_ENV = 'DARKFORGE_JOB_TOKEN';

// USER_HZ, the unit of /proc/PID/stat's starttime: 100 on every Linux architecture Fedora builds.
const TICKS_PER_SECOND = 100;
// started_at is whole seconds and boot time is derived from the clock, so allow this much.
const SLACK_S = 2;

/** When the process started, in Unix seconds; undefined where /proc cannot tell. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the ")" that closes the command name: state is field 3, starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[22 - 3]);
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'))?.[1];
    if (!Number.isFinite(ticks) || btime === undefined) return undefined;
    return Number(btime) + ticks / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * The process `pid` is alive and is the job's runner. A detached runner carries the job's token
 * in its environment, which settles it; otherwise (an attached CLI, or an environment this user
 * may not read) it must have started no later than `since` (Unix seconds), when the job recorded
 * it: a younger process took over a dead runner's pid.
 */
export function runnerAlive(pid: number, since: number | null, token?: string): boolean {
  if (!processAlive(pid)) return false;
  if (token !== undefined && hasToken(pid, token)) return true;
  if (since === null) return true;
  const start = processStartTime(pid);
  return start === undefined || start <= since + SLACK_S;
}

function hasToken(pid: number, token: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`${JOB_TOKEN_ENV}=${token}`);
  } catch {
    return false;
  }
}

/** The process group `pgid` is led by a process of the job with this token (read from its environment). */
export function groupBelongsTo(pgid: number, token: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pgid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[5 - 3]) === pgid && hasToken(pgid, token);
  } catch {
    return false;
  }
}
