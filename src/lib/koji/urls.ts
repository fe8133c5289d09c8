// Download URLs for an RPM: Koji's package store (PathInfo.build() + rpm()), and the
// instance's mirror and retrace patterns. Candidates go mirror first, then Koji, then retrace
// (seed 002: spare Koji's bandwidth, keep a last resort for builds Koji has deleted).
import { isAllowedUrl } from '../net/url-policy.js';
import { distTag } from '../rpm/disttag.js';

export interface RpmCoordinates {
  name: string;
  version: string;
  release: string;
  arch: string;
}

/** {topurl}[/vol/VOLUME]/packages/{package}/{version}/{release}/{arch}/{nvra}.rpm */
export function kojiRpmUrl(topurl: string, build: { package_name: string; version: string; release: string; volume_name?: string | null }, rpm: RpmCoordinates): string {
  const top = topurl.replace(/\/+$/, '');
  const vol = build.volume_name && build.volume_name !== 'DEFAULT' ? `/vol/${encodeURIComponent(build.volume_name)}` : '';
  const seg = (s: string): string => encodeURIComponent(s);
  return `${top}${vol}/packages/${seg(build.package_name)}/${seg(build.version)}/${seg(build.release)}/${seg(rpm.arch)}/${seg(`${rpm.name}-${rpm.version}-${rpm.release}.${rpm.arch}.rpm`)}`;
}

/** Fill a pattern's {placeholders}; undefined when one has no value for this RPM. */
export function expandPattern(pattern: string, rpm: RpmCoordinates): string | undefined {
  const distro = distTag(rpm.release);
  const releasever = /^(?:fc|el|eln)(\d+)/.exec(distro)?.[1];
  const values: Record<string, string | undefined> = {
    name: rpm.name, version: rpm.version, release: rpm.release, arch: rpm.arch,
    nvr: `${rpm.name}-${rpm.version}-${rpm.release}`,
    nvra: `${rpm.name}-${rpm.version}-${rpm.release}.${rpm.arch}`,
    first: rpm.name.charAt(0).toLowerCase(),
    distro: distro || undefined,
    releasever,
    debug: /-debug(info|source)$/.test(rpm.name) ? 'debug/' : '',
  };
  let missing = false;
  const out = pattern.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = values[k];
    if (v === undefined) { missing = true; return ''; }
    return encodeURIComponent(v).replace(/%2F/g, '/');
  });
  return missing ? undefined : out;
}

/** Download candidates in order; a URL darkforge would not fetch (a pattern saved by an older version) is left out. */
export function candidateUrls(rpm: RpmCoordinates, kojiUrl: string, patterns: { mirrors: string[]; retrace: string[] }): string[] {
  const fill = (ps: string[]): string[] => ps.map((p) => expandPattern(p, rpm)).filter((u): u is string => !!u);
  return [...new Set([...fill(patterns.mirrors), kojiUrl, ...fill(patterns.retrace)])].filter((u) => isAllowedUrl(u));
}
