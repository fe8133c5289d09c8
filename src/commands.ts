// Explicit command registry (oclif "explicit" discovery): `darkserver index` cannot come from
// file-name discovery, where commands/darkserver/index.ts would be the topic itself.
import DarkserverIndex from './commands/darkserver/index.js';
import DarkserverQuery from './commands/darkserver/query.js';
import DarkserverStats from './commands/darkserver/stats.js';

export const COMMANDS = {
  'darkserver:index': DarkserverIndex,
  'darkserver:query': DarkserverQuery,
  'darkserver:stats': DarkserverStats,
};
