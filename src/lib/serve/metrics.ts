// Prometheus text exposition for /metrics. The request metrics keep elfutils debuginfod's names
// (http_requests_total{type}, http_responses_*{code,type}), so dashboards made for debuginfod
// read darkforge too; what only darkforge has (the RPM fetches, the cache bound) is prefixed.
type Labels = Record<string, string>;

interface Family {
  type: 'counter' | 'gauge';
  help: string;
  values: Map<string, number>;
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metrics {
  private readonly families = new Map<string, Family>();
  private readonly gauges = new Map<string, () => number>();

  private family(name: string, type: Family['type'], help: string): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { type, help, values: new Map() };
      this.families.set(name, f);
    }
    return f;
  }

  /** Declare a counter so it shows (at 0) before anything happened. */
  counter(name: string, help: string): void {
    this.family(name, 'counter', help);
  }

  add(name: string, labels: Labels, by = 1): void {
    const f = this.families.get(name);
    if (!f) throw new Error(`metric ${name} was not declared`);
    const key = labelText(labels);
    f.values.set(key, (f.values.get(key) ?? 0) + by);
  }

  /** A gauge read when /metrics is asked for. */
  gauge(name: string, help: string, read: () => number): void {
    this.family(name, 'gauge', help);
    this.gauges.set(name, read);
  }

  render(): string {
    const out: string[] = [];
    for (const [name, f] of this.families) {
      out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      const read = this.gauges.get(name);
      if (read) out.push(`${name} ${read()}`);
      for (const [labels, v] of f.values) out.push(`${name}${labels} ${Number.isInteger(v) ? v : v.toFixed(3)}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/** The metrics `darkserver serve` keeps. */
export function serveMetrics(): Metrics {
  const m = new Metrics();
  m.counter('http_requests_total', 'Requests by route type (debuginfo, executable, source, section, metrics, buildids, ...).');
  m.counter('http_responses_total', 'Answers by result: file (from the cache), fetched (extracted on demand), upstream, error.');
  m.counter('http_responses_transfer_bytes_sum', 'Body bytes sent, by status code and route type.');
  m.counter('http_responses_transfer_bytes_count', 'Answers counted in http_responses_transfer_bytes_sum.');
  m.counter('http_responses_duration_milliseconds_sum', 'Time from request to the last byte sent, by status code and route type.');
  m.counter('http_responses_duration_milliseconds_count', 'Answers counted in http_responses_duration_milliseconds_sum.');
  m.counter('darkforge_cache_hits_total', 'Files answered from the cache, by kind.');
  m.counter('darkforge_cache_misses_total', 'Files that had to be fetched, by kind.');
  m.counter('darkforge_cache_hit_bytes_total', 'Bytes answered from the cache.');
  m.counter('darkforge_cache_evictions_total', 'Cache files removed to stay under --cache-size.');
  m.counter('darkforge_cache_evicted_bytes_total', 'Bytes removed to stay under --cache-size.');
  m.counter('darkforge_fetches_total', 'RPM downloads and upstream fetches, by source (local, mirror, koji, retrace, upstream) and result.');
  m.counter('darkforge_fetch_bytes_total', 'Bytes fetched, by source.');
  m.counter('darkforge_fetch_duration_milliseconds_sum', 'Time spent fetching, by source.');
  m.counter('darkforge_fetch_duration_milliseconds_count', 'Fetches counted in darkforge_fetch_duration_milliseconds_sum.');
  m.counter('darkforge_extractions_total', 'Files extracted from RPMs into the cache, by kind and result.');
  m.counter('darkforge_extracted_from_total', 'Where the RPM of each extracted file was read from, by source.');
  return m;
}
