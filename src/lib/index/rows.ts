import { FileType } from './filetype.js';

/** One indexed ELF file: a path in an RPM and its GNU build-id (lowercase hex). */
export interface FileRow {
  path: string;
  buildId: string;
  type: FileType;
}

/** Rows in a stable order, so both scan methods compare equal. */
export function sortRows(rows: FileRow[]): FileRow[] {
  return rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.buildId < b.buildId ? -1 : a.buildId > b.buildId ? 1 : 0));
}
