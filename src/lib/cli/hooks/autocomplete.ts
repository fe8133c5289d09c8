// oclif's postrun hook: after the autocomplete plugin's `autocomplete` command has written its
// completion files, complete the darkserver and imagebuild entry points too (completion.ts).
import type { Hook } from '@oclif/core';
import { addEntryPoints } from '../completion.js';
import { prepareColour, warn } from '../output.js';

const hook: Hook.Postrun = async function entryPointCompletion({ Command, config }) {
  if (Command.id !== 'autocomplete') return;
  // package.json `bin` names other than the CLI's own that are topics: `darkserver X` runs `darkforge darkserver X`.
  const bins = typeof config.pjson.bin === 'object' ? Object.keys(config.pjson.bin) : [];
  const topics = bins.filter((name) => name !== config.bin && config.findTopic(name));
  try {
    await addEntryPoints(config.cacheDir, config.bin, topics);
  } catch (e) {
    // oclif drops a hook's error silently: say that darkforge itself still completes.
    await prepareColour();
    warn(`${config.bin} autocomplete`, `${topics.join(' and ')} will not complete: ${(e as Error).message}; ${config.bin} itself will`);
  }
};

export default hook;
