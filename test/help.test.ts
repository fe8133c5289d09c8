// Issue 17: the conventions of oclif CLIs. --version from every entry point, help and hints that
// name the command the way the user invoked it, an unknown command in one sentence, and help text
// that reads well at 80 columns.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Config } from '@oclif/core';
import { brokenLines, wideLines } from './helpers/help-text.ts';
import { ROOT } from './helpers/paths.ts';
import { run } from './helpers/cli.ts';

const pkg = (await import('../package.json', { with: { type: 'json' } })).default;
const WIDTH = { COLUMNS: '80', OCLIF_COLUMNS: '80' };
let config: Config;
/** Every command a user can run (hidden ones excepted), oclif's own (help, autocomplete) included. */
let commands: Config['commands'];

before(async () => {
  config = await Config.load(ROOT);
  commands = config.commands.filter((c) => !c.hidden);
});

describe('--version', () => {
  const expected = new RegExp(`^darkforge/${pkg.version.replace(/\./g, '\\.')} linux-\\w+ node-v\\d+\\.\\d+\\.\\d+\\n$`);
  for (const [bin, args] of [['run', ['--version']], ['run', ['-v']], ['darkserver', ['--version']], ['darkserver', ['-v']],
    ['imagebuild', ['--version']], ['imagebuild', ['-v']], ['run', ['darkserver', '--version']], ['run', ['imagebuild', '-v']]] as const) {
    test(`${bin === 'run' ? 'darkforge' : bin} ${args.join(' ')} prints the CLI's version line`, () => {
      const r = run(bin, [...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, expected);
      assert.equal(r.stderr, '');
    });
  }

  test('all three print the same line; the topics still answer --help with their commands', () => {
    const lines = new Set(['run', 'darkserver', 'imagebuild'].map((b) => run(b as 'run', ['--version']).stdout));
    assert.equal(lines.size, 1);
    const topic = run('darkserver', ['--help']);
    assert.equal(topic.code, 0);
    assert.match(topic.stdout, /^USAGE\n {2}\$ darkserver COMMAND$/m);
    assert.match(topic.stdout, /^ {2}darkserver query +Which RPM builds/m);
  });

  test('-h is --help, as in oclif CLIs that restore the short flags', () => {
    const short = run('darkserver', ['query', '-h']);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(short.stdout, run('darkserver', ['query', '--help']).stdout);
  });
});

describe('help shows the command as it was invoked', () => {
  test('through darkserver and imagebuild: "$ darkserver query", never "darkforge darkserver"', () => {
    for (const c of commands.filter((x) => x.id.startsWith('darkserver:') || x.id.startsWith('imagebuild:'))) {
      const [topic, ...rest] = c.id.split(':');
      const r = run(topic as 'darkserver', [...rest, '--help'], WIDTH);
      assert.equal(r.code, 0, `${c.id}: ${r.stderr}`);
      const name = c.id.replace(/:/g, ' ');
      assert.match(r.stdout, new RegExp(`^USAGE\\n {2}\\$ ${name}( |$)`, 'm'), c.id);
      assert.doesNotMatch(r.stdout, /darkforge (darkserver|imagebuild)/, `${c.id} via ${topic}`);
      // Examples are "$ NAME …", or a pipeline feeding it ("coredumpctl dump 1 | NAME …", no "$").
      const section = r.stdout.includes('\nEXAMPLES\n') ? r.stdout.slice(r.stdout.indexOf('\nEXAMPLES\n')).split(/\n(?=[A-Z])/)[1] ?? '' : '';
      const examples = [...section.matchAll(/^ {2}(?:\$ )?(\S.*)$/gm)].map((m) => m[1]);
      assert.equal(examples.length, c.examples?.length ?? 0, `${c.id}: one line per example`);
      for (const e of examples) assert.ok(e.startsWith(`${name} `) || e === name || e.includes(`| ${name} `), `${c.id}: "${e}"`);
    }
  });

  test('through darkforge: "$ darkforge darkserver query" (usage and examples)', () => {
    const r = run('run', ['darkserver', 'query', '--help'], WIDTH);
    assert.match(r.stdout, /^USAGE\n {2}\$ darkforge darkserver query \[BUILDID\.\.\.\]/m);
    assert.match(r.stdout, /^ {2}\$ darkforge darkserver query --rpm hello-2\.0-1\.x86_64$/m);
    const dvd = run('run', ['imagebuild', 'dvd', '--help'], WIDTH);
    assert.match(dvd.stdout, /^ {2}\$ darkforge imagebuild dvd --backend builtin --format tar\.zst$/m);
    const topic = run('run', ['imagebuild', '--help'], WIDTH);
    assert.match(topic.stdout, /^ {2}\$ darkforge imagebuild COMMAND$/m);
  });

  test('a usage error points at the help the way the command was typed', () => {
    const viaEntry = run('darkserver', ['query', '--bogus']);
    assert.equal(viaEntry.code, 2);
    assert.equal(viaEntry.stderr, 'darkserver query: Nonexistent flag: --bogus (see "darkserver query --help")\n');
    const viaDarkforge = run('run', ['darkserver', 'query', '--bogus']);
    assert.equal(viaDarkforge.stderr, 'darkserver query: Nonexistent flag: --bogus (see "darkforge darkserver query --help")\n');
    const dvd = run('imagebuild', ['dvd', '--backend', 'nope']);
    assert.equal(dvd.code, 2);
    assert.match(dvd.stderr, /^imagebuild dvd: .*nope.* \(see "imagebuild dvd --help"\)\n$/);
  });

  test('an unknown command is one sentence with the nearest command and the help to read, exit 2', () => {
    const cases: [bin: 'run' | 'darkserver' | 'imagebuild', args: string[], stderr: string][] = [
      ['darkserver', ['querry', 'abc'], 'darkserver: unknown command "querry" (did you mean "darkserver query"? see "darkserver --help")\n'],
      ['imagebuild', ['lst'], 'imagebuild: unknown command "lst" (did you mean "imagebuild list"? see "imagebuild --help")\n'],
      ['run', ['darkserver', 'stat'], 'darkforge darkserver: unknown command "stat" (did you mean "darkforge darkserver stats"? see "darkforge darkserver --help")\n'],
      ['run', ['frobnicate'], 'darkforge: unknown command "frobnicate" (see "darkforge --help")\n'],
    ];
    cases.push(['darkserver', ['help', 'querry'], 'darkserver: unknown command "querry" (did you mean "darkserver query"? see "darkserver --help")\n']);
    for (const [bin, args, stderr] of cases) {
      const r = run(bin, args);
      assert.equal(r.code, 2, `${bin} ${args.join(' ')}`);
      assert.equal(r.stderr, stderr);
      assert.equal(r.stdout, '');
    }
  });
});

test('"darkserver help query" is "darkserver query --help", as "darkforge help darkserver query" is', () => {
  for (const [bin, args, same] of [['darkserver', ['help', 'query'], ['query', '--help']], ['darkserver', ['help'], ['--help']],
    ['imagebuild', ['help', 'dvd'], ['dvd', '--help']], ['run', ['darkserver', 'help', 'index'], ['darkserver', 'index', '--help']]] as const) {
    const r = run(bin, [...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, run(bin, [...same]).stdout, `${bin} ${args.join(' ')}`);
  }
  assert.equal(run('run', ['help', 'darkserver', 'query']).stdout, run('run', ['darkserver', 'query', '--help']).stdout);
});

describe('help reads well at 80 columns', () => {
  test('the check finds a sentence cut by a newline in the description (darkserver query before issue 17)', () => {
    const old = [
      'DESCRIPTION',
      '  Which RPM builds contain these build-ids (or this RPM, or this path).',
      '',
      '  Prints one line per match: BUILDID<TAB>RPM-NVRA<TAB>/path/in/rpm. A build-id',
      '  found in several',
      '  RPMs gives several lines. Exit 1 when any input has no answer, 2 for input',
      '  that is not a build-id.',
      '',
    ].join('\n');
    assert.deepEqual(brokenLines(old, 80).map((b) => b.line.trim()), ['found in several']);
    const flags = [
      'FLAGS',
      '  --db=FILE  Index database file',
      '             [default: $DARKFORGE_DB]',
      '  --json     Print machine-readable JSON on stdout.',
      '',
    ].join('\n');
    assert.deepEqual(brokenLines(flags, 80).map((b) => b.line.trim()), ['--db=FILE  Index database file']);
    const layouts = [
      'FLAGS',
      '  -c, --config=FILE  The imagebuild.conf',
      '                     (single file).',
      '      --arch=ARCH    Image architecture (overrides arch =).',
      '      --keep-workdir',
      '          Keep the job\'s work folder after the job; the text of a long flag comes below its name in',
      '          oclif\'s other layout,',
      '          and this line was cut.',
      '',
    ].join('\n');
    assert.deepEqual(brokenLines(layouts, 80).map((b) => b.line.trim()), ['-c, --config=FILE  The imagebuild.conf', 'oclif\'s other layout,']);
  });

  test('no line of any --help (root, topics, every command) is cut short or wider than 80 columns', () => {
    const pages: [string, string[]][] = [
      ['darkforge', ['--help']],
      ...[...new Set(commands.map((c) => c.id.split(':')[0]))].filter((t) => config.findTopic(t)).map((t) => [t, [t, '--help']] as [string, string[]]),
      ...commands.map((c) => [c.id, [...c.id.split(':'), '--help']] as [string, string[]]),
    ];
    assert.ok(pages.length >= 18, `${pages.length} pages`);
    const problems: string[] = [];
    for (const [name, args] of pages) {
      const r = run('run', args, WIDTH);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      for (const b of brokenLines(r.stdout, 80)) problems.push(`${name} ${b.section}: "${b.line.trim()}" / "${b.next.trim()}"`);
      for (const w of wideLines(r.stdout, 80)) problems.push(`${name}: ${w.length} columns: ${w}`);
    }
    assert.deepEqual(problems, []);
  });

  test('summaries are one line: oclif shows only the first line in command lists', () => {
    for (const c of commands) assert.ok(!(c.summary ?? '').includes('\n'), c.id);
  });
});
