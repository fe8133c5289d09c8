import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';

export default class DarkserverStats extends BaseCommand {
  static override summary = 'Counts of what the index holds.';
  static override description = `rpms, builds, files (ELF files with a build-id), buildids (distinct), ELF files without a `
    + `build-id, and the split by file type, instance and scan method.`;
  static override examples = ['<%= config.bin %> darkserver stats', '<%= config.bin %> darkserver stats --json'];
  static override flags = { db: dbFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(DarkserverStats);
    const store = await openStore(flags.db, { mustExist: true });
    try {
      const s = await store.stats();
      if (flags.json) {
        this.printJson({ db: store.file, ...s });
        return;
      }
      const lines: [string, string | number][] = [
        ['database', store.file], ['rpms', s.rpms], ['builds', s.builds], ['files', s.files], ['buildids', s.buildids],
        ['elf files', s.elfFiles], ['elf without build-id', s.elfWithoutBuildId],
        ...Object.entries(s.byType).map(([k, v]): [string, number] => [`type ${k}`, v]),
        ...Object.entries(s.byInstance).map(([k, v]): [string, number] => [`instance ${k}`, v]),
        ...Object.entries(s.byMethod).map(([k, v]): [string, number] => [`scanned by ${k}`, v]),
      ];
      for (const [k, v] of lines) process.stdout.write(`${k}:\t${v}\n`);
    } finally {
      await store.close();
    }
  }
}
