// The original darkserver's JSON API (Fedora's darkserver web service, which darkclient asked):
// /buildids/ID[,ID...], /rpm2buildids/NVRA[.rpm], /package/NAME, /serverversion, and a short
// HTML page at /. Answers keep the original fields (buildid, elf, rpm, distro, url) and add
// darkforge's (type, arch, nvr, instance, kojibuildid, urls). Apache mounted the original under
// /darkserver; that prefix is accepted too.
import { UserError } from '../errors.js';
import { queryBuildIds, queryPackage, queryRpm, QueryResult } from '../index/query.js';
import type { Store } from '../store/port.js';
import { redactUrl } from '../net/url-policy.js';
import { HttpError } from './http-error.js';
import { BodyReply, json } from './reply.js';

/** The API level of the original service this answers as (its last release, darkserver 2.0). */
export const API_VERSION = '2.0';

function decoded(raw: string, what: string): string {
  try {
    const s = decodeURIComponent(raw);
    if (s.includes('\0')) throw new Error('NUL');
    return s;
  } catch {
    throw new HttpError(400, `the ${what} is not validly percent-encoded text`);
  }
}

const shown = (r: QueryResult): QueryResult => ({ ...r, url: redactUrl(r.url), urls: r.urls.map(redactUrl) });

export async function buildIdsRoute(store: Store, raw: string): Promise<BodyReply> {
  const ids = decoded(raw, 'build-id list');
  if (ids.length > 64 * 1024) throw new HttpError(414, 'too many build-ids in one request');
  try {
    // An unknown id is simply absent from the array, as the original's `build_id IN (...)` was.
    return json((await queryBuildIds(store, [ids])).results.map(shown));
  } catch (e) {
    if (e instanceof UserError) throw new HttpError(400, e.message);
    throw e;
  }
}

export async function rpmRoute(store: Store, raw: string): Promise<BodyReply> {
  const name = decoded(raw, 'RPM name');
  if (!name.trim()) throw new HttpError(400, 'expected /rpm2buildids/NAME-VERSION-RELEASE.ARCH');
  return json((await queryRpm(store, name)).results.map(shown));
}

export async function packageRoute(store: Store, raw: string): Promise<BodyReply> {
  const name = decoded(raw, 'package name');
  if (!name.trim()) throw new HttpError(400, 'expected /package/NAME or /package/NAME-VERSION-RELEASE.ARCH');
  const { results } = await queryPackage(store, name);
  const first = results[0];
  // The original answered {"url": ""} when it knew no such package (darkserver 1.0.2 on).
  if (!first) return json({ url: '' });
  return json({ url: redactUrl(first.url), rpm: first.rpm, urls: first.urls.map(redactUrl), kojibuildid: first.kojibuildid, instance: first.instance });
}

export function versionRoute(darkforgeVersion: string): BodyReply {
  return json({ 'server-version': API_VERSION, darkforge: darkforgeVersion });
}

export function homePage(darkforgeVersion: string): BodyReply {
  const body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>darkserver</title></head>
<body>
<h1>darkserver (darkforge ${darkforgeVersion})</h1>
<p>GNU build-id &rarr; RPM build index, with the original darkserver API and elfutils' debuginfod protocol.</p>
<h2>darkserver API (JSON)</h2>
<ul>
<li><code>GET /buildids/ID[,ID...]</code> &mdash; every RPM file with these build-ids: <code>buildid, elf, rpm, distro, url</code>, plus <code>type, arch, nvr, instance, kojibuildid, urls</code></li>
<li><code>GET /rpm2buildids/NAME-VERSION-RELEASE.ARCH[.rpm]</code> &mdash; every build-id of one RPM</li>
<li><code>GET /package/NAME</code> &mdash; <code>{"url": ...}</code>, where to download it</li>
<li><code>GET /serverversion</code></li>
</ul>
<h2>debuginfod protocol</h2>
<ul>
<li><code>GET /buildid/ID/debuginfo</code>, <code>/buildid/ID/executable</code>, <code>/buildid/ID/source/ABSOLUTE/PATH</code>, <code>/buildid/ID/section/NAME</code></li>
<li><code>GET /metrics</code> &mdash; Prometheus metrics</li>
</ul>
<p>Use it from gdb: <code>DEBUGINFOD_URLS=http://HOST:PORT gdb ./program core</code></p>
</body></html>
`;
  return { kind: 'body', status: 200, contentType: 'text/html; charset=utf-8', body };
}
