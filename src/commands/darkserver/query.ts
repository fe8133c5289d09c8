import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag } from '../../lib/cli/base.js';
import { runQuery } from '../../lib/cli/darkserver-query.js';

export default class DarkserverQuery extends BaseCommand {
  static override summary = 'Which RPM builds contain these build-ids (or this RPM, or this path).';
  static override description = `Prints one line per match: BUILDID<TAB>RPM-NVRA<TAB>/path/in/rpm. A build-id found in several `
    + `RPMs gives several lines. Exit 1 when any input has no answer, 2 for input that is not a build-id.`;
  static override examples = [
    '<%= config.bin %> darkserver query 775fdcb927e4300adbe83cfacec3cfeb1f63fe17',
    '<%= config.bin %> darkserver query --json 775fdcb9... 3a54b25d...',
    '<%= config.bin %> darkserver query --rpm hello-2.0-1.x86_64',
    '<%= config.bin %> darkserver query --file /usr/bin/hello',
    '<%= config.bin %> darkserver query --package bash-5.2.15-3.fc38.x86_64',
    '<%= config.bin %> darkserver query --elf ./a.out',
    '<%= config.bin %> darkserver query --core core.12345',
    'coredumpctl dump 12345 | <%= config.bin %> darkserver query --core -',
  ];
  static override strict = false;
  // ignoreStdin: without it oclif reads a missing argument from a piped stdin (giving up after
  // 10 ms), so `--rpm X` inside a `while read` loop ate the loop's input and failed with exit 2.
  static override args = { buildid: Args.string({ description: 'GNU build-id, 8-64 hex digits (several allowed)', ignoreStdin: true }) };
  static override flags = {
    db: dbFlag,
    rpm: Flags.string({ description: 'All build-ids of one RPM, by N-V-R.A (a trailing .rpm is ignored).', helpValue: 'NVRA' }),
    file: Flags.string({ description: 'Which RPMs ship an ELF file at this path.', helpValue: 'PATH' }),
    package: Flags.string({ description: 'Download URLs of an RPM, by N-V-R.A or package name.', helpValue: 'NAME|NVRA' }),
    elf: Flags.string({ description: 'Answer for the build-id of this ELF file (a binary, library or .debug file).', helpValue: 'FILE' }),
    core: Flags.string({
      description: 'Answer for every module of this core dump (plain, or .zst/.xz/.lz4 as systemd-coredump keeps them; - reads standard input): BUILDID, RPM or -, path in RPM or -, path in core.',
      helpValue: 'FILE|-',
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(DarkserverQuery);
    await runQuery({ ids: argv as string[], ...flags }, this.label);
  }
}
