// The three entry points: bin/run.js (`darkforge X…`), and bin/darkserver.js and bin/imagebuild.js,
// where `TOPIC X…` runs `darkforge TOPIC X…` through oclif with help and hints that name TOPIC as
// the program (invoked.ts).
import { fileURLToPath } from 'node:url';
import { Config, execute } from '@oclif/core';
import { setEntryTopic } from './invoked.js';

/** Run `darkforge [TOPIC] ARGV…`; `dir` is the entry point's import.meta.url. */
export async function runEntry(topic: string | undefined, argv: readonly string[], dir: string): Promise<void> {
  if (topic) setEntryTopic(topic);
  const config = await Config.load(dir.startsWith('file:') ? fileURLToPath(dir) : dir);
  const args = topic ? [topic, ...argv] : [...argv];
  // oclif answers --version (and package.json's additionalVersionFlags, -v) only as the first
  // word of the command line, where an entry point puts its topic: `darkserver --version` (which
  // is `darkforge darkserver --version`) would show the topic's help. The version is the CLI's.
  const versionFlags = ['--version', ...(config.pjson.oclif.additionalVersionFlags ?? [])];
  const topicVersion = args.length >= 2 && versionFlags.includes(args[1]) && config.findTopic(args[0]) !== undefined;
  await execute({ args: topicVersion ? [args[1]] : args, loadOptions: config });
}
