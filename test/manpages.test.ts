// Man pages (issue 17): `npm run build` writes one per command, topic and darkforge itself from
// oclif's metadata (scripts/build-man.js, src/lib/cli/manpage.ts). Read through man(1) as a user
// reads them, each page must name every flag and argument its command has, with its text, and
// nothing else; groff must read them without a warning.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Config, type Command } from '@oclif/core';
import { commandPage, manPages, roff } from '../src/lib/cli/manpage.ts';
import { tempDir } from './helpers/cli.ts';
import { ROOT } from './helpers/paths.ts';

const MAN_PATH = join(ROOT, 'man');
const MAN = join(MAN_PATH, 'man1');
let config: Config;
let commands: Command.Loadable[];
const ENTRY_TOPICS = ['darkserver', 'imagebuild'];

/** The page as man(1) prints it to a pipe: plain text, 200 columns so that little is wrapped. */
function man(args: string[]): { code: number; text: string; stderr: string } {
  const r = spawnSync('man', args, {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '200', MANPAGER: 'cat', PAGER: 'cat', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', MAN_KEEP_FORMATTING: '' },
  });
  // Overstrike bold and underline, should man leave any.
  return { code: r.status ?? -1, text: r.stdout.replace(/.\x08/g, ''), stderr: r.stderr };
}

/** Sections of a rendered page by heading, their lines with the indentation kept. */
function sections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const line of text.split('\n')) {
    if (/^[A-Z][A-Z ]+$/.test(line)) out.set((current = line), []);
    else if (current) out.get(current)!.push(line);
  }
  return out;
}

const squash = (s: string): string => s.replace(/\s+/g, ' ').trim();
const invoked = (id: string): string => (ENTRY_TOPICS.includes(id.split(':')[0]) ? id.replace(/:/g, ' ') : `darkforge ${id.replace(/:/g, ' ')}`);
const pageOf = (id: string): string => `${invoked(id).replace(/ /g, '-')}.1`;

before(async () => {
  config = await Config.load(ROOT);
  commands = config.commands.filter((c) => !c.hidden);
});

describe('the pages npm run build wrote', () => {
  test('one per command, per topic and darkforge.1; none for a hidden command, none left over', () => {
    const expected = ['darkforge.1', 'darkserver.1', 'imagebuild.1', ...commands.map((c) => pageOf(c.id))].sort();
    assert.deepEqual(readdirSync(MAN).sort(), expected);
    assert.ok(expected.includes('darkserver-query.1') && expected.includes('imagebuild-dvd.1') && expected.includes('darkforge-autocomplete.1'));
    assert.ok(!expected.includes('imagebuild-run-job.1'));
  });

  test('they are what this code makes (npm run build ran after the last change to a command)', () => {
    for (const [name, text] of manPages(config)) assert.equal(readFileSync(join(MAN, name), 'utf8'), text, name);
  });

  test('groff reads every page without a warning', () => {
    for (const name of readdirSync(MAN)) {
      const r = spawnSync('sh', ['-c', 'preconv "$1" | groff -man -ww -z', 'sh', join(MAN, name)], { encoding: 'utf8' });
      assert.equal(r.status, 0, name);
      assert.equal(r.stderr, '', `${name}: ${r.stderr}`);
    }
  });

  test('every flag and argument of every command is in its page with its text, and nothing more', () => {
    for (const c of commands) {
      const r = man(['-l', join(MAN, pageOf(c.id))]);
      assert.equal(r.code, 0, `${c.id}: ${r.stderr}`);
      const s = sections(r.text);
      const name = invoked(c.id);
      // NAME, SYNOPSIS
      const summary = squash((c.summary ?? c.description ?? '').split('\n')[0]).replace('<%= config.bin %>', 'darkforge').replace(/\.$/, '');
      assert.equal(squash(s.get('NAME')!.join(' ')), `${name.replace(/ /g, '-')} - ${summary}`, c.id);
      const synopsis = squash(s.get('SYNOPSIS')!.join(' '));
      assert.ok(synopsis.startsWith(`${name} `) || synopsis === name, `${c.id}: ${synopsis}`);
      // OPTIONS: each flag's title line ("-c, --config=FILE") and its text; no other flag.
      const options = s.get('OPTIONS')!;
      // A short title shares its line with the text ("--json Print…").
      const titles = options.filter((l) => /^ {7}-/.test(l)).map((l) => /^(-\w, )?--[\w[\]-]+(=\S+)?/.exec(l.trim())![0]);
      const flags = Object.values(c.flags).filter((f) => !f.hidden);
      const expectedTitles = [...flags.map((f) => {
        const long = f.type === 'boolean' && f.allowNo ? `--[no-]${f.name}` : `--${f.name}`;
        const value = f.type === 'option' ? `=${f.helpValue ?? f.name.toUpperCase()}` : '';
        return `${f.char ? `-${f.char}, ` : ''}${long}${value}`;
      }), '-h, --help'].sort();
      assert.deepEqual(titles.sort(), expectedTitles, c.id);
      const body = squash(options.join(' '));
      for (const f of flags) {
        const text = squash((f.summary ?? f.description ?? '').replace('<%= config.bin %>', 'darkforge'));
        assert.ok(body.includes(text), `${c.id} --${f.name}: "${text}" in OPTIONS`);
        if (f.type === 'option' && typeof f.default === 'string') assert.ok(body.includes(`Default: ${f.default}.`), `${c.id} --${f.name} default`);
        assert.ok(synopsis.includes(`--${f.type === 'boolean' && f.allowNo ? '[no-]' : ''}${f.name}`), `${c.id} --${f.name} in SYNOPSIS`);
      }
      // ARGUMENTS
      const args = Object.values(c.args ?? {}).filter((a) => !a.hidden);
      const argText = squash((s.get('ARGUMENTS') ?? []).join(' '));
      for (const a of args) {
        assert.ok(argText.includes(a.name.toUpperCase()), `${c.id} ${a.name}`);
        if (a.description) assert.ok(argText.includes(squash(a.description)), `${c.id} ${a.name}: its text`);
      }
      // EXAMPLES, as typed through the entry point.
      const examples = (s.get('EXAMPLES') ?? []).map((l) => l.trim()).filter((l) => l.startsWith('$ '));
      assert.equal(examples.length, c.examples?.length ?? 0, c.id);
      for (const e of examples) assert.ok(e.startsWith(`$ ${name}`) || e.includes(`| ${name} `), `${c.id}: ${e}`);
      // darkforge's own commands say what their exit codes mean.
      if (c.pluginName === 'darkforge') assert.match(squash(s.get('EXIT STATUS')!.join(' ')), /^0 Success\. 1 Not found.* 2 A usage or input error/, c.id);
    }
  });

  test('man finds them by name in the folder (MANPATH, or man -M)', () => {
    for (const [page, words] of [['darkserver-query', 'darkserver query'], ['imagebuild-dvd', 'imagebuild dvd'], ['darkserver', 'darkserver find'], ['darkforge', 'darkserver(1)']]) {
      const viaM = man(['-M', MAN_PATH, page]);
      assert.equal(viaM.code, 0, `${page}: ${viaM.stderr}`);
      assert.ok(viaM.text.includes(words), page);
      const r = spawnSync('man', [page], { encoding: 'utf8', env: { ...process.env, MANPATH: MAN_PATH, MANPAGER: 'cat', MANWIDTH: '100' } });
      assert.equal(r.status, 0, `MANPATH: ${r.stderr}`);
    }
  });
});

describe('troff', () => {
  test('text that troff would take for requests or escapes prints as written', () => {
    const tricky = '.debug files stay\n\'quoted\' lines, C:\\path\\n, --full and -j 4, 50% and \\fB';
    assert.equal(roff('.x\n\'y'), '\\&.x\n\\&\'y');
    assert.equal(roff('a\\b-c'), 'a\\eb\\-c');
    const fake = {
      id: 'darkserver:tricky', summary: 'A command with awkward text.', description: tricky, pluginName: 'darkforge', pluginType: 'core',
      flags: { weird: { name: 'weird', type: 'option', description: '.starts with a dot, has \\ and --long-flags', helpValue: 'X' } },
      args: {}, examples: ['<%= config.bin %> darkserver tricky --weird \'.x\''], aliases: [], hidden: false,
    } as unknown as Command.Loadable;
    const file = join(tempDir(), 'darkserver-tricky.1');
    writeFileSync(file, commandPage(fake, { bin: 'darkforge', version: '1.0', name: 'darkforge', entryTopics: ENTRY_TOPICS }));
    const r = man(['-l', file]);
    assert.equal(r.code, 0, r.stderr);
    const text = squash(r.text);
    assert.ok(text.includes(squash(tricky.replace(/\n/g, ' '))), text);
    assert.ok(text.includes('.starts with a dot, has \\ and --long-flags'), text);
    assert.ok(text.includes("$ darkserver tricky --weird '.x'"), text);
  });
});
