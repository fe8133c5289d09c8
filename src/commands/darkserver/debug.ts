import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { netFlags, netOptions } from '../../lib/cli/net-flags.js';
import { cacheRoot } from '../../lib/find/cache.js';

export default class DarkserverDebug extends BaseCommand {
  static override summary = 'A core dump to gdb with symbols and sources from the index, no server.';
  static override description = 'Reads the modules of the core dump (a file, a compressed core as systemd-coredump keeps them, or - for standard input), fetches the executable and debuginfo of each one the index knows (and its build\'s sources) into the cache, lays them out as a .build-id tree and a sysroot, and runs gdb on them. Modules the index does not know are named on stderr (this machine\'s copy is used when it has the same build-id). --print shows the gdb command line instead of running it; --batch runs gdb non-interactively (default command: bt). The exit code is gdb\'s.';
  static override examples = [
    '<%= config.bin %> darkserver debug core.4242',
    '<%= config.bin %> darkserver debug core.4242 ./myprog --batch --ex "thread apply all bt"',
    '<%= config.bin %> darkserver debug core.4242 --print',
  ];
  static override args = {
    core: Args.string({ description: 'core dump file (- for standard input)', required: true, ignoreStdin: true }),
    exe: Args.string({ description: 'the crashed executable [default: the one the index has for the core]', ignoreStdin: true }),
  };
  static override flags = {
    db: dbFlag,
    'cache-dir': Flags.string({ description: 'Where fetched files are kept [default: $XDG_CACHE_HOME/darkforge].', helpValue: 'DIR' }),
    print: Flags.boolean({ description: 'Print the gdb command line instead of running gdb (with --json: the argument list, the tree and each module\'s source).' }),
    batch: Flags.boolean({ description: 'Run gdb in batch mode (for scripts): the --ex commands, or bt, then exit.' }),
    ex: Flags.string({ description: 'A gdb command to run (repeatable), as gdb -ex.', multiple: true, helpValue: 'COMMAND' }),
    gdb: Flags.string({ description: 'The gdb program.', default: 'gdb', helpValue: 'PROGRAM' }),
    'no-sources': Flags.boolean({ description: 'Do not fetch the builds\' sources.' }),
    debuginfod: Flags.boolean({ description: 'Let gdb ask $DEBUGINFOD_URLS for what the index does not have (off by default: no server is needed).' }),
    ...netFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DarkserverDebug);
    const net = netOptions(this.label, flags);
    const { runDebug } = await import('../../lib/debug/run.js');
    const store = await openStore(flags.db, { mustExist: true });
    let code: number;
    try {
      code = await runDebug(store, {
        core: args.core, exe: args.exe, cacheRoot: flags['cache-dir'] ?? cacheRoot(), net, print: flags.print, batch: flags.batch,
        commands: flags.ex ?? [], gdb: flags.gdb, sources: !flags['no-sources'], debuginfod: flags.debuginfod, json: flags.json === true,
      }, (line) => this.note(line));
    } finally {
      store.close();
    }
    if (code !== 0) this.exit(code);
  }
}
