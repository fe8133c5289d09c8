// Shell completion (issue 17): oclif's autocomplete plugin for `darkforge`, and the darkserver and
// imagebuild entry points through the same setup line. The line the instructions print is run
// as a user would (in a HOME of its own, the three programs on PATH), then bash's completion is
// driven as readline drives it: find the compspec of the command word (`complete -p`), call its
// function with COMP_WORDS/COMP_CWORD, read COMPREPLY.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Config } from '@oclif/core';
import { bashEntryPoints, zshEntryPoints } from '../src/lib/cli/completion.ts';
import { tempDir } from './helpers/cli.ts';
import { ROOT } from './helpers/paths.ts';

const home = tempDir('darkforge-complete-');
const binDir = join(home, 'bin');
const env: NodeJS.ProcessEnv = {
  ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache'), XDG_DATA_HOME: join(home, '.local', 'share'),
  XDG_CONFIG_HOME: join(home, '.config'), PATH: `${binDir}:${process.env.PATH}`, NO_COLOR: '1', SHELL: '/bin/bash',
};
let config: Config;

function sh(command: string, args: string[] = []): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', command, 'bash', ...args], { encoding: 'utf8', env, cwd: home });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The words bash would offer after each command line (the last word is the one completed). */
function complete(...lines: string[][]): string[][] {
  const script = `
source ~/.bashrc
comp() {
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=\${#COMP_LINE}; COMPREPLY=()
  # As bash: the compspec of the command word as typed, else of its last path component.
  local spec; spec=$(complete -p "$1" 2>/dev/null || complete -p "\${1##*/}")
  local fn; fn=$(sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p' <<<"$spec")
  "$fn" "$1" "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
  printf '%s\\n' "\${COMPREPLY[*]}"
}
${lines.map((l) => `comp ${l.map((w) => `'${w}'`).join(' ')}`).join('\n')}
`;
  const r = sh(script);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout.split('\n').slice(0, lines.length).map((l) => [...new Set(l.split(' ').filter(Boolean))].sort());
}

const subcommands = (topic: string): string[] =>
  config.commands.filter((c) => !c.hidden && c.id.startsWith(`${topic}:`)).map((c) => c.id.split(':')[1]).sort();
const flagsOf = (id: string): string[] =>
  Object.entries(config.findCommand(id)!.flags).filter(([, f]) => !f.hidden).map(([name]) => `--${name}`).sort();

before(async () => {
  config = await Config.load(ROOT);
  mkdirSync(binDir);
  for (const [name, file] of [['darkforge', 'run.js'], ['darkserver', 'darkserver.js'], ['imagebuild', 'imagebuild.js']]) {
    symlinkSync(join(ROOT, 'bin', file), join(binDir, name));
  }
  writeFileSync(join(home, '.bashrc'), '# a user\'s bashrc\n');
});

describe('bash', () => {
  let instructions: string;

  before(() => {
    const r = sh('darkforge autocomplete bash');
    assert.equal(r.code, 0, r.stderr);
    instructions = r.stdout;
  });

  test('darkforge autocomplete bash prints the setup line; run as printed, it completes all three programs', () => {
    const line = instructions.split('\n').map((l) => l.trim()).find((l) => l.startsWith('printf "$(darkforge autocomplete script bash)" >> ~/.bashrc'));
    assert.ok(line, instructions);
    assert.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').includes(`\n${line}\n`), 'the README shows this line');
    const r = sh(line);
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(home, '.bashrc'), 'utf8'), /DARKFORGE_AC_BASH_SETUP_PATH=.*# darkforge autocomplete setup/);
    const specs = sh('source ~/.bashrc; complete -p darkforge darkserver imagebuild');
    assert.equal(specs.code, 0, specs.stderr);
    assert.deepEqual(specs.stdout.trim().split('\n').sort(), [
      'complete -o default -F _darkforge_autocomplete darkforge',
      'complete -o default -F _darkforge_entry_autocomplete darkserver',
      'complete -o default -F _darkforge_entry_autocomplete imagebuild',
    ]);
  });

  test('darkserver and imagebuild complete their commands and flags, as darkforge does after the topic', () => {
    const [ds, dsQ, dsFlags, dsR, ib, ibFlags, full, viaDarkforge, viaDarkforgeFlags, top] = complete(
      ['darkserver', ''],
      ['darkserver', 'q'],
      ['darkserver', 'query', '--'],
      ['darkserver', 'query', '--r'],
      ['imagebuild', ''],
      ['imagebuild', 'dvd', '--b'],
      ['/usr/local/bin/darkserver', 'st'],
      ['darkforge', 'darkserver', ''],
      ['darkforge', 'darkserver', 'query', '--'],
      ['darkforge', 'i'],
    );
    assert.deepEqual(ds, subcommands('darkserver'));
    assert.ok(ds.includes('query') && ds.includes('index') && !ds.includes('darkserver'));
    assert.deepEqual(dsQ, ['query']);
    assert.deepEqual(dsFlags, flagsOf('darkserver:query'));
    assert.ok(dsFlags.includes('--db') && dsFlags.includes('--core') && dsFlags.includes('--no-color'));
    assert.deepEqual(dsR, ['--rpm']);
    assert.deepEqual(ib, subcommands('imagebuild'));
    assert.ok(!ib.includes('run-job'), 'hidden commands are not offered');
    assert.deepEqual(ibFlags, flagsOf('imagebuild:dvd').filter((f) => f.startsWith('--b')));
    assert.deepEqual(ibFlags, ['--backend', '--bid', '--boot-iso']);
    assert.deepEqual(full, ['stats']);
    assert.deepEqual(viaDarkforge, ds);
    assert.deepEqual(viaDarkforgeFlags, dsFlags);
    assert.deepEqual(top, ['imagebuild']);
  });

  test('where there is no command or flag to offer (a PATH, a --db FILE), nothing: bash falls back to file names (-o default)', () => {
    const [path, db] = complete(['darkserver', 'index', 'test/fix'], ['darkserver', 'query', '--db', '']);
    assert.deepEqual(path, []);
    assert.deepEqual(db, []);
  });

  test('darkforge autocomplete --refresh-cache rewrites the files; the entry points are added once', () => {
    for (let i = 0; i < 2; i++) assert.equal(sh('darkforge autocomplete --refresh-cache').code, 0);
    const file = readFileSync(join(home, '.cache', 'darkforge', 'autocomplete', 'functions', 'bash', 'darkforge.bash'), 'utf8');
    assert.equal(file.split('_darkforge_entry_autocomplete()').length, 2);
    assert.deepEqual(complete(['darkserver', 'sta'])[0], ['stats']);
  });
});

describe('zsh', () => {
  test('the plugin\'s file gains the entry points on its #compdef line, a dispatch for the first call and compdef for the next', () => {
    const file = readFileSync(join(home, '.cache', 'darkforge', 'autocomplete', 'functions', 'zsh', '_darkforge'), 'utf8');
    assert.match(file, /^#compdef darkforge darkserver imagebuild\n/);
    assert.match(file, /^_darkforge_darkserver\(\) \{$/m, 'the plugin defines a function per topic');
    assert.match(file, /^compdef _darkforge_darkserver darkserver\ncompdef _darkforge_imagebuild imagebuild\ncase \$service in\n {2}darkserver\) _darkforge_darkserver ;;\n {2}imagebuild\) _darkforge_imagebuild ;;\n {2}\*\) _darkforge ;;\nesac\n$/m);
    assert.equal(zshEntryPoints(file, 'darkforge', ['darkserver', 'imagebuild']), file, 'added once');
  });

  test('a zsh file of another shape is an error, not a silently broken completion', () => {
    assert.throws(() => zshEntryPoints('#compdef other\n_other\n', 'darkforge', ['darkserver']), /no longer starts with "#compdef darkforge"/);
    assert.equal(bashEntryPoints('darkforge', []), '');
  });

  const haveZsh = spawnSync('zsh', ['--version']).status === 0;
  test('the setup line as printed, then zsh completes all three programs (first call and later calls)', { skip: haveZsh ? false : 'zsh is not installed (.ci/run installs it)' }, () => {
    const r = sh('darkforge autocomplete zsh');
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('printf "$(darkforge autocomplete script zsh)" >> ~/.zshrc'));
    assert.ok(line, r.stdout);
    assert.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').includes(`\n${line}\n`), 'the README shows this line');
    assert.equal(sh(line.replace(/; source ~\/\.zshrc$/, '')).code, 0);
    // What completion offers, printed between @@ marks by a compadd wrapper, and @@DONE@@ after
    // each completion (comppostfuncs is emptied after each use, so it re-arms itself).
    writeFileSync(join(home, '.zshrc'), `${readFileSync(join(home, '.zshrc'), 'utf8')}
compadd() {
  if [[ " $* " == *' -O '* || " $* " == *' -A '* || " $* " == *' -D '* ]]; then builtin compadd "$@"; return; fi
  local -a __m; builtin compadd -O __m "$@"; local w; for w in "\${__m[@]}"; do print -r -- "@@$w@@"; done; builtin compadd "$@"
}
__done() { print -r -- '@@DONE@@'; comppostfuncs=(__done) }
comppostfuncs=(__done)
PS1='READY> '
`);
    // One interactive zsh on a pseudo-terminal (zsh's zpty), a TAB after each line; each read waits
    // for its mark, so nothing depends on timing.
    writeFileSync(join(home, 'drive.zsh'), `setopt extendedglob
zmodload zsh/zpty
typeset line out
typeset -a words
zpty z 'zsh -i'
zpty -r z out '*READY> *'
for line in "$@"; do
  zpty -w -n z $'\\C-u'"$line"$'\\t'
  zpty -r z out '*@@DONE@@*'
  words=(\${(s:@@:)out})
  words=(\${words[2,-2]})
  print -r -- "\${(j: :)\${(@)words:#(DONE|[[:space:]]#)}}"
done
zpty -d z
`);
    const drive = (...lines: string[]): string[][] => {
      const z = spawnSync('timeout', ['60', 'zsh', '-f', join(home, 'drive.zsh'), ...lines], { encoding: 'utf8', env, cwd: home });
      assert.equal(z.status, 0, `zsh: ${z.stderr}`);
      return z.stdout.split('\n').slice(0, lines.length).map((l) => [...new Set(l.split(' ').filter(Boolean))].sort());
    };
    // darkserver first: its first call runs the plugin's file, the next ones go through compdef.
    const [first, again, flags, imagebuild, top] = drive('darkserver q', 'darkserver sta', 'darkserver query --co', 'imagebuild l', 'darkforge i');
    assert.deepEqual(first, ['query']);
    assert.deepEqual(again, ['stats']);
    assert.deepEqual(flags, ['--core']);
    assert.deepEqual(imagebuild, subcommands('imagebuild').filter((c) => c.startsWith('l')));
    assert.deepEqual(top, ['imagebuild']);
    // darkforge first, then the entry points.
    const [viaDarkforge, entry, topics] = drive('darkforge darkserver i', 'darkserver ', 'imagebuild dvd --b');
    assert.deepEqual(viaDarkforge, ['import', 'index']);
    assert.deepEqual(entry, subcommands('darkserver'));
    assert.deepEqual(topics, ['--backend', '--bid', '--boot-iso']);
  });
});

describe('fish', () => {
  /** What fish offers after each command line (`complete -C`, as the TAB key asks), candidates only. */
  const fish = (setup: string, ...lines: string[]): string[][] => {
    const script = `${setup}\n${lines.map((l) => `complete -C '${l}'; echo @@`).join('\n')}`;
    const r = spawnSync('fish', ['--no-config', '-c', script], { encoding: 'utf8', env, cwd: home });
    assert.equal(r.status, 0, `fish: ${r.stderr}`);
    assert.equal(r.stderr, '');
    return r.stdout.split('@@\n').slice(0, lines.length).map((block) => block.split('\n').filter(Boolean).map((l) => l.split('\t')[0]).sort());
  };

  test('"darkforge autocomplete fish | source": topics, commands, flags and their values for all three programs', () => {
    const [top, entry, viaDarkforge, nested, flags, afterValue, values, shells] = fish('darkforge autocomplete fish | source',
      'darkforge ', 'darkserver ', 'darkforge darkserver i', 'darkserver db ', 'darkserver query --co', 'darkserver query --db x.sqlite --j',
      'imagebuild dvd --backend ', 'darkforge autocomplete ');
    assert.deepEqual(top, ['autocomplete', 'darkserver', 'help', 'imagebuild']);
    assert.deepEqual(entry, subcommands('darkserver'));
    assert.deepEqual(viaDarkforge, ['import', 'index']);
    assert.deepEqual(nested, ['copy']);
    assert.deepEqual(flags, ['--core']);
    assert.deepEqual(afterValue, ['--json'], 'a flag\'s value is not taken for a command word');
    assert.deepEqual(values, [...(config.findCommand('imagebuild:dvd')!.flags.backend as { options?: string[] }).options!].sort());
    assert.deepEqual(shells, ['bash', 'fish', 'powershell', 'zsh']);
    const [dvdFlags] = fish('darkforge autocomplete fish | source', 'imagebuild dvd --');
    assert.deepEqual(dvdFlags.filter((f) => f !== '--help'), flagsOf('imagebuild:dvd'));
  });

  test('one file per program where fish autoloads completions, as the example writes darkserver\'s', () => {
    const example = config.findCommand('autocomplete:fish')!.examples!.map(String).find((e) => e.includes('--program darkserver'))!.replace('<%= config.bin %>', 'darkforge');
    mkdirSync(join(home, '.config', 'fish', 'completions'), { recursive: true });
    for (const p of ['darkforge', 'darkserver', 'imagebuild']) {
      const r = spawnSync('fish', ['--no-config', '-c', example.replaceAll('darkserver', p)], { encoding: 'utf8', env, cwd: home }); // ~ is this test's HOME
      assert.equal(r.status, 0, r.stderr);
    }
    const darkserver = readFileSync(join(home, '.config', 'fish', 'completions', 'darkserver.fish'), 'utf8');
    assert.match(darkserver, /^complete -c darkserver /m);
    assert.doesNotMatch(darkserver, /^complete -c (darkforge|imagebuild) /m, 'only its own program');
    // Autoloaded: the default completion path under XDG_CONFIG_HOME, nothing sourced by hand.
    const [q, i] = fish('set fish_complete_path $XDG_CONFIG_HOME/fish/completions $fish_complete_path', 'darkserver qu', 'imagebuild l');
    assert.deepEqual(q, ['query']);
    assert.deepEqual(i, subcommands('imagebuild').filter((c) => c.startsWith('l')));
  });
});
