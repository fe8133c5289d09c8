// Where image jobs keep their work folders and logs: $XDG_DATA_HOME/darkforge/jobs/ID.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function jobsRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share'), 'darkforge', 'jobs');
}
