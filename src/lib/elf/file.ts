// The build-id of an ELF file on disk (`query --elf`, `find` given a path), read in chunks. A
// gzip, xz or zstd file (a kernel module `.ko.xz`) is read through its decompressor, as
// eu-readelf does: a module's build-id is the one inside, the one an oops prints.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UserError, ioMessage } from '../errors.js';
import { CompressedElfScanner } from './compressed.js';

export async function buildIdOfFile(path: string): Promise<string> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new UserError(`${path}: not a regular file`, 2);
    size = st.size;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: ${ioMessage(e)}`, 2);
  }
  const scanner = new CompressedElfScanner(size);
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream) if (scanner.push(chunk as Buffer)) break;
  } finally {
    stream.destroy();
  }
  const r = scanner.finish();
  if (!r.elf) throw new UserError(`${path}: not an ELF file`, 2);
  if (!r.buildId) throw new UserError(`${path}: ELF file without a GNU build-id note`, 2);
  return r.buildId;
}
