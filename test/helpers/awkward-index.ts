// An index with the values a copy between backends must carry unchanged: text with tabs,
// newlines, carriage returns, backslashes and COPY's own "\N", quotes, non-ASCII and very long
// values, empty strings, NULL beside 0, numbers past 2^31 and up to 2^52, build-ids of 4 and 32
// bytes, a type the schema does not seed; and an import queue in every state (a claim held by a
// worker, a failure whose message is awkward too), a Koji instance, an image job.
import { join } from 'node:path';
import type { RpmRecord, Store, WorkerRef } from '../../src/lib/store/port.ts';

const TEXTS = ['tab\there', 'new\nline', 'cr\rhere', 'back\\slash', '\\N', 'ends with \\', '\\x41', 'quote"\'`', 'ärger ünïcödé', '🦀 crab',
  'e\u0301 combining', ' leading space', 'a'.repeat(2000)];

export const AWKWARD_IDS = ['deadbeef', 'ab'.repeat(32), '00'.repeat(20), 'ff'.repeat(20)];

export function awkwardRecords(): RpmRecord[] {
  const out: RpmRecord[] = [];
  const build = (nvr: string, over: Partial<RpmRecord['build']> = {}): RpmRecord['build'] => {
    const [, name, version, release] = /^(.*)-([^-]+)-([^-]+)$/.exec(nvr)!;
    return { name, version, release, nvr, distro: 'fc40', ...over };
  };
  TEXTS.forEach((t, i) => {
    const name = `awk${i}`;
    out.push({
      instance: i % 3 === 0 ? 'local' : i % 3 === 1 ? 'koji' : `inst ${t.slice(0, 20)}`,
      pkgid: `pkgid-${i}-${t.slice(0, 30)}`,
      build: build(`${name}-1.${i}-1.fc40`, { kojiBuildId: i % 2 ? 2 ** 31 + i : undefined, distro: i % 4 ? 'fc40' : '' }),
      name, epoch: i % 3 === 0 ? undefined : i % 3 === 1 ? 0 : 3, version: `1.${i}`, release: '1.fc40', arch: i % 2 ? 'x86_64' : 'noarch',
      nvra: `${name}-1.${i}-1.fc40.${i % 2 ? 'x86_64' : 'noarch'}`,
      sourceRpm: i % 2 ? `${name}-1.${i}-1.fc40.src.rpm` : undefined,
      url: `https://example.org/p/${encodeURIComponent(t.slice(0, 40))}/${t.slice(0, 40)}.rpm`,
      size: i % 2 ? 2 ** 40 + i : undefined,
      payloadCompressor: i % 2 ? 'zstd' : undefined,
      method: i % 2 ? 'header' : 'payload', elfFiles: 3, elfWithoutBuildId: i % 2,
      rows: [
        { path: `/usr/bin/${t}`, buildId: AWKWARD_IDS[i % AWKWARD_IDS.length], type: 'executable' },
        { path: `/usr/lib/debug/usr/bin/${t}-1.${i}-1.fc40.x86_64.debug`, buildId: AWKWARD_IDS[(i + 1) % AWKWARD_IDS.length], type: 'debuginfo' },
        { path: t, buildId: 'c0ffee00'.repeat(5), type: (i % 2 ? 'future-type' : 'other') as RpmRecord['rows'][number]['type'] },
        { path: '', buildId: 'c0ffee00'.repeat(5), type: 'relocatable' },
      ],
    });
  });
  return out;
}

const W: WorkerRef = { id: 'laptop:4242:cafe', host: 'laptop', pid: 4242 };

/** Koji instances, a queue with a done, a failed, a running and a queued RPM, a build never listed (--full), a follow mark, and one image job. */
export async function fillQueueAndJobs(s: Store): Promise<void> {
  await s.saveInstance({ name: 'koji', hub: 'https://koji.example/kojihub', topurl: 'https://koji.example/kojifiles', weburl: 'https://koji.example/koji',
    mirrors: ['https://m.example/{nvra}\t.rpm', 'back\\slash'], retrace: ['https://retrace.example/\\N/'] });
  await s.saveInstance({ name: 'inst\ttab', hub: 'http://h\n/', topurl: 'http://t/', mirrors: [], retrace: [] });
  const q = s.queue;
  const b = await q.addBuild('koji', 2 ** 31 + 7, 'queued-1-1.fc40');
  await q.expandBuild(b, ['a', 'b', 'c', 'd'].map((n, i) => ({
    koji_rpm_id: 2 ** 40 + i, nvra: `${n}-1-1.fc40.x86_64`, url: `https://k/${n}\t.rpm`, payloadhash: i % 2 ? null : `${'0f'.repeat(16)}`, size: i ? 2 ** 33 : null,
  })), { kojiState: 1, nvr: 'queued-1-1.fc40' });
  const done = (await q.claimRpm(W, { instance: 'koji', leaseMs: 600_000 }))!;
  await q.completeRpm(done.id, W, undefined, { method: 'already', bytes: 123 });
  const failed = (await q.claimRpm(W, { instance: 'koji', leaseMs: 600_000 }))!;
  await q.failRpm(failed.id, W, { error: 'HTTP 503\tafter 5 tries\nline two \\N', bytes: 0 });
  await q.claimRpm(W, { instance: 'koji', leaseMs: 600_000 }); // stays running: held by the laptop's worker
  await q.addBuild('koji', 99, undefined, { fullScan: true }); // never listed, to be read whole
  await q.setFollowMark({ instance: 'inst\ttab', event_id: 2 ** 40 + 1, event_ts: 1_700_000_000.654321, since_ts: 1_699_999_000.5 }, { reset: true });
  const other = await q.addBuild('inst\ttab', 5, 'x-1-1');
  await q.setBuild(other.id, 'skipped', { kojiState: 3, error: 'DELETED\tin Koji' });
  const root = join('/nonexistent', 'jobs');
  await s.imageJobs.create({ type: 'dvd', arch: 'x86_64', backend: 'pungi', config: '{"a":"\\t"}', pid: 1, host: 'laptop' },
    { claimDir: (id) => ({ jobDir: join(root, String(id)), logPath: join(root, String(id), 'job.log') }), releaseDir: () => undefined });
}
