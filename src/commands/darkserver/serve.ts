import { Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { netFlags, netOptions } from '../../lib/cli/net-flags.js';
import { cacheRoot } from '../../lib/find/cache.js';
import { parseSize } from '../../lib/serve/size.js';

export default class DarkserverServe extends BaseCommand {
  static override summary = 'Serve the index over HTTP: debuginfod protocol and darkserver JSON API.';
  static override description = 'Listens on 127.0.0.1:8002 by default. GET/HEAD /buildid/ID/debuginfo, /buildid/ID/executable, /buildid/ID/source/PATH and /buildid/ID/section/NAME answer debuginfod clients such as gdb and debuginfod-find (point them at it with DEBUGINFOD_URLS); /buildids/IDS, /rpm2buildids/NVRA, /package/NAME and /serverversion answer as the original darkserver did; /metrics has Prometheus metrics. A file not in the cache is extracted from its RPM on the first request (mirror, Koji, then retrace; one download per RPM however many requests want files of it); ids the index does not know are asked of the --upstream debuginfod servers. One line per request on stderr. SIGTERM or SIGINT: stop accepting, finish the requests in flight, exit 0.';
  static override examples = [
    '<%= config.bin %> darkserver serve',
    '<%= config.bin %> darkserver serve --port 8080 --cache-size 20G --upstream https://debuginfod.fedoraproject.org',
  ];
  static override flags = {
    db: dbFlag,
    listen: Flags.string({ description: 'Address to listen on; anything but loopback makes the index reachable from other machines.', default: '127.0.0.1', helpValue: 'ADDR' }),
    port: Flags.integer({ char: 'p', description: 'Port (0: any free port; the line on stderr says which).', default: 8002, min: 0, max: 65535 }),
    'cache-dir': Flags.string({ description: 'Where fetched files are kept [default: $XDG_CACHE_HOME/darkforge, as darkserver find].', helpValue: 'DIR' }),
    'cache-size': Flags.string({ description: 'Bound on the cache (e.g. 20G): least recently used files go first; a file being served is never removed.', helpValue: 'SIZE' }),
    'memory-cache': Flags.string({ description: 'Bytes of small cached files (8 MiB at most each) kept in memory to answer from, least recently used given up first; 0: none [default: 256M].', helpValue: 'SIZE' }),
    upstream: Flags.string({ description: 'An upstream debuginfod server for ids the index does not know (repeatable; $DEBUGINFOD_URLS is used too).', multiple: true, helpValue: 'URL' }),
    jobs: Flags.integer({ char: 'j', description: 'RPM downloads (and extractions) at once; more requests wait.', default: 4, min: 1, max: 64 }),
    quiet: Flags.boolean({ char: 'q', description: 'No line per request on stderr (errors and fetch failures are still logged).' }),
    ...netFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DarkserverServe);
    const cacheSize = flags['cache-size'] === undefined ? undefined : parseSize(flags['cache-size']);
    const memoryCache = flags['memory-cache'] === undefined ? undefined : parseSize(flags['memory-cache'], '--memory-cache', { zero: true });
    const net = netOptions(this.label, flags);
    const { runServe } = await import('../../lib/serve/run.js');
    const store = await openStore(flags.db, { mustExist: true });
    try {
      await runServe(store, {
        listen: flags.listen, port: flags.port, cacheRoot: flags['cache-dir'] ?? cacheRoot(), cacheSize, memoryCache,
        upstream: flags.upstream ?? [], jobs: flags.jobs, net, version: this.config.version, quiet: flags.quiet,
        onListening: flags.json ? (url, port) => process.stdout.write(`${JSON.stringify({ url, port })}\n`) : undefined,
      }, (line) => this.note(line));
    } finally {
      store.close();
    }
  }
}
