import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { UserError } from '../../lib/errors.js';
import { buildIdOfFile } from '../../lib/elf/file.js';
import { formatCoreLines, formatPlain, parseBuildId, queryCore, queryPackage, splitIds, queryBuildIds, queryFile, queryRpm, QueryAnswer } from '../../lib/index/query.js';

export default class DarkserverQuery extends BaseCommand {
  static override summary = 'Which RPM builds contain these build-ids (or this RPM, or this path).';
  static override description = `Prints one line per match: BUILDID<TAB>RPM-NVRA<TAB>/path/in/rpm. A build-id found in several
RPMs gives several lines. Exit 1 when any input has no answer, 2 for input that is not a build-id.`;
  static override examples = [
    '<%= config.bin %> darkserver query 775fdcb927e4300adbe83cfacec3cfeb1f63fe17',
    '<%= config.bin %> darkserver query --json 775fdcb9... 3a54b25d...',
    '<%= config.bin %> darkserver query --rpm hello-2.0-1.x86_64',
    '<%= config.bin %> darkserver query --file /usr/bin/hello',
    '<%= config.bin %> darkserver query --package bash-5.2.15-3.fc38.x86_64',
    '<%= config.bin %> darkserver query --elf ./a.out',
    '<%= config.bin %> darkserver query --core core.12345',
  ];
  static override strict = false;
  static override args = { buildid: Args.string({ description: 'GNU build-id, 8-64 hex digits (several allowed)' }) };
  static override flags = {
    db: dbFlag,
    rpm: Flags.string({ description: 'All build-ids of one RPM, by N-V-R.A (a trailing .rpm is ignored).', helpValue: 'NVRA' }),
    file: Flags.string({ description: 'Which RPMs ship an ELF file at this path.', helpValue: 'PATH' }),
    package: Flags.string({ description: 'Download URLs of an RPM, by N-V-R.A or package name.', helpValue: 'NAME|NVRA' }),
    elf: Flags.string({ description: 'Answer for the build-id of this ELF file (a binary, library or .debug file).', helpValue: 'FILE' }),
    core: Flags.string({ description: 'Answer for every module mapped in this core dump: BUILDID, RPM or -, path in RPM or -, path in core.', helpValue: 'FILE' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(DarkserverQuery);
    const ids = argv as string[];
    const modes = [ids.length > 0, flags.rpm, flags.file, flags.package, flags.elf, flags.core].filter(Boolean).length;
    if (modes !== 1) throw new UserError('give build-ids, or one of --rpm NVRA, --file PATH, --package NAME, --elf FILE, --core FILE', 2);
    const idList = ids.length ? splitIds(ids).map(parseBuildId) : flags.elf ? [await buildIdOfFile(flags.elf)] : [];
    const store = openStore(flags.db, { mustExist: true });
    if (flags.core) {
      let core: Awaited<ReturnType<typeof queryCore>>;
      try {
        core = await queryCore(store, flags.core);
      } finally {
        store.close();
      }
      if (flags.json) this.printJson(core.modules);
      else for (const m of core.modules) for (const line of formatCoreLines(m)) process.stdout.write(`${line}\n`);
      for (const m of core.missing) this.fail(m.message, 1);
      return;
    }
    if (flags.package) {
      let pkg: ReturnType<typeof queryPackage>;
      try {
        pkg = queryPackage(store, flags.package);
      } finally {
        store.close();
      }
      if (flags.json) this.printJson(pkg.results);
      else for (const r of pkg.results) process.stdout.write(`${r.rpm}\t${r.urls.join(' ')}\n`);
      for (const m of pkg.missing) this.fail(m.message, 1);
      return;
    }
    let answer: QueryAnswer;
    try {
      answer = flags.rpm ? queryRpm(store, flags.rpm) : flags.file ? queryFile(store, flags.file) : queryBuildIds(store, idList);
    } finally {
      store.close();
    }
    if (flags.json) this.printJson(answer.results);
    else for (const r of answer.results) process.stdout.write(`${formatPlain(r)}\n`);
    for (const m of answer.missing) this.fail(m.message, 1);
  }
}
