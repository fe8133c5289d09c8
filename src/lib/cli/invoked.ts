// The name the user typed. bin/darkserver.js and bin/imagebuild.js run the darkforge CLI with
// their topic in front of the arguments, so oclif alone would answer `darkserver query --help`
// with "$ darkforge darkserver query". Help, examples and error hints show a command the way it
// was invoked instead, so that what they suggest can be typed again as it is.
// No oclif here: the entry points set the topic before loading it.

/** Set by an entry point for this process only (not an environment variable: children do not inherit it). */
const ENTRY = Symbol.for('darkforge.entry-topic');

/** The CLI's own name (package.json oclif.bin). */
export const CLI_BIN = 'darkforge';

type Global = typeof globalThis & { [ENTRY]?: string };

/** Called by bin/darkserver.js and bin/imagebuild.js: this process was started as `TOPIC …`. */
export function setEntryTopic(topic: string | undefined): void {
  (globalThis as Global)[ENTRY] = topic;
}

/** The topic whose entry point started this process (darkserver, imagebuild), or undefined for `darkforge`. */
export function entryTopic(): string | undefined {
  return (globalThis as Global)[ENTRY];
}

/**
 * How the user types command `id` ("darkserver:query" or "darkserver query"): "darkserver query"
 * when this process was started as `darkserver`, "darkforge darkserver query" otherwise (also for
 * a command outside the entry point's topic, which `darkserver` cannot run).
 */
export function invokedCommand(id: string, bin = CLI_BIN): string {
  const words = id.split(/[: ]/).filter(Boolean);
  const topic = entryTopic();
  if (topic && words[0] === topic) return words.join(' ');
  return [bin, ...words].join(' ');
}

/** The program the user ran: "darkserver" or "imagebuild" from their entry points, else "darkforge". */
export function invokedProgram(bin = CLI_BIN): string {
  return entryTopic() ?? bin;
}
