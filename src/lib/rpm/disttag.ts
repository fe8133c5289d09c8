// The dist tag of a release ("2.fc38" -> "fc38", "1.el7_9" -> "el7_9"), as darkserver's
// `distro` column held it; "" when the release carries none.

const KNOWN = /^(fc|el|eln|rhel|centos|ol|amzn|mga|mdv|mdk|suse|sles|sle|lp|ph|azl|cm|an|ocs|vl|rh)\d/;

export function distTag(release: string): string {
  const parts = release.split('.');
  for (let i = parts.length - 1; i >= 1; i--) {
    const p = parts[i];
    if (KNOWN.test(p)) return p.split('+')[0];
  }
  return '';
}

/** Split "name-version-release" from the right, as rpm does. */
export function splitNvr(nvr: string): { name: string; version: string; release: string } | undefined {
  const r = nvr.lastIndexOf('-');
  if (r <= 0) return undefined;
  const v = nvr.lastIndexOf('-', r - 1);
  if (v <= 0) return undefined;
  return { name: nvr.slice(0, v), version: nvr.slice(v + 1, r), release: nvr.slice(r + 1) };
}
