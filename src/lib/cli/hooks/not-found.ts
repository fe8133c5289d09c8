// oclif's command_not_found hook: `darkserver querry` is one sentence naming the word that is not a
// command, the closest command when one is near, and the help to read — the way the user invoked
// it (invoked.ts) — instead of oclif's "Error: command darkserver:querry not found". Exit 2.
import { loadHelpClass, type Hook } from '@oclif/core';
import { inputText } from '../../errors.js';
import { invokedCommand } from '../invoked.js';
import { fail, prepareColour } from '../output.js';

/** Edit distance, to suggest a command for a typo. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

const hook: Hook.CommandNotFound = async function notFound({ id, config }) {
  const words = id.split(':');
  // The longest known topic in front of the unknown word ("darkserver" in darkserver:querry).
  let depth = words.length - 1;
  while (depth > 0 && !config.findTopic(words.slice(0, depth).join(':'))) depth--;
  const topic = words.slice(0, depth).join(':');
  if (topic && words[depth] === 'help') {
    // `darkserver help query`, as `darkforge help darkserver query`. The id holds the words after
    // "help" up to the first flag: the subject is the longest run of them that names something.
    const rest = words.slice(depth + 1);
    let n = rest.length;
    while (n > 0 && !config.findCommand([topic, ...rest.slice(0, n)].join(':'))) n--;
    if (n > 0 || rest.length === 0) {
      const Help = await loadHelpClass(config);
      await new Help(config, config.pjson.oclif.helpOptions).showHelp([topic, ...rest.slice(0, n)].flatMap((w) => w.split(':')));
      return;
    }
    words.splice(depth, 1); // `darkserver help querry`: the unknown word is "querry"
  }
  const unknown = words[depth]; // oclif puts the arguments after it into the id too
  const where = topic ? invokedCommand(topic, config.bin) : invokedCommand('', config.bin);
  const siblings = config.commands.filter((c) => !c.hidden && c.id.split(':').length === depth + 1 && (!topic || c.id.startsWith(`${topic}:`)))
    .map((c) => c.id.split(':')[depth]);
  const near = siblings.map((s) => [s, distance(s, words[depth])] as const).filter(([, d]) => d <= 2).sort((a, b) => a[1] - b[1])[0];
  const hint = near ? `did you mean "${where} ${near[0]}"? see "${where} --help"` : `see "${where} --help"`;
  await prepareColour();
  fail(where, `unknown command "${inputText(unknown, 80)}" (${hint})`, 2);
};

export default hook;
