// oclif's help (package.json oclif.helpClass), showing commands as they were invoked: started as
// `darkserver`, `darkserver query --help` says "$ darkserver query …" and its examples read
// "$ darkserver query --rpm …", not "$ darkforge darkserver query …" (see invoked.ts).
import { Command, CommandHelp, Help, Interfaces } from '@oclif/core';
import { entryTopic } from './invoked.js';

/** `<%= config.bin %> TOPIC` in an example, which the entry point TOPIC spells `TOPIC`. */
const binThenTopic = (topic: string): RegExp => new RegExp(`<%=\\s*config\\.bin\\s*%>\\s+${topic}(?=\\s|$)`, 'g');

class InvokedCommandHelp extends CommandHelp {
  constructor(command: Command.Loadable, config: Interfaces.Config, opts: Interfaces.HelpOptions) {
    const topic = entryTopic();
    const words = command.id.split(/[: ]/);
    const viaEntry = topic !== undefined && words.length > 1 && words[0] === topic;
    // The usage line is "$ BIN ID …" and examples "<%= config.bin %> ID …" or
    // "<%= config.bin %> <%= command.id %> …": with BIN = "darkserver" and ID = "query" they all
    // read as the entry point is used. Copies: oclif's config and command stay as they are.
    super(viaEntry ? { ...command, id: words.slice(1).join(' ') } : command,
      viaEntry ? Object.create(config, { bin: { value: topic } }) : config, opts);
    if (viaEntry) {
      const render = this.render;
      this.render = (input: string) => render(input.replace(binThenTopic(topic), '<%= config.bin %>'));
    }
  }
}

export default class DarkforgeHelp extends Help {
  override CommandHelpClass = InvokedCommandHelp;

  override formatTopic(topic: Interfaces.Topic): string {
    const text = super.formatTopic(topic);
    if (entryTopic() !== topic.name) return text;
    return text.replace(`$ ${this.config.bin} ${topic.name} COMMAND`, `$ ${topic.name} COMMAND`);
  }
}
