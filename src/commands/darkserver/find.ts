import { Args } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { netFlags, netOptions } from '../../lib/cli/net-flags.js';
import { buildIdOfFile } from '../../lib/elf/file.js';
import { UserError } from '../../lib/errors.js';
import { cacheRoot, FindKind } from '../../lib/find/cache.js';
import { parseBuildId } from '../../lib/index/query.js';

export default class DarkserverFind extends BaseCommand {
  static override summary = 'Fetch the executable, debuginfo or a source file of a build-id into the cache.';
  static override description = `Prints the path of the file in the cache. Like debuginfod-find, from the local index: the RPM that holds the file is read from disk or `
    + `from its download candidates in order (mirror, Koji, retrace), the payload is streamed and only `
    + `that file is written to $XDG_CACHE_HOME/darkforge/BUILDID/executable|debuginfo|source-…, checked `
    + `against the RPM header's file digest. An ELF file path is accepted instead of a build-id. Exit 1 `
    + `when the build-id is unknown or no source delivers the file.`;
  static override examples = [
    '<%= config.bin %> darkserver find debuginfo 420e9e3308971f4b817cc5bf83928b41a6909d88',
    '<%= config.bin %> darkserver find executable /var/tmp/core-binary',
    '<%= config.bin %> darkserver find source 420e9e33... /usr/src/debug/hello-1.0-2.x86_64/hello.c',
  ];
  static override args = {
    kind: Args.string({ description: 'what to fetch', required: true, options: ['executable', 'debuginfo', 'source'], ignoreStdin: true }),
    buildid: Args.string({ description: 'build-id (8-64 hex digits) or the path of an ELF file', required: true, ignoreStdin: true }),
    path: Args.string({ description: 'source file path (for "source")', ignoreStdin: true }),
  };
  static override flags = { db: dbFlag, ...netFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DarkserverFind);
    const kind = args.kind as FindKind;
    if (kind === 'source' && !args.path) throw new UserError('find source needs the source file path too', 2);
    if (kind !== 'source' && args.path) throw new UserError(`find ${kind} takes one build-id or ELF file, not a path as well`, 2);
    const buildId = /^[0-9a-fA-F]{8,64}$/.test(args.buildid) ? parseBuildId(args.buildid) : await buildIdOfFile(args.buildid);
    const { findFile } = await import('../../lib/find/finder.js');
    const net = netOptions(this.label, flags);
    const store = await openStore(flags.db, { mustExist: true });
    try {
      const r = await findFile(store, { kind, buildId, sourcePath: args.path }, {
        cacheDir: cacheRoot(), net,
        onFallback: (url, message) => this.note(`${url}: ${message}; trying the next source`),
      });
      if (flags.json) this.printJson(r);
      else process.stdout.write(`${r.path}\n`);
    } finally {
      await store.close();
    }
  }
}
