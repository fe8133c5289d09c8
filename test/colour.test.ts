// Colour on a terminal (issue 17): errors red, warnings yellow, on a real pseudo-terminal made by
// util-linux `script`; none when stderr is not a terminal, with NO_COLOR, or with --no-color;
// FORCE_COLOR as chalk reads it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { run, tempDir } from './helpers/cli.ts';
import { FIXTURES, ROOT } from './helpers/paths.ts';

const dir = tempDir('darkforge-colour-');
const db = join(dir, 'index.sqlite');
const ESC = '\x1b[';
const RED = '\x1b[31m';
const YELLOW = '\x1b[33m';

/** A terminal that supports colour, and none of the variables that change chalk's mind. */
const TERMINAL: NodeJS.ProcessEnv = { TERM: 'xterm-256color', NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, COLORTERM: undefined, DARKFORGE_DEBUG: '' };

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Run an entry point with stdout and stderr on a pseudo-terminal (`script -c` runs the line with
 * /bin/sh). `stderrFile`: stderr goes to that file instead, so it is not a terminal.
 */
function onTerminal(bin: string, args: string[], env: NodeJS.ProcessEnv = {}, stderrFile?: string): { code: number; out: string } {
  const line = [process.execPath, join(ROOT, 'bin', `${bin}.js`), ...args].map(quote).join(' ') + (stderrFile ? ` 2>${quote(stderrFile)}` : '');
  const r = spawnSync('script', ['-qefc', line, '/dev/null'], {
    encoding: 'utf8', env: { ...process.env, ...TERMINAL, SHELL: '/bin/sh', ...env }, timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout };
}

before(() => {
  assert.equal(run('darkserver', ['index', '--db', db, join(FIXTURES, 'df-debug-1.0-1.x86_64.rpm')]).code, 0);
});

describe('on a terminal', () => {
  test('an error is red, its label bold, through the fast path and through oclif', () => {
    for (const args of [['query', 'xyz', '--db', db], ['stats', '--db', join(dir, 'none.sqlite')], ['query', '--bogus']]) {
      const r = onTerminal('darkserver', args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}`);
      assert.ok(r.out.includes(`${RED}`), `red: ${JSON.stringify(r.out)}`);
      assert.match(r.out, /\x1b\[1mdarkserver (query|stats)\x1b\[22m: \x1b\[31m/);
    }
  });

  test('a warning says "warning:" in yellow; the run goes on', () => {
    const r = onTerminal('darkserver', ['find', '--insecure', 'debuginfo', 'abcdef12', '--db', db]);
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(`${YELLOW}\x1b[1mwarning:`), JSON.stringify(r.out));
    assert.ok(r.out.includes(`${RED}abcdef12: build-id not found in the index`), JSON.stringify(r.out));
  });

  test('an unknown command (oclif hook) and imagebuild errors are coloured too', () => {
    const r = onTerminal('imagebuild', ['lst']);
    assert.equal(r.code, 2);
    assert.ok(r.out.includes(RED), JSON.stringify(r.out));
  });

  test('answers on stdout (lines for scripts, JSON) have no colour', () => {
    for (const args of [['stats', '--json', '--db', db], ['query', '--rpm', 'df-debug-1.0-1.x86_64', '--db', db]]) {
      const q = onTerminal('darkserver', args);
      assert.equal(q.code, 0, q.out);
      assert.ok(!q.out.includes(ESC), JSON.stringify(q.out));
    }
  });

  test('help has oclif\'s bold headings on a terminal, and none with NO_COLOR or --no-color', () => {
    assert.ok(onTerminal('darkserver', ['query', '--help']).out.includes('\x1b[1mUSAGE'));
    assert.ok(!onTerminal('darkserver', ['query', '--help'], { NO_COLOR: '1' }).out.includes(ESC));
    assert.ok(!onTerminal('darkserver', ['query', '--help', '--no-color']).out.includes(ESC));
  });
});

describe('no colour', () => {
  const error = ['query', 'xyz', '--db', db];

  test('NO_COLOR set to anything but "" turns it off; NO_COLOR="" does not', () => {
    for (const value of ['1', 'true', '0', 'no']) {
      const r = onTerminal('darkserver', error, { NO_COLOR: value });
      assert.equal(r.code, 2);
      assert.ok(!r.out.includes(ESC), `NO_COLOR=${value}: ${JSON.stringify(r.out)}`);
      assert.match(r.out, /^darkserver query: xyz: /);
    }
    assert.ok(onTerminal('darkserver', error, { NO_COLOR: '' }).out.includes(RED));
  });

  test('--no-color turns it off, for both paths, before and after parsing', () => {
    for (const args of [[...error, '--no-color'], ['query', '--no-color', 'xyz', '--db', db], ['query', '--no-color', '--bogus'],
      ['stats', '--no-color', '--db', join(dir, 'none.sqlite')]]) {
      const r = onTerminal('darkserver', args);
      assert.equal(r.code, 2, args.join(' '));
      assert.ok(!r.out.includes(ESC), `${args.join(' ')}: ${JSON.stringify(r.out)}`);
    }
  });

  test('stderr that is not a terminal gets none, even when stdout is one', () => {
    const file = join(dir, 'stderr.txt');
    const r = onTerminal('darkserver', error, {}, file);
    assert.equal(r.code, 2);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^darkserver query: xyz: /);
    assert.ok(!text.includes(ESC), JSON.stringify(text));
  });

  test('pipes: none; FORCE_COLOR=1 forces it (chalk), and wins over NO_COLOR; FORCE_COLOR=0 turns it off on a terminal', () => {
    const plain = run('darkserver', error, { ...TERMINAL, NO_COLOR: '' });
    assert.equal(plain.code, 2);
    assert.ok(!plain.stderr.includes(ESC), plain.stderr);
    assert.ok(run('darkserver', error, { ...TERMINAL, NO_COLOR: '', FORCE_COLOR: '1' }).stderr.includes(RED));
    assert.ok(run('darkserver', error, { ...TERMINAL, NO_COLOR: '1', FORCE_COLOR: '1' }).stderr.includes(RED));
    assert.ok(!run('darkserver', [...error, '--no-color'], { ...TERMINAL, NO_COLOR: '', FORCE_COLOR: '1' }).stderr.includes(ESC));
    assert.ok(!onTerminal('darkserver', error, { FORCE_COLOR: '0' }).out.includes(ESC));
  });

  test('TERM=dumb: none', () => {
    assert.ok(!onTerminal('darkserver', error, { TERM: 'dumb' }).out.includes(ESC));
  });
});
