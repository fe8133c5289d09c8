// Explicit command registry (oclif "explicit" discovery): `darkserver index` cannot come from
// file-name discovery, where commands/darkserver/index.ts would be the topic itself.
import DarkserverFind from './commands/darkserver/find.js';
import DarkserverImport from './commands/darkserver/import.js';
import DarkserverIndex from './commands/darkserver/index.js';
import DarkserverJobs from './commands/darkserver/jobs.js';
import DarkserverQuery from './commands/darkserver/query.js';
import DarkserverStats from './commands/darkserver/stats.js';

export const COMMANDS = {
  'darkserver:find': DarkserverFind,
  'darkserver:import': DarkserverImport,
  'darkserver:index': DarkserverIndex,
  'darkserver:jobs': DarkserverJobs,
  'darkserver:query': DarkserverQuery,
  'darkserver:stats': DarkserverStats,
};
