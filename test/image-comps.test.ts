import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { UserError } from '../src/lib/errors.ts';
import { fetchComps, groupPackages, mergeComps } from '../src/lib/image/builtin/comps.ts';
import { tempDir } from './helpers/cli.ts';

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
  + '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">\n';

const COMPS_ONE = `${HEAD}<comps>
  <group>
    <id>a</id>
    <name>A</name>
    <name xml:lang="de">Ä &amp; Ö</name>
    <description/>
    <default>true</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">x</packagereq>
      <packagereq type="default">y</packagereq>
      <packagereq type="optional">z</packagereq>
      <packagereq type="conditional" requires="x">w</packagereq>
    </packagelist>
  </group>
  <environment>
    <id>e</id>
    <name>E</name>
    <display_order>007</display_order>
    <grouplist><groupid>a</groupid></grouplist>
    <optionlist><groupid>b</groupid></optionlist>
  </environment>
  <langpacks><match install="foo-%s" name="foo"/></langpacks>
</comps>
`;

const COMPS_TWO = `${HEAD}<comps>
  <group>
    <id>b</id>
    <name>B</name>
    <packagelist>
      <packagereq>p</packagereq>
      <packagereq type="optional">q</packagereq>
    </packagelist>
  </group>
  <group>
    <id>a</id>
    <name>Other A</name>
    <packagelist><packagereq type="mandatory">dup</packagereq></packagelist>
  </group>
  <category>
    <id>c</id>
    <name>C</name>
    <grouplist><groupid>b</groupid></grouplist>
  </category>
  <langpacks><match install="bar-%s" name="bar"/></langpacks>
</comps>
`;

let root: string;
let one: string;
let two: string;
let three: string;
let server: http.Server;
let web: string;

function createrepo(dir: string, comps?: string, extra: string[] = []): void {
  mkdirSync(dir, { recursive: true });
  const args = ['--quiet', ...extra, ...(comps ? ['-g', comps] : []), dir];
  const r = spawnSync('createrepo_c', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `createrepo_c ${args.join(' ')}: ${r.stderr}`);
}

function writeComps(name: string, xml: string): string {
  const f = path.join(root, name);
  writeFileSync(f, xml);
  return f;
}

const fileUrl = (dir: string): string => pathToFileURL(dir).href;

/** Keep only the compressed group entry of a createrepo_c repo, and delete the plain file. */
function onlyCompressedGroup(dir: string, type: string): void {
  const md = path.join(dir, 'repodata', 'repomd.xml');
  const text = readFileSync(md, 'utf8');
  const plain = /\s*<data type="group">[\s\S]*?<\/data>/.exec(text);
  assert.ok(plain, 'createrepo_c wrote a plain group entry');
  assert.match(text, new RegExp(`<data type="${type}">`));
  const href = /<location href="([^"]+)"/.exec(plain[0])![1];
  rmSync(path.join(dir, href));
  writeFileSync(md, text.replace(plain[0], ''));
}

before(async () => {
  root = tempDir('darkforge-comps-');
  one = path.join(root, 'one');
  two = path.join(root, 'two');
  three = path.join(root, 'three');
  createrepo(one, writeComps('one.xml', COMPS_ONE));
  createrepo(two, writeComps('two.xml', COMPS_TWO));
  createrepo(three);

  server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (p.startsWith('/slow/')) return; // never answers
    const m = /^\/two\/(.*)$/.exec(p);
    const file = m && path.join(two, m[1]);
    if (file && !file.includes('..') && existsSync(file) && statSync(file).isFile()) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(file).pipe(res);
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  web = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test('fetchComps merges file:// repos: first repo wins, repos without comps are listed', async () => {
  const { comps, without } = await fetchComps([
    { name: 'one', baseurl: fileUrl(one) },
    { name: 'two', baseurl: `${fileUrl(two)}/` },
    { name: 'three', baseurl: fileUrl(three) },
  ]);
  assert.ok(comps);
  assert.deepEqual(without, ['three']);
  assert.deepEqual([...comps.groups.keys()].sort(), ['a', 'b']);
  assert.deepEqual(comps.groups.get('a'), {
    id: 'a',
    packages: [
      { name: 'x', type: 'mandatory' },
      { name: 'y', type: 'default' },
      { name: 'z', type: 'optional' },
      { name: 'w', type: 'conditional' },
    ],
  });
  assert.deepEqual(comps.groups.get('b')?.packages, [{ name: 'p', type: 'mandatory' }, { name: 'q', type: 'optional' }]);
  assert.deepEqual([...comps.environments], [['e', ['a']]]);

  const xml = comps.xml;
  assert.ok(xml.startsWith(HEAD), xml.slice(0, 200));
  assert.equal(xml.match(/<id>a<\/id>/g)?.length, 1);
  assert.doesNotMatch(xml, /dup|Other A/);
  assert.match(xml, /<name xml:lang="de">Ä &amp; Ö<\/name>/);
  assert.match(xml, /<packagereq type="conditional" requires="x">w<\/packagereq>/);
  assert.match(xml, /<display_order>007<\/display_order>/);
  assert.match(xml, /<category>\s*<id>c<\/id>/);
  // One <langpacks> holding both repos' entries.
  assert.equal(xml.match(/<langpacks>/g)?.length, 1);
  assert.match(xml, /<langpacks>\s*<match install="foo-%s" name="foo"\s*\/>\s*<match install="bar-%s" name="bar"\s*\/>\s*<\/langpacks>/);
  // DTD order: groups, categories, environments, langpacks.
  const order = ['<group>', '<category>', '<environment>', '<langpacks>'].map((t) => xml.lastIndexOf(t));
  assert.deepEqual(order, [...order].sort((x, y) => x - y));

  // The merged document re-parses to the same content, and createrepo_c takes it.
  const again = mergeComps([xml]);
  assert.deepEqual(again.groups, comps.groups);
  assert.deepEqual(again.environments, comps.environments);
  assert.equal(again.xml, xml);
  const merged = path.join(root, 'merged');
  createrepo(merged, writeComps('merged.xml', xml));
  const back = await fetchComps([{ name: 'merged', baseurl: fileUrl(merged) }]);
  assert.deepEqual(back.without, []);
  assert.deepEqual(back.comps?.groups, comps.groups);
});

test('fetchComps reads group_gz and group_xz when the plain group entry is absent', async () => {
  const gz = path.join(root, 'gz');
  createrepo(gz, path.join(root, 'one.xml'));
  onlyCompressedGroup(gz, 'group_gz');
  const xz = path.join(root, 'xz');
  createrepo(xz, path.join(root, 'two.xml'), ['--compress-type', 'xz']);
  onlyCompressedGroup(xz, 'group_xz');
  assert.doesNotMatch(readFileSync(path.join(gz, 'repodata', 'repomd.xml'), 'utf8'), /type="group"/);

  const { comps, without } = await fetchComps([
    { name: 'gz', baseurl: fileUrl(gz) },
    { name: 'xz', baseurl: fileUrl(xz) },
  ]);
  assert.deepEqual(without, []);
  assert.deepEqual(groupPackages(comps!, 'a'), ['x', 'y']);
  assert.deepEqual(groupPackages(comps!, 'b'), ['p']);
});

test('the size cap applies to the decompressed comps and names its URL', async () => {
  const big = path.join(root, 'big');
  const reqs = Array.from({ length: 4000 }, (_, i) => `<packagereq type="default">package-${i}</packagereq>`).join('\n');
  createrepo(big, writeComps('big.xml', `${HEAD}<comps><group><id>big</id><packagelist>${reqs}</packagelist></group></comps>\n`));
  onlyCompressedGroup(big, 'group_gz');
  const gzFile = readdirSync(path.join(big, 'repodata')).find((f) => f.endsWith('-big.xml.gz'))!;
  assert.ok(statSync(path.join(big, 'repodata', gzFile)).size < 50_000);
  await assert.rejects(
    fetchComps([{ name: 'big', baseurl: fileUrl(big) }], { maxBytes: 50_000 }),
    (e: unknown) => e instanceof UserError && e.message.includes(gzFile) && /larger than the 50000 bytes/.test(e.message),
  );
  // The same repo without the cap is fine.
  const ok = await fetchComps([{ name: 'big', baseurl: fileUrl(big) }]);
  assert.equal(ok.comps?.groups.get('big')?.packages.length, 4000);
});

test('fetchComps over http', async () => {
  const { comps, without } = await fetchComps([{ name: 'two', baseurl: `${web}/two` }]);
  assert.deepEqual(without, []);
  assert.deepEqual([...comps!.groups.keys()], ['b', 'a']);
  assert.deepEqual(groupPackages(comps!, 'a'), ['dup']);
});

test('a missing repomd.xml over http is a clear UserError', async () => {
  await assert.rejects(
    fetchComps([{ name: 'two', baseurl: `${web}/two` }, { name: 'none', baseurl: `${web}/none` }]),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.message, `repository none at ${web}/none has no repodata/repomd.xml (HTTP 404)`);
      return true;
    },
  );
});

test('timeouts and http size caps are UserErrors naming the URL', async () => {
  await assert.rejects(
    fetchComps([{ name: 'slow', baseurl: `${web}/slow` }], { timeoutMs: 300, retry: { retryTimeMs: 0 } }),
    (e: unknown) => e instanceof UserError && e.message === `${web}/slow/repodata/repomd.xml: no complete answer within 0.3 s`,
  );
  await assert.rejects(
    fetchComps([{ name: 'two', baseurl: `${web}/two` }], { maxBytes: 100 }),
    (e: unknown) => e instanceof UserError && e.message === `${web}/two/repodata/repomd.xml is larger than the 100 bytes allowed`,
  );
});

test('an unsupported scheme is a UserError naming the repo', async () => {
  await assert.rejects(
    fetchComps([{ name: 'one', baseurl: fileUrl(one) }, { name: 'mirror', baseurl: 'ftp://example.invalid/fedora' }]),
    (e: unknown) => e instanceof UserError && /^repository mirror: /.test(e.message) && e.message.includes('ftp:'),
  );
});

test('no repos, or none with comps, gives no comps', async () => {
  assert.deepEqual(await fetchComps([]), { comps: undefined, without: [] });
  assert.deepEqual(await fetchComps([{ name: 'three', baseurl: fileUrl(three) }]), { comps: undefined, without: ['three'] });
});

test('groupPackages: mandatory and default packages, not optional; unknown group', () => {
  const comps = mergeComps([COMPS_ONE, COMPS_TWO]);
  assert.deepEqual(groupPackages(comps, 'a'), ['x', 'y']);
  assert.deepEqual(groupPackages(comps, 'b'), ['p']);
  assert.equal(groupPackages(comps, 'nope'), undefined);
  // Order matters: the second document's "a" wins when it comes first.
  assert.deepEqual(groupPackages(mergeComps([COMPS_TWO, COMPS_ONE]), 'a'), ['dup']);
});

test('mergeComps refuses documents that are not comps', () => {
  assert.throws(() => mergeComps([COMPS_ONE, '<repomd/>']), (e: unknown) => e instanceof UserError && /comps document 2 is not a comps document/.test(e.message));
  assert.throws(() => mergeComps(['<comps><group></comps>']), (e: unknown) => e instanceof UserError && /comps document 1 is not valid XML/.test(e.message));
});
