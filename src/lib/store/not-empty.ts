// The one refusal every copy target shares: it holds an index or an import queue already.
import { UserError } from '../errors.js';
import type { CopyCounts } from './port.js';

/** Whether a store holds anything a copy would replace (interned names and types alone are not an index). */
export function holdsIndex(c: CopyCounts): boolean {
  return c.builds + c.rpms + c.files + c.instances + c.import_builds + c.import_rpms > 0;
}

export class TargetNotEmpty extends UserError {
  constructor(readonly file: string, readonly counts: CopyCounts) {
    super(`${file}: holds an index already (${counts.rpms} RPMs, ${counts.files} build-id rows, ${counts.import_builds} builds in the import queue), `
      + 'and a copy goes to an empty or new store only; pass --replace to replace it, nothing was changed', 2);
    this.name = 'TargetNotEmpty';
  }
}
