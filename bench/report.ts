// The table: each figure beside what it is compared with, the ratio, issue 7's target, PASS/FAIL.
export interface Row {
  measure: string;
  value: string;
  /** what the value is compared with, e.g. "debuginfod 3.10 s" */
  against: string;
  ratio: string;
  target: string;
  /** undefined: information only (no target) or not measured */
  pass?: boolean;
  note?: string;
}

export const sec = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');
export const msec = (ms: number): string => (Number.isFinite(ms) ? (ms < 10 ? `${ms.toFixed(3)} ms` : `${ms.toFixed(0)} ms`) : 'n/a');
export const bytes = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
export const times = (x: number): string => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x` : 'n/a');

/** "X is r times faster than Y" with target r >= min. */
export function fasterRow(measure: string, ms: number, otherName: string, otherMs: number, min?: number): Row {
  const r = otherMs / ms;
  return {
    measure, value: sec(ms), against: `${otherName} ${sec(otherMs)}`, ratio: `${times(r)} faster`,
    target: min === undefined ? '-' : `>= ${min}x faster`, pass: min === undefined || !Number.isFinite(r) ? undefined : r >= min,
  };
}

/** "X takes r times Y" with target r <= max. */
export function withinRow(measure: string, ms: number, otherName: string, otherMs: number, max?: number): Row {
  const r = ms / otherMs;
  return {
    measure, value: sec(ms), against: `${otherName} ${sec(otherMs)}`, ratio: `${times(r)} of it`,
    target: max === undefined ? '-' : `<= ${max}x`, pass: max === undefined || !Number.isFinite(r) ? undefined : r <= max,
  };
}

/** An absolute figure against a ceiling ("<= 150 ms"); ratio = value / ceiling. */
export function ceilingRow(measure: string, value: number, shown: string, ceiling: number, ceilingShown: string, against = ''): Row {
  const r = value / ceiling;
  return { measure, value: shown, against, ratio: `${times(r)} of target`, target: `<= ${ceilingShown}`, pass: Number.isFinite(r) ? r <= 1 : undefined };
}

/** An absolute figure against a floor (">= 100 RPMs/s"); ratio = value / floor. */
export function floorRow(measure: string, value: number, shown: string, floor: number, floorShown: string, against = ''): Row {
  const r = value / floor;
  return { measure, value: shown, against, ratio: `${times(r)} of target`, target: `>= ${floorShown}`, pass: Number.isFinite(r) ? r >= 1 : undefined };
}

export function infoRow(measure: string, value: string, against = '', ratio = ''): Row {
  return { measure, value, against, ratio, target: '-' };
}

export function skippedRow(measure: string, why: string, target = '-'): Row {
  return { measure, value: 'skipped', against: why, ratio: '', target };
}

export function table(rows: Row[]): string {
  const head = ['measure', 'value', 'compared with', 'ratio', 'target', 'result'];
  const cells = rows.map((r) => [r.measure, r.value, r.against, r.ratio, r.target, r.pass === undefined ? (r.value === 'skipped' ? 'SKIP' : 'info') : r.pass ? 'PASS' : 'FAIL']);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((x, i) => x.padEnd(w[i])).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}
