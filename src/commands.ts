// Explicit command registry (oclif "explicit" discovery): `darkserver index` cannot come from
// file-name discovery, where commands/darkserver/index.ts would be the topic itself.
import AutocompleteFish from './commands/autocomplete/fish.js';
import DarkserverDbCopy from './commands/darkserver/db/copy.js';
import DarkserverDebug from './commands/darkserver/debug.js';
import DarkserverFind from './commands/darkserver/find.js';
import DarkserverImport from './commands/darkserver/import.js';
import DarkserverIndex from './commands/darkserver/index.js';
import DarkserverJobs from './commands/darkserver/jobs.js';
import DarkserverQuery from './commands/darkserver/query.js';
import DarkserverServe from './commands/darkserver/serve.js';
import DarkserverStats from './commands/darkserver/stats.js';
import ImagebuildBoot from './commands/imagebuild/boot.js';
import ImagebuildCancel from './commands/imagebuild/cancel.js';
import ImagebuildDvd from './commands/imagebuild/dvd.js';
import ImagebuildList from './commands/imagebuild/list.js';
import ImagebuildLive from './commands/imagebuild/live.js';
import ImagebuildLogs from './commands/imagebuild/logs.js';
import ImagebuildRetry from './commands/imagebuild/retry.js';
import ImagebuildRunJob from './commands/imagebuild/run-job.js';
import ImagebuildStatus from './commands/imagebuild/status.js';
import ImagebuildWorker from './commands/imagebuild/worker.js';

export const COMMANDS = {
  'autocomplete:fish': AutocompleteFish,
  'darkserver:db:copy': DarkserverDbCopy,
  'darkserver:debug': DarkserverDebug,
  'darkserver:find': DarkserverFind,
  'darkserver:import': DarkserverImport,
  'darkserver:index': DarkserverIndex,
  'darkserver:jobs': DarkserverJobs,
  'darkserver:query': DarkserverQuery,
  'darkserver:serve': DarkserverServe,
  'darkserver:stats': DarkserverStats,
  'imagebuild:boot': ImagebuildBoot,
  'imagebuild:cancel': ImagebuildCancel,
  'imagebuild:dvd': ImagebuildDvd,
  'imagebuild:list': ImagebuildList,
  'imagebuild:live': ImagebuildLive,
  'imagebuild:logs': ImagebuildLogs,
  'imagebuild:retry': ImagebuildRetry,
  'imagebuild:run-job': ImagebuildRunJob,
  'imagebuild:status': ImagebuildStatus,
  'imagebuild:worker': ImagebuildWorker,
};
