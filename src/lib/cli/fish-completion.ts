// fish completion, which oclif's autocomplete plugin does not write (it knows bash, zsh and
// PowerShell). Made from the same command metadata as the help: each program's topics and
// commands (darkserver and imagebuild are `darkforge TOPIC` under another name), their flags
// with the values they accept. A command's position is the words typed so far that are not
// flags, as fish's own completions for git-like tools find it.

export interface FishFlag {
  name: string;
  char?: string;
  summary?: string;
  /** Takes a value (an option), not a switch. */
  value: boolean;
  /** The values it accepts, when it names them. */
  options?: readonly string[];
}

export interface FishCommand {
  /** oclif id, topics joined by ':' (darkserver:db:copy). */
  id: string;
  summary?: string;
  flags: FishFlag[];
  /** Values its arguments accept, when they name them (autocomplete SHELL). */
  argOptions?: readonly string[];
}

/** A fish single-quoted string: only \ and ' are special inside. */
function q(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** A summary on one line, as fish shows it beside a candidate. */
function desc(s: string | undefined): string {
  return (s ?? '').replace(/\s+/g, ' ').trim().replace(/\.$/, '');
}

const HELPERS = `# Words typed after the program that are not flags: where on the command tree the line is.
function __darkforge_words
    set -l words (commandline -opc)
    set -e words[1]
    for w in $words
        string match -q -- '-*' $w; or echo $w
    end
end
function __darkforge_at
    set -l words (__darkforge_words)
    test "$words" = "$argv"
end
function __darkforge_in
    set -l words (__darkforge_words)
    set -l n (count $argv)
    test (count $words) -ge $n; and test "$words[1..$n]" = "$argv"
end
`;

/**
 * The completions of `bin`, whose command line is darkforge's with `prefix` in front
 * (darkserver: prefix ['darkserver']; darkforge: none).
 */
function forProgram(bin: string, prefix: readonly string[], commands: readonly FishCommand[], topics: ReadonlyMap<string, string>): string[] {
  const lines = [`complete -c ${bin} -l help -d 'Show help'`];
  const mine = commands
    .map((c) => ({ ...c, path: c.id.split(':') }))
    .filter((c) => prefix.every((p, i) => c.path[i] === p))
    .map((c) => ({ ...c, path: c.path.slice(prefix.length) }))
    .filter((c) => c.path.length > 0);
  // What can follow each position: topics and commands, each once; a word that is a command
  // (autocomplete, which is a topic too) is described as the command.
  const summaries = new Map(mine.map((c) => [c.path.join(' '), c.summary]));
  const next = new Map<string, Map<string, string>>();
  for (const c of mine) {
    for (let i = 0; i < c.path.length; i++) {
      const at = c.path.slice(0, i).join(' ');
      const word = c.path[i];
      const here = c.path.slice(0, i + 1).join(' ');
      const d = desc(summaries.has(here) ? summaries.get(here) : topics.get([...prefix, ...c.path.slice(0, i + 1)].join(':')));
      if (!next.has(at)) next.set(at, new Map());
      if (!next.get(at)!.has(word)) next.get(at)!.set(word, d);
    }
    if (c.argOptions?.length) {
      const at = c.path.join(' ');
      if (!next.has(at)) next.set(at, new Map());
      for (const o of c.argOptions) if (!next.get(at)!.has(o)) next.get(at)!.set(o, '');
    }
  }
  for (const [at, words] of next) {
    for (const [word, d] of words) {
      lines.push(`complete -c ${bin} -f -n ${q(`__darkforge_at${at ? ` ${at}` : ''}`)} -a ${q(word)}${d ? ` -d ${q(d)}` : ''}`);
    }
  }
  for (const c of mine) {
    const cond = q(`__darkforge_in ${c.path.join(' ')}`);
    for (const f of c.flags) {
      let line = `complete -c ${bin} -n ${cond} -l ${f.name}`;
      if (f.char) line += ` -s ${f.char}`;
      if (f.options?.length) line += ` -x -a ${q(f.options.join(' '))}`;
      else if (f.value) line += ' -r';
      if (f.summary) line += ` -d ${q(desc(f.summary))}`;
      lines.push(line);
    }
  }
  return lines;
}

/** The fish script for the programs named (darkforge itself and entry points named for their topic). */
export function fishCompletion(programs: readonly string[], rootBin: string, all: readonly FishCommand[], topics: ReadonlyMap<string, string>): string {
  // oclif's own help command keeps its template in its summary.
  const commands = all.map((c) => ({ ...c, summary: c.summary?.replace(/<%=\s*config\.bin\s*%>/g, rootBin) }));
  const parts = [HELPERS];
  for (const bin of programs) {
    parts.push(`# ${bin}\n${forProgram(bin, bin === rootBin ? [] : [bin], commands, topics).join('\n')}\n`);
  }
  return parts.join('\n');
}
