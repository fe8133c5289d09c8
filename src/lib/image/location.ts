// Where image jobs keep their work folders and logs: $XDG_DATA_HOME/darkforge/jobs/ID.
import { join } from 'node:path';
import { darkforgeDir } from '../xdg.js';

export function jobsRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(darkforgeDir('data', env), 'jobs');
}
