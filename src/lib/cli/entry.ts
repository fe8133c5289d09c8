// bin/darkserver.js and bin/imagebuild.js: `TOPIC X…` runs `darkforge TOPIC X…` through oclif,
// with help and hints that name TOPIC as the program (invoked.ts).
import { fileURLToPath } from 'node:url';
import { Config, execute } from '@oclif/core';
import { setEntryTopic } from './invoked.js';

/** Run `darkforge TOPIC ARGV…`; `dir` is the entry point's import.meta.url. */
export async function runEntry(topic: string, argv: readonly string[], dir: string): Promise<void> {
  setEntryTopic(topic);
  const config = await Config.load(dir.startsWith('file:') ? fileURLToPath(dir) : dir);
  // oclif answers --version (and package.json's additionalVersionFlags, -v) only as the first
  // argument of the whole command line, where TOPIC stands: `darkserver --version` would show the
  // topic's help. The version is the CLI's, whichever entry point asks.
  const versionFlags = ['--version', ...(config.pjson.oclif.additionalVersionFlags ?? [])];
  const args = argv.length > 0 && versionFlags.includes(argv[0]) ? [argv[0]] : [topic, ...argv];
  await execute({ args, loadOptions: config });
}
