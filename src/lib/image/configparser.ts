// A reader for .conf files as Python's ConfigParser read them for the original image builder:
// sections, [DEFAULT] inherited by every section, `key = value` / `key: value`, whole-line
// `#`/`;` comments, indented continuation lines, lower-cased keys and BasicInterpolation
// (`%(name)s`, `%%`). The `ini` package does none of inheritance, continuation or
// interpolation, and the original files rely on all three (repoinfo.conf above all).
// Every value keeps the file, section, key and line it came from, so messages can name them.
import { readFileSync } from 'node:fs';
import { UserError, inputText } from '../errors.js';
import type { ValueOrigin } from './types.js';

export const DEFAULT_SECTION = 'DEFAULT';
/** Python's MAX_INTERPOLATION_DEPTH: deeper chains are reported rather than followed. */
const MAX_DEPTH = 10;
/** An interpolated value longer than this is an error: `a = %(b)s%(b)s…` nested ten deep would otherwise take gigabytes. */
export const MAX_VALUE_LENGTH = 1 << 20;

export interface ConfigEntry {
  value: string;
  origin: ValueOrigin & { line?: number };
}

/** A line the reader could not make sense of; reading goes on so all of them are reported. */
export interface SyntaxProblem {
  file: string;
  line: number;
  text: string;
  message: string;
}

/** A `%(name)s` reference that names nothing, loops, or a stray `%`. */
export class InterpolationError extends UserError {
  constructor(readonly origin: ValueOrigin, readonly value: string, readonly reason: string) {
    super(`${origin.file} [${origin.section}] ${origin.key} = "${inputText(oneLine(value))}": ${inputText(oneLine(reason), 400)}`);
    this.name = 'InterpolationError';
  }
}

/** A value continued over several lines, shown on one (as `\n`), so a message stays one line. */
export function oneLine(s: string): string {
  return s.replace(/\r?\n/g, '\\n');
}

type Section = Map<string, ConfigEntry>;

export class ConfigFile {
  constructor(
    readonly file: string,
    private readonly defaults: Section,
    private readonly sectionMap: Map<string, Section>,
    readonly errors: SyntaxProblem[],
    /** Defaults given by the program (ConfigParser(defaults=…)): the file's [DEFAULT] wins. */
    private readonly builtin: Section = new Map(),
  ) {}

  /** Section names in file order, without DEFAULT (as ConfigParser.sections()). */
  sections(): string[] {
    return [...this.sectionMap.keys()];
  }

  hasSection(name: string): boolean {
    return name === DEFAULT_SECTION || this.sectionMap.has(name);
  }

  /** Keys visible in a section: its own, then inherited ones. */
  keys(section: string): string[] {
    const own = section === DEFAULT_SECTION ? new Map() : this.sectionMap.get(section);
    if (!own) return [];
    return [...new Set([...own.keys(), ...this.defaults.keys(), ...this.builtin.keys()])];
  }

  /** The value as written (after inheritance), not interpolated. */
  raw(section: string, key: string): ConfigEntry | undefined {
    const k = key.toLowerCase();
    if (section !== DEFAULT_SECTION) {
      const own = this.sectionMap.get(section);
      if (!own) return undefined;
      if (own.has(k)) return own.get(k);
    }
    return this.defaults.get(k) ?? this.builtin.get(k);
  }

  /**
   * The interpolated value, or undefined when the key is absent. References are looked up in
   * `vars` first (as ConfigParser.get(vars=…); darkforge passes command-line overrides there so
   * `%(arch)s` follows --arch), then the section, [DEFAULT] and the built-in defaults.
   * Throws InterpolationError.
   */
  get(section: string, key: string, vars: Record<string, string> = {}): ConfigEntry | undefined {
    const entry = this.raw(section, key);
    if (!entry) return undefined;
    const lookup = (name: string): ConfigEntry | undefined => {
      const v = vars[name];
      if (v !== undefined) return { value: v, origin: { file: 'command line', section: '', key: name } };
      return this.raw(section, name);
    };
    const value = expand(entry.value, lookup, [entry.origin.key], entry);
    return { value, origin: entry.origin };
  }
}

/**
 * `seen` holds what a name expanded to at a depth: a name met again at the same depth gives the
 * same text (had it looped, the first expansion would have failed), so a value that names
 * another many times over, level after level, costs its length, not that many expansions.
 */
function expand(value: string, lookup: (name: string) => ConfigEntry | undefined, stack: string[], top: ConfigEntry,
  seen = new Map<string, string>()): string {
  const fail: (reason: string) => never = (reason) => {
    throw new InterpolationError(top.origin, top.value, reason);
  };
  if (stack.length > MAX_DEPTH) fail(`references nest deeper than ${MAX_DEPTH} (${stack.join(' -> ')})`);
  let out = '';
  let rest = value;
  for (;;) {
    if (out.length > MAX_VALUE_LENGTH) fail(`expands to more than ${MAX_VALUE_LENGTH} characters`);
    const p = rest.indexOf('%');
    if (p < 0) return out + rest;
    out += rest.slice(0, p);
    rest = rest.slice(p);
    if (rest[1] === '%') {
      out += '%';
      rest = rest.slice(2);
      continue;
    }
    const m = /^%\(([^)]+)\)s/.exec(rest);
    if (!m) {
      fail(rest[1] === '('
        ? `bad reference "${rest.slice(0, 20)}" (write %(name)s)`
        : `a "%" must be followed by "%" or "(" (write %% for a literal %)`);
    }
    const name = m[1].toLowerCase();
    rest = rest.slice(m[0].length);
    if (stack.includes(name)) fail(`%(${name})s refers back to itself (${[...stack, name].join(' -> ')})`);
    const ref = lookup(name);
    if (!ref) {
      const where = top.origin.section === DEFAULT_SECTION ? `[${DEFAULT_SECTION}]` : `[${top.origin.section}] or [${DEFAULT_SECTION}]`;
      fail(`%(${name})s refers to a key that is not set in ${where}`);
    }
    if (!ref.value.includes('%')) {
      out += ref.value;
      continue;
    }
    const key = `${stack.length}\0${name}`;
    let text = seen.get(key);
    if (text === undefined) seen.set(key, (text = expand(ref.value, lookup, [...stack, name], top, seen)));
    out += text;
  }
}

/** Reads ConfigParser text. Never throws: bad lines are listed in `errors`. */
export function parseConfig(text: string, file: string, builtinDefaults: Record<string, string> = {}): ConfigFile {
  const defaults: Section = new Map();
  const sections = new Map<string, Section>();
  const errors: SyntaxProblem[] = [];
  let current: { name: string; map: Section } | undefined;
  // The value being read, kept as lines until a line that is not its continuation.
  let pending: { lines: string[]; indent: number; entry: ConfigEntry } | undefined;

  const finish = () => {
    if (!pending) return;
    let v = pending.lines.join('\n').trimEnd();
    if (v === '""') v = ''; // Python 2's ConfigParser read `key = ""` as empty
    pending.entry.value = v;
    pending = undefined;
  };

  // Python reads text files with universal newlines: a lone \r ends a line too.
  text.split(/\r\n|\r|\n/).forEach((line, i) => {
    const lineNo = i + 1;
    const stripped = line.trim();
    const indent = line.length - line.trimStart().length;
    if (stripped.startsWith('#') || stripped.startsWith(';')) return;
    if (stripped === '') {
      // Blank lines may sit inside a multi-line value; trailing ones are trimmed in finish().
      if (pending) pending.lines.push('');
      return;
    }
    if (pending && indent > pending.indent) {
      pending.lines.push(stripped);
      return;
    }
    finish();
    const header = /^\[(.+)\]$/.exec(stripped);
    if (header) {
      const name = header[1];
      const map = name === DEFAULT_SECTION ? defaults : sections.get(name) ?? new Map();
      if (name !== DEFAULT_SECTION) sections.set(name, map);
      current = { name, map };
      return;
    }
    const opt = /^(.*?)\s*[=:]\s*(.*)$/.exec(stripped);
    if (!current) {
      errors.push({ file, line: lineNo, text: line, message: 'a key before any [section] header' });
      return;
    }
    if (!opt || !opt[1]) {
      errors.push({ file, line: lineNo, text: line, message: 'not a [section], "key = value", comment or indented continuation line' });
      return;
    }
    const key = opt[1].toLowerCase();
    const entry: ConfigEntry = { value: '', origin: { file, section: current.name, key, line: lineNo } };
    current.map.set(key, entry); // a repeated key replaces the earlier one, as in Python 2
    pending = { lines: [opt[2]], indent, entry };
  });
  finish();

  const builtin: Section = new Map(Object.entries(builtinDefaults).map(([k, value]) => [
    k.toLowerCase(), { value, origin: { file: '(built-in)', section: DEFAULT_SECTION, key: k.toLowerCase() } },
  ]));
  return new ConfigFile(file, defaults, sections, errors, builtin);
}

/** Reads a file; throws UserError when it cannot be read. */
export function readConfigFile(file: string, builtinDefaults: Record<string, string> = {}): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseConfig(text, file, builtinDefaults);
}
