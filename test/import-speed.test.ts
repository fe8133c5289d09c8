// Import at the speed of the network (issue 15), counted in the fake hub's request log: builds
// resolved in multicalls of many builds (a fault answering for one build alone), one Range
// request per RPM whose headers fit the first range and two for a bigger header, no small reads
// over the network, one kept-alive connection per job; the first range learnt from the headers
// seen; and the hub's per-request latency, which answers concurrent requests side by side.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FirstRange, INITIAL_FIRST_RANGE, MAX_FIRST_RANGE, MIN_FIRST_RANGE } from '../src/lib/import/first-range.ts';
import { HttpSource } from '../src/lib/net/http-source.ts';
import { readRpmHeaders } from '../src/lib/rpm/reader.ts';
import { BACKENDS, freshDb } from './helpers/backends.ts';
import { run } from './helpers/cli.ts';
import { buildsFromRpmDir, rpmPath, startFakeKoji, type FakeBuildSpec, type FakeKoji, type LogLine } from './helpers/fake-koji.ts';
import { FIXTURES, readTruth } from './helpers/paths.ts';
import { rpmSet } from './helpers/rpm-set.ts';

const FAST = { DARKFORGE_BACKOFF_MS: '5' };
const fixtureFiles = readdirSync(FIXTURES).filter((f) => f.endsWith('.rpm')).map((f) => join(FIXTURES, f));
const fixtureBuilds = buildsFromRpmDir(fixtureFiles, { firstId: 1000 });
const BIG = 'df-bighdr-1.0-1';

/** Lead + signature header + main header of an RPM file: where its payload starts. */
async function headerEnd(file: string): Promise<number> {
  const { FileSource } = await import('../src/lib/rpm/source.ts');
  const src = await FileSource.open(file);
  try {
    return (await readRpmHeaders(src)).payloadStart;
  } finally {
    await src.close();
  }
}

/** One build per RPM file, named after the RPM (the set's RPMs share one source RPM). */
function singleRpmBuilds(files: string[], firstId: number): FakeBuildSpec[] {
  return files.flatMap((f, i) => buildsFromRpmDir([f], { firstId: firstId + i })).map((b) => {
    const r = b.rpms[0];
    return { ...b, name: r.name, package_name: r.name, nvr: `${r.name}-${r.version}-${r.release}` };
  });
}

function importCmd(k: FakeKoji, db: string, args: string[]) {
  return run('darkserver', ['import', '--hub', k.hub, '--topurl', k.topurl, '--instance', 'fake', '--db', db, ...args], FAST);
}

const files = (lines: LogLine[]): LogLine[] => lines.filter((l) => l.method === 'GET' && l.path.startsWith('/kojifiles/'));
const posts = (lines: LogLine[]): LogLine[] => lines.filter((l) => l.method === 'POST');
const range = (l: LogLine): [number, number | undefined] => {
  const m = /^bytes=(\d+)-(\d*)$/.exec(l.range ?? '');
  assert.ok(m, `a Range request: ${l.range}`);
  return [Number(m[1]), m[2] ? Number(m[2]) : undefined];
};

describe('the fake hub\'s latency', () => {
  test('latency_ms delays every XML-RPC POST and file request, side by side; /_control is not delayed', async () => {
    const k = await startFakeKoji({ builds: fixtureBuilds, faults: { latency_ms: 400 } });
    try {
      const b = fixtureBuilds.find((x) => x.nvr === 'df-kmod-1.0-1')!;
      const url = `${k.topurl}/${rpmPath(b, b.rpms[0])}`;
      let t = Date.now();
      await (await fetch(`${k.base}/_control`)).json();
      assert.ok(Date.now() - t < 350, `/_control answered in ${Date.now() - t} ms`);
      t = Date.now();
      // 24 requests at once: one after the other they would take 9.6 s.
      const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 3 === 0
        ? fetch(k.hub, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<?xml version="1.0"?><methodCall><methodName>getAPIVersion</methodName><params/></methodCall>' })
        : fetch(url, { method: i % 3 === 1 ? 'GET' : 'HEAD', headers: { range: 'bytes=0-99' } })).then(async (r) => { await r.arrayBuffer(); return r.status; })));
      const took = Date.now() - t;
      assert.deepEqual([...new Set(answers)].sort(), [200, 206]);
      assert.ok(took >= 400, `each request waited (${took} ms)`);
      assert.ok(took < 3000, `side by side, not one after the other (${took} ms for 24 requests of 400 ms)`);
    } finally {
      await k.stop();
    }
  });
});

describe('first range', () => {
  test('starts at 64 KiB, then asks for the 90th percentile of the headers seen, within bounds and never past the file', () => {
    const r = new FirstRange();
    assert.equal(r.bytes(), INITIAL_FIRST_RANGE);
    assert.equal(r.bytes(10_000), 10_000, 'a file smaller than the range: the whole file, no more');
    // Typical packages: 10-20 KB of headers; one in ten bigger.
    for (let i = 0; i < 90; i++) r.record(10_000 + i * 100);
    for (let i = 0; i < 10; i++) r.record(120_000);
    assert.equal(r.bytes(), Math.ceil(18_900 / 4096) * 4096, 'the 90th percentile, rounded up to 4 KiB');
    const small = new FirstRange();
    for (let i = 0; i < 20; i++) small.record(3_000);
    assert.equal(small.bytes(), MIN_FIRST_RANGE, 'never a small read: at least 16 KiB');
    const huge = new FirstRange();
    for (let i = 0; i < 20; i++) huge.record(5 << 20);
    assert.equal(huge.bytes(), MAX_FIRST_RANGE);
    const warming = new FirstRange();
    for (let i = 0; i < 15; i++) warming.record(300_000);
    assert.equal(warming.bytes(), INITIAL_FIRST_RANGE, 'a few RPMs are not yet a distribution');
    warming.record(300_000);
    assert.equal(warming.bytes(), 303_104);
    // A run moves on: the last 512 sizes count.
    for (let i = 0; i < 512; i++) warming.record(20_000);
    assert.equal(warming.bytes(), 20_480);
  });

  test('the HTTP source: a header bigger than the first range costs one more request, at least as big again, and the payload continues where it ends', async () => {
    const b = fixtureBuilds.find((x) => x.nvr === BIG)!;
    const k = await startFakeKoji({ builds: [b] });
    try {
      const url = `${k.topurl}/${rpmPath(b, b.rpms[0])}`;
      const end = await headerEnd(b.rpms[0].file!);
      for (const probe of [4096, 20_000, 65_536]) {
        const start = k.requests().length;
        const src = new HttpSource(url, { probeBytes: probe, expectedSize: b.rpms[0].size });
        const h = await readRpmHeaders(src);
        assert.equal(h.payloadStart, end);
        const rest: Buffer[] = [];
        for await (const chunk of src.rest()) rest.push(chunk as Buffer);
        await src.close();
        assert.equal(src.position + Buffer.concat(rest).length, b.rpms[0].size);
        const gets = files(k.requests().slice(start));
        const ranges = gets.map(range);
        assert.deepEqual(ranges[0], [0, probe - 1]);
        // After the first: each at least as much again as came before (16 KiB at least), in order, no byte twice.
        for (let i = 1; i < ranges.length; i++) {
          const [from, to] = ranges[i];
          assert.equal(from, (ranges[i - 1][1] ?? Infinity) + 1, `request ${i + 1} starts where ${i} ended`);
          if (to !== undefined) assert.ok(to + 1 - from >= Math.max(16384, from), `request ${i + 1}: ${l(gets[i])}`);
        }
        const headers = ranges.filter(([, to]) => to !== undefined && to < end);
        assert.ok(headers.length <= 3 && gets.length <= headers.length + 2, `${gets.length} requests with a first range of ${probe}: ${gets.map(l).join(', ')}`);
        assert.equal(ranges.filter(([, to]) => to === undefined).length, 1, 'the payload: one open-ended request');
        assert.equal(gets.reduce((n, x) => n + x.bytes, 0), b.rpms[0].size, 'every byte once');
      }
    } finally {
      await k.stop();
    }
  });
});

const l = (x: LogLine): string => `${x.range} (${x.bytes} B)`;

for (const backend of BACKENDS) {
  describe(`import speed, ${backend}`, () => {
    let set: ReturnType<typeof rpmSet>;
    let builds: FakeBuildSpec[];
    let k: FakeKoji;
    before(async () => {
      set = rpmSet(150, 1, { seed: 'speed' });
      builds = singleRpmBuilds(set.files, 20_000);
      k = await startFakeKoji({ builds: [...builds, ...fixtureBuilds] });
    });
    after(async () => { await k?.stop(); });

    test('150 builds resolved in 2 multicalls (getBuild and listRPMs of 100 builds at most), 20 N-V-Rs in one; one request per RPM, over --jobs kept-alive connections', async () => {
      const db = await freshDb(backend, 'speed');
      const start = k.requests().length;
      const byNvr = builds.slice(0, 20).map((b) => b.nvr);
      const r = importCmd(k, db, ['--jobs', '4', '--json', ...byNvr, ...builds.slice(20).map((b) => String(b.id))]);
      assert.equal(r.code, 0, r.stderr);
      const sum = JSON.parse(r.stdout);
      assert.equal(sum.builds.imported, 150);
      assert.equal(sum.rpms.indexed, 150);
      assert.equal(sum.rpms.headerOnly, 150);
      const lines = k.requests().slice(start);
      const rpc = posts(lines);
      // The N-V-Rs (one getBuild each), then pages of 100 builds: getBuild of those not known yet, listRPMs of each.
      assert.deepEqual(rpc.map((x) => (x.rpc as string[]).length), [20, 20 + 80 * 2, 50 * 2]);
      assert.ok(rpc.every((x) => Array.isArray(x.rpc) && x.status === 200));
      assert.deepEqual(new Set((rpc[0].rpc as string[])), new Set(['getBuild']));
      const gets = files(lines);
      assert.equal(gets.length, 150, 'one Range request per RPM');
      assert.equal(new Set(gets.map((x) => x.path)).size, 150);
      // Each a file smaller than the first range: the one request asks for exactly the whole file (Koji's size).
      const size = new Map(builds.map((b) => [`/kojifiles/${rpmPath(b, b.rpms[0])}`, b.rpms[0].size]));
      for (const g of gets) {
        assert.deepEqual(range(g), [0, size.get(g.path)! - 1], g.path);
        assert.equal(g.bytes, size.get(g.path));
      }
      assert.ok((lines.length) / 150 <= 1.05, `${lines.length} requests for 150 RPMs`);
      const ports = new Set(lines.map((x) => x.port));
      assert.ok(ports.size <= 4, `kept-alive connections, one per job at most: ${ports.size} client ports`);
      // Every build-id of the set is indexed.
      const q = JSON.parse(run('darkserver', ['query', '--json', '--db', db, ...set.buildIds.slice(0, 40)]).stdout) as { buildid: string }[];
      assert.deepEqual(new Set(q.map((x) => x.buildid)), new Set(set.buildIds.slice(0, 40)));
    });

    test('a fault about one build in a multicall fails that build alone; the rest is imported', async () => {
      const db = await freshDb(backend, 'fault');
      const bad = [builds[3].id, builds[140].id];
      await k.control({ faults: { fault_builds: bad } });
      try {
        const start = k.requests().length;
        const r = importCmd(k, db, ['--jobs', '8', ...builds.map((b) => String(b.id))]);
        assert.equal(r.code, 1);
        const lines = r.stderr.trim().split('\n');
        for (const id of bad) {
          assert.ok(lines.some((x) => new RegExp(`^darkserver import: build ${id}: Koji hub http://127\\.0\\.0\\.1:\\d+/kojihub: getBuild\\(${id}\\) failed: fault 1000: injected fault for build ${id}$`).test(x)), r.stderr);
        }
        assert.equal(lines.length, 3, `one line per failed build and the summary:\n${r.stderr}`);
        assert.equal(posts(k.requests().slice(start)).length, 2);
        const jobs = JSON.parse(run('darkserver', ['jobs', '--json', '--db', db]).stdout);
        assert.equal(jobs.builds.done, 148);
        assert.equal(jobs.builds.failed, 2);
        assert.deepEqual(jobs.pending.filter((p: { state: string }) => p.state === 'failed').map((p: { koji_build_id: number }) => p.koji_build_id).sort(), [...bad].sort());
        await k.control({ faults: { fault_builds: [] } });
        const again = importCmd(k, db, bad.map(String));
        assert.equal(again.code, 0, again.stderr);
        assert.equal(JSON.parse(run('darkserver', ['jobs', '--json', '--db', db]).stdout).builds.done, 150);
      } finally {
        await k.control({ faults: { fault_builds: [] } });
      }
    });

    test('an RPM fetched whole by its first range is checked against its SIGMD5; one whose payload was never fetched cannot be', async () => {
      const small = fixtureBuilds.find((b) => b.nvr === 'df-kmod-1.0-1')!;
      const big = fixtureBuilds.find((b) => b.nvr === BIG)!;
      const nvra = (b: FakeBuildSpec): string => `${b.rpms[0].nvr}.${b.rpms[0].arch}`;
      await k.control({ faults: { corrupt: [nvra(small), nvra(big)] } });
      try {
        const db = await freshDb(backend, 'corrupt');
        const start = k.requests().length;
        const r = importCmd(k, db, [String(small.id), String(big.id)]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`^darkserver import: ${nvra(small)}: checksum mismatch: content MD5 is [0-9a-f]{32}, the package's SIGMD5 is ${small.rpms[0].payloadhash}: the file is damaged$`, 'm'));
        assert.equal(run('darkserver', ['query', '--db', db, '--rpm', nvra(small)]).code, 1, 'nothing indexed from the damaged RPM');
        assert.equal(files(k.requests().slice(start)).filter((x) => x.path.endsWith(`/${nvra(small)}.rpm`)).length, 1, 'checked without another request');
        // Its header (and its digest) is sound, and the flipped byte lies in the payload, which a
        // header-only import never fetches.
        assert.equal(run('darkserver', ['query', '--db', db, '--rpm', nvra(big)]).code, 0);
      } finally {
        await k.control({ faults: { corrupt: [] } });
      }
    });

    test('the big-header fixture costs two requests (the second from where the first ended, through the headers), every other fixture one', async () => {
      const db = await freshDb(backend, 'big');
      const start = k.requests().length;
      const r = importCmd(k, db, ['--json', ...fixtureBuilds.map((b) => String(b.id))]);
      assert.equal(r.code, 0, r.stderr);
      const lines = k.requests().slice(start);
      const big = fixtureBuilds.find((b) => b.nvr === BIG)!.rpms[0];
      const end = await headerEnd(big.file!);
      assert.ok(end > INITIAL_FIRST_RANGE, `the fixture's header (${end} B) is bigger than the first range`);
      const bigGets = files(lines).filter((x) => x.path.endsWith(`/${big.nvr}.${big.arch}.rpm`));
      assert.deepEqual(bigGets.map(range), [[0, INITIAL_FIRST_RANGE - 1], [INITIAL_FIRST_RANGE, end - 1]], bigGets.map(l).join(', '));
      const id = readTruth(FIXTURES).find((t) => t.rpm === `${big.nvr}.${big.arch}.rpm`)!.buildId!;
      assert.match(run('darkserver', ['query', '--db', db, id]).stdout, /\/usr\/bin\/df-bighdr\n$/);
      // Every other fixture is smaller than the first range: one request brings the whole file,
      // payload included for the two whose payload must be read.
      const sum = JSON.parse(r.stdout);
      assert.equal(sum.rpms.payload, 2);
      const others = files(lines).filter((x) => !x.path.endsWith(`/${big.nvr}.${big.arch}.rpm`));
      const binary = fixtureBuilds.flatMap((b) => b.rpms).filter((x) => x.arch !== 'src' && x.nvr !== big.nvr);
      assert.equal(others.length, binary.length, others.map((x) => `${x.path} ${l(x)}`).join('\n'));
      assert.equal(new Set(others.map((x) => x.path)).size, binary.length, 'one request per RPM');
      const size = new Map(fixtureBuilds.flatMap((b) => b.rpms.map((x) => [`/kojifiles/${rpmPath(b, x)}`, x.size])));
      for (const x of others) assert.deepEqual(range(x), [0, Math.min(INITIAL_FIRST_RANGE, size.get(x.path)!) - 1], x.path);
    });
  });
}
