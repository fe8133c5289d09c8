// A DVD tree as a package bundle (tar.gz or tar.zst) instead of an ISO, streamed from disk to
// disk with node-tar: nothing is held in memory whatever the tree's size.
import { createRequire } from 'node:module';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { create } from 'tar';

const require = createRequire(import.meta.url);

export type ArchiveFormat = 'tar.gz' | 'tar.zst';

/**
 * Writes `dir`'s contents (dotfiles included) under `prefix/` into `out`. RPMs are compressed
 * already, so a fast level loses almost nothing in size: gzip 1, zstd 3 on two threads.
 * Deflate stays slow on such data whatever the level (25 MB/s here, as gzip -1); zstd is ~15×
 * faster, hence tar.zst for big trees.
 */
export async function writeArchive(dir: string, out: string, format: ArchiveFormat, prefix: string): Promise<void> {
  const part = `${out}.part`;
  // node-tar reads up to 16 MiB of a file at once by default; 1 MiB keeps the RSS flat.
  const tar = create({ cwd: dir, prefix, portable: true, maxReadSize: 1 << 20, gzip: format === 'tar.gz' ? { level: 1 } : undefined }, ['.']);
  const stages: NodeJS.ReadWriteStream[] = [tar as unknown as NodeJS.ReadWriteStream];
  if (format === 'tar.zst') {
    const { CompressStream } = require('zstd-napi') as typeof import('zstd-napi');
    stages.push(new CompressStream({ compressionLevel: 3, nbWorkers: 2 }));
  }
  try {
    await pipeline([...stages, createWriteStream(part)]);
    await rename(part, out);
  } catch (e) {
    await unlink(part).catch(() => undefined);
    throw e;
  }
}
