// One place that turns a download URL into a byte source, by scheme: file: reads the local file,
// http(s): Range requests, ftp: a resumable FTP transfer. Anything else is refused by the URL policy.
import { fileURLToPath } from 'node:url';
import { DownloadError, ioMessage } from '../errors.js';
import { ByteSource, FileSource } from '../rpm/source.js';
import { FtpSource } from './ftp-source.js';
import { HttpSource, HttpSourceOptions } from './http-source.js';
import { checkUrl, FETCH_SCHEMES } from './url-policy.js';

/** A source for `url`; `allowed` narrows the schemes (an import reads a Koji package store: no ftp). */
export async function openSource(url: string, opts: HttpSourceOptions = {}, allowed: readonly string[] = FETCH_SCHEMES): Promise<ByteSource> {
  const u = checkUrl(url, 'download', allowed);
  switch (u.protocol) {
    case 'file:': {
      const path = fileURLToPath(u);
      try {
        return await FileSource.open(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException)?.code) throw new DownloadError(`${path}: ${ioMessage(e)}`);
        throw e;
      }
    }
    case 'ftp:':
      return new FtpSource(u, opts);
    default:
      return new HttpSource(url, opts);
  }
}
