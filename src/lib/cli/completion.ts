// Shell completion for the entry points. oclif's autocomplete plugin writes completion functions
// for `darkforge` (bash and zsh) into $XDG_CACHE_HOME/darkforge/autocomplete/functions/; they know
// nothing of `darkserver` and `imagebuild`, which are `darkforge darkserver` and
// `darkforge imagebuild` under another name. After the plugin has written its files (its
// `autocomplete` command, and `--refresh-cache`), this adds to them the few lines that complete
// each entry point as the darkforge command line it stands for, so the plugin's one setup line
// covers all three programs.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A line that marks what darkforge added, so that adding twice changes nothing. */
const MARK = '# darkforge entry points:';

/** Shell function names are made of the bin name, as the plugin makes them. */
const ident = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * bash: the plugin's function completes COMP_WORDS as a darkforge command line; for `darkserver
 * que<TAB>` it is handed `darkforge darkserver que` (bash variables are dynamically scoped, so
 * the locals below are what it reads). \`-o default\`, for all three: where it has no candidate
 * (a PATH, --db FILE, --core FILE), bash completes file names.
 */
export function bashEntryPoints(bin: string, topics: readonly string[]): string {
  if (topics.length === 0) return '';
  const fn = `_${ident(bin)}_entry_autocomplete`;
  return `
${MARK} ${topics.join(' ')} run \`${bin} TOPIC …\`; complete them as that.
${fn}()
{
  local -a COMP_WORDS=(${bin} "\${1##*/}" "\${COMP_WORDS[@]:1}")
  local COMP_CWORD=$((COMP_CWORD + 1))
  _${ident(bin)}_autocomplete
}
complete -o default -F ${fn} ${topics.join(' ')}
complete -o default -F _${ident(bin)}_autocomplete ${bin}
`;
}

/**
 * zsh: the plugin's file is autoloaded as `_BIN` for the commands on its `#compdef` line, and
 * defines a function per topic (`_BIN_TOPIC`) that completes a line starting with the topic's
 * name, which is what `darkserver …` is. The entry points join the `#compdef` line; the first
 * call (which runs the file) dispatches on $service, and compdef binds each entry point to its
 * topic's function for the calls after.
 */
export function zshEntryPoints(text: string, bin: string, topics: readonly string[]): string {
  if (topics.length === 0 || text.includes(MARK)) return text;
  const first = `#compdef ${bin}\n`;
  const last = `\n_${ident(bin)}\n`;
  if (!text.startsWith(first) || !text.endsWith(last)) {
    throw new Error(`the plugin's zsh completion file no longer starts with "#compdef ${bin}" and ends with "_${ident(bin)}"`);
  }
  const fn = (t: string): string => `_${ident(bin)}_${ident(t)}`;
  return `#compdef ${bin} ${topics.join(' ')}\n${text.slice(first.length, -last.length)}
${MARK} ${topics.join(' ')} run \`${bin} TOPIC …\`; complete them as that.
${topics.map((t) => `compdef ${fn(t)} ${t}`).join('\n')}
case $service in
${topics.map((t) => `  ${t}) ${fn(t)} ;;`).join('\n')}
  *) _${ident(bin)} ;;
esac
`;
}

/** The plugin's files under `cacheDir` (oclif's config.cacheDir), completed for the entry points. */
export async function addEntryPoints(cacheDir: string, bin: string, topics: readonly string[]): Promise<void> {
  const functions = join(cacheDir, 'autocomplete', 'functions');
  const bashFile = join(functions, 'bash', `${bin}.bash`);
  const bash = await readFile(bashFile, 'utf8');
  if (!bash.includes(MARK)) await writeFile(bashFile, bash + bashEntryPoints(bin, topics));
  const zshFile = join(functions, 'zsh', `_${bin}`);
  const zsh = await readFile(zshFile, 'utf8');
  const completed = zshEntryPoints(zsh, bin, topics);
  if (completed !== zsh) await writeFile(zshFile, completed);
}
