// Checks on oclif's rendered --help text.

/** Sections whose text oclif wraps itself (USAGE and EXAMPLES are command lines, wrapped otherwise). */
const WRAPPED = new Set(['DESCRIPTION', 'FLAGS', 'GLOBAL FLAGS', 'ARGUMENTS', 'FLAG DESCRIPTIONS', 'COMMANDS', 'TOPICS', '']);
/** List sections: an entry starts at column 2, its description continues further right. */
const LISTS = new Set(['FLAGS', 'GLOBAL FLAGS', 'ARGUMENTS', 'FLAG DESCRIPTIONS', 'COMMANDS', 'TOPICS']);

export interface BrokenLine {
  section: string;
  line: string;
  next: string;
}

const indent = (s: string): number => s.length - s.trimStart().length;

/**
 * Lines that end a sentence early: oclif wraps greedily at `width` columns, so a line followed by
 * more of the same paragraph always lacks room for the next word. A line with room for it was cut
 * by a newline in the text itself (a hard-wrapped description: "found in several\n  RPMs").
 * Exempt: paragraph breaks (an empty line), list items and command lines that start with "- ",
 * "* " or "$ ", and in FLAGS-like lists a new entry (at column 2) or a line that holds only an
 * entry's name (oclif's layout for long descriptions).
 */
export function brokenLines(help: string, width: number): BrokenLine[] {
  const out: BrokenLine[] = [];
  let section = '';
  /** In a list section, the column where the current entry's description text starts. */
  let column = -1;
  const lines = help.split('\n');
  for (let i = 0; i < lines.length - 1; i++) {
    const a = lines[i];
    const b = lines[i + 1];
    if (/^[A-Z][A-Z ]+$/.test(a)) {
      section = a;
      column = -1;
      continue;
    }
    if (!WRAPPED.has(section) || a.trim() === '' || b.trim() === '' || /^[A-Z][A-Z ]+$/.test(b)) continue;
    if (/^\s*([-*$] )/.test(b)) continue;
    if (LISTS.has(section)) {
      // An entry: its name, two spaces or more, its text (or the name alone on its line, when oclif
      // puts a long text below it, indented further).
      if (indent(a) < Math.max(column, 3)) {
        const entry = /^(\s*\S+(?: \S+)*\s{2,})\S/.exec(a);
        if (!entry) {
          column = indent(b); // the name alone: its text follows
          continue;
        }
        column = entry[1].length;
      }
      if (indent(b) !== column) continue;
    } else if (indent(b) !== indent(a)) {
      continue;
    }
    const next = b.trim().split(/\s+/)[0];
    if (a.trimEnd().length + 1 + next.length <= width) out.push({ section: section || 'SUMMARY', line: a, next: b });
  }
  return out;
}

/** Lines wider than `width` in the sections oclif wraps. */
export function wideLines(help: string, width: number): string[] {
  let section = '';
  const out: string[] = [];
  for (const line of help.split('\n')) {
    if (/^[A-Z][A-Z ]+$/.test(line)) section = line;
    else if (WRAPPED.has(section) && line.length > width) out.push(line);
  }
  return out;
}
