import { Command, Flags } from '@oclif/core';
import { fishCompletion, type FishCommand } from '../../lib/cli/fish-completion.js';

const PROGRAMS = ['darkforge', 'darkserver', 'imagebuild'];

export default class AutocompleteFish extends Command {
  static override summary = 'Print fish completions for darkforge, darkserver and imagebuild.';
  static override description = 'oclif\'s plugin writes bash and zsh completion; fish\'s comes from here. Load it at every start with "darkforge autocomplete fish | source" in ~/.config/fish/config.fish, or save one file per program where fish looks for them (as the second example does for darkserver; the same for darkforge and imagebuild).';
  static override examples = [
    '<%= config.bin %> autocomplete fish | source',
    '<%= config.bin %> autocomplete fish --program darkserver > ~/.config/fish/completions/darkserver.fish',
  ];

  static override flags = {
    program: Flags.string({ description: `Only the completions of this program (${PROGRAMS.join(', ')}), for a file of its own that fish loads when needed.`, options: PROGRAMS, multiple: true, helpValue: 'PROGRAM' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AutocompleteFish);
    const commands: FishCommand[] = this.config.commands.filter((c) => !c.hidden).map((c) => ({
      id: c.id,
      summary: c.summary ?? c.description?.split('\n')[0],
      flags: Object.entries(c.flags).filter(([, f]) => !f.hidden).map(([name, f]) => ({
        name, char: f.char, summary: f.summary ?? f.description, value: f.type === 'option', options: f.type === 'option' ? f.options : undefined,
      })),
      argOptions: Object.values(c.args).flatMap((a) => a.options ?? []),
    }));
    const topics = new Map(this.config.topics.map((t) => [t.name, t.description ?? '']));
    process.stdout.write(fishCompletion(flags.program ?? PROGRAMS, this.config.bin, commands, topics));
  }
}
