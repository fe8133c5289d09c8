import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UserError } from '../src/lib/errors.ts';
import { OutageLog } from '../src/lib/net/outages.ts';
import {
  addRepo, flattenKickstart, loadKickstart, parseKickstartSummary, unifiedDiff,
} from '../src/lib/image/kickstart.ts';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'kickstart');

const MINI_FLAT = `# fedora-live-mini.ks: a small live image
# fedora-live-base.ks
lang en_US.UTF-8
keyboard us
timezone US/Eastern --utc
auth --useshadow --passalgo=sha512
selinux --enforcing
firewall --enabled --service=mdns
part / --size 3072 --fstype ext4
services --enabled=NetworkManager,ModemManager --disabled=network,sshd
rootpw --lock --iscrypted locked

%packages
@base-x
@guest-desktop-agents
kernel
-@dial-up
-gnome-initial-setup
%end

%post --nochroot
cp $INSTALL_ROOT/usr/share/licenses/*-release/* $LIVE_ROOT/
%end
repo --name="fedora" --mirrorlist=https://mirrors.fedoraproject.org/mirrorlist?repo=fedora-$releasever&arch=$basearch
repo --name=updates --mirrorlist=https://mirrors.fedoraproject.org/mirrorlist?repo=updates-released-f$releasever&arch=$basearch --excludepkgs="fedora-productimg-*,kernel-debug"

%packages --excludedocs
@core
# packages the mini spin adds
firefox
-abrt*
%end

%post
# this is shell: the next line is text for the script, not an include
%include /not/a/kickstart.ks
echo "mini" > /etc/mini-release
%end
`;

/** flattenKickstart over an in-memory tree of "/ks/..." files. */
function memFetch(files: Record<string, string>) {
  const read: string[] = [];
  const fetch = async (loc: string): Promise<string> => {
    read.push(loc);
    if (!(loc in files)) throw new UserError(`kickstart ${loc} does not exist`);
    return files[loc];
  };
  return { fetch, read };
}

async function rejectsUser(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

test('includes: relative to the including file, nested, inside %packages; %post text untouched', async () => {
  const { text, sources } = await loadKickstart('live/fedora-live-mini.ks', { baseDir: FIX });
  assert.equal(text, MINI_FLAT);
  assert.deepEqual(sources.map((s) => path.relative(FIX, s)), [
    'live/fedora-live-mini.ks', 'live/fedora-live-base.ks', 'common/locale.ks',
    'live/snippets/mini-repos.ks', 'live/snippets/mirror.ks', 'live/snippets/mini-packages.ks',
  ]);
});

test('an include loop is refused, naming the chain', async () => {
  await rejectsUser(loadKickstart(path.join(FIX, 'loop/a.ks')), /b\.ks:2: %include loop: .*a\.ks -> .*b\.ks -> .*a\.ks$/);
});

test('a missing include names the file and the including kickstart with its line', async () => {
  await rejectsUser(loadKickstart('missing/main.ks', { baseDir: FIX }),
    /missing\/main\.ks:3: cannot %include nothere\.ks: kickstart .*missing\/nothere\.ks does not exist/);
  // One level down, the chain of including files is named too.
  const { fetch } = memFetch({ '/ks/b.ks': 'lang C\n%include gone.ks\n' });
  await rejectsUser(flattenKickstart('# top\n%include b.ks\n', { origin: '/ks/top.ks', fetch }),
    /^\/ks\/b\.ks:2: cannot %include gone\.ks: kickstart \/ks\/gone\.ks does not exist \(\/ks\/b\.ks is included from \/ks\/top\.ks:2\)$/);
  await rejectsUser(flattenKickstart('%include\n', { origin: '/ks/top.ks', fetch }), /top\.ks:1: %include needs a file or URL/);
});

test('a top-level location that does not exist is a UserError naming it', async () => {
  await rejectsUser(loadKickstart('nope.ks', { baseDir: FIX }), /kickstart .*kickstart\/nope\.ks does not exist/);
});

test('%ksappend inlines its file where it stands, before the scripts; the same file may come twice', async () => {
  const { fetch, read } = memFetch({
    '/ks/extra/site.ks': 'rootpw --plaintext changeme\r\n%include more.ks\r\n',
    '/ks/extra/more.ks': 'services --enabled=sshd',
    '/ks/common.ks': '# common\n',
  });
  const top = 'lang C\r\n%ksappend extra/site.ks\r\n%include common.ks\r\n%include common.ks\r\n%pre\r\necho hi\r\n%end\r\n';
  const flat = await flattenKickstart(top, { origin: 'top.ks', baseDir: '/ks', fetch });
  assert.equal(flat, 'lang C\nrootpw --plaintext changeme\nservices --enabled=sshd\n# common\n# common\n%pre\necho hi\n%end\n');
  assert.deepEqual(read, ['/ks/extra/site.ks', '/ks/extra/more.ks', '/ks/common.ks', '/ks/common.ks']);
});

test('script sections are kept byte for byte, %include and %ksappend lines inside them included', async () => {
  const scripts = [
    '%pre --interpreter=/usr/bin/bash\n%include /tmp/part-include\n  %ksappend x\n# comment\n\n%end',
    '%pre-install\n%include /tmp/x\n%end',
    '%post --nochroot --log=/mnt/sysimage/root/ks-post.log\ncat <<EOF > /etc/x\n%include y.ks\nEOF\n%end',
    '%onerror\n%include z\n%end',
    '%traceback\n%include z\n%end',
    '%addon com_redhat_kdump --enable\n%include z\n%end',
  ].join('\n\n') + '\n';
  const { fetch, read } = memFetch({});
  assert.equal(await flattenKickstart(scripts, { origin: '/ks/a.ks', fetch }), scripts);
  assert.deepEqual(read, []);
});

test('flattening stops at the depth limit', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`/ks/n${i}.ks`] = `%include n${i + 1}.ks\n`;
  await rejectsUser(flattenKickstart('%include n0.ks\n', { origin: '/ks/top.ks', fetch: memFetch(files).fetch }),
    /^\/ks\/n15\.ks:1: %include nested more than 16 deep \(\/ks\/n15\.ks is included from \/ks\/n14\.ks:1, from \/ks\/n13\.ks:1, from …, from \/ks\/top\.ks:1\)$/);
});

// ---- network sources --------------------------------------------------------------------------

let server: http.Server;
let base: string;
const hits: string[] = [];

before(async () => {
  server = http.createServer(async (req, res) => {
    hits.push(req.url!);
    if (req.url === '/slow.ks') return; // never answers
    if (req.url === '/live/moved.ks') { res.writeHead(302, { location: '/live/fedora-live-mini.ks' }).end(); return; }
    if (req.url === '/big.ks') { res.end('#'.repeat(5000)); return; }
    if (req.url === '/includes-missing.ks') { res.end('lang C\n%include /gone.ks\n'); return; }
    try {
      res.end(await readFile(path.join(FIX, decodeURIComponent(req.url!))));
    } catch {
      res.writeHead(404).end('not here');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test('http: relative includes resolve against the including URL', async () => {
  const { text, sources } = await loadKickstart(`${base}/live/fedora-live-mini.ks`);
  assert.equal(text, MINI_FLAT);
  assert.deepEqual(sources.map((s) => s.slice(base.length)), [
    '/live/fedora-live-mini.ks', '/live/fedora-live-base.ks', '/common/locale.ks',
    '/live/snippets/mini-repos.ks', '/live/snippets/mirror.ks', '/live/snippets/mini-packages.ks',
  ]);
  assert.equal((await loadKickstart(`${base}/live/moved.ks`)).text, MINI_FLAT, 'redirects are followed');
});

test('http: a local kickstart may include a URL', async () => {
  const { fetch } = memFetch({});
  const got = await flattenKickstart(`%include ${base}/common/locale.ks\n`, {
    origin: '/ks/top.ks', fetch: async (loc) => (loc.startsWith('http') ? (await loadKickstart(loc)).text : fetch(loc)),
  });
  assert.equal(got, 'lang en_US.UTF-8\nkeyboard us\ntimezone US/Eastern --utc\n');
});

test('http: 404, timeout and size cap are UserErrors naming the URL', async () => {
  await rejectsUser(loadKickstart(`${base}/none.ks`), new RegExp(`^kickstart ${base}/none\\.ks not found \\(HTTP 404\\)$`));
  await rejectsUser(loadKickstart(`${base}/includes-missing.ks`),
    new RegExp(`^${base}/includes-missing\\.ks:2: cannot %include /gone\\.ks: kickstart ${base}/gone\\.ks not found \\(HTTP 404\\)$`));
  await rejectsUser(loadKickstart(`${base}/slow.ks`, { timeoutMs: 300, retry: { retryTimeMs: 0 } }), new RegExp(`kickstart ${base}/slow\\.ks: no complete answer within 0\\.3 s$`));
  // Retried within the budget, then said with the attempts.
  await rejectsUser(loadKickstart(`${base}/slow.ks`, { timeoutMs: 300, retry: { retryTimeMs: 700, backoffMs: 1 } }),
    new RegExp(`kickstart ${base}/slow\\.ks: no complete answer within 0\\.3 s after [2-9] attempts in [\\d.]+ s$`));
  await rejectsUser(loadKickstart(`${base}/big.ks`, { maxBytes: 1000 }), /big\.ks is larger than the 1000 bytes allowed/);
  await rejectsUser(loadKickstart('http://127.0.0.1:1/x.ks', { timeoutMs: 2000, retry: { retryTimeMs: 0 } }), /^cannot fetch kickstart http:\/\/127\.0\.0\.1:1\/x\.ks: connection refused \(ECONNREFUSED\)$/);
  await rejectsUser(loadKickstart('nfs://server/x.ks'), /not nfs:/);
});

/** A passive-mode FTP server that knows a few files; EPSV is refused so PASV gets used. */
async function fakeFtp(files: Record<string, string>, o: { busy?: number } = {}) {
  const log: string[] = [];
  let busy = o.busy ?? 0;
  const srv = net.createServer((ctl) => {
    let data: net.Socket | undefined;
    let dataReady: Promise<net.Socket> | undefined;
    ctl.on('error', () => {});
    // vsftpd's answer when it has max_clients already: 421, then it hangs up.
    if (busy > 0) { busy--; log.push('421'); ctl.end('421 There are too many connected users, please try later.\r\n'); return; }
    ctl.write('220-Welcome\r\n220 fake ftp\r\n');
    let buf = '';
    ctl.on('data', async (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const [cmd, ...rest] = buf.slice(0, nl).split(' ');
        const arg = rest.join(' ');
        buf = buf.slice(nl + 2);
        log.push(`${cmd} ${arg}`.trim());
        if (cmd === 'USER') ctl.write('331 password please\r\n');
        else if (cmd === 'PASS') ctl.write('230 ok\r\n');
        else if (cmd === 'TYPE') ctl.write('200 binary\r\n');
        else if (cmd === 'EPSV') ctl.write('500 no EPSV here\r\n');
        else if (cmd === 'PASV') {
          const ds = net.createServer();
          dataReady = new Promise((r) => ds.once('connection', (s) => { ds.close(); r(s); }));
          await new Promise<void>((r) => ds.listen(0, '127.0.0.1', r));
          const p = (ds.address() as net.AddressInfo).port;
          // An unroutable address, as from behind NAT: the client must use the control host.
          ctl.write(`227 Entering Passive Mode (10,255,255,1,${p >> 8},${p & 255})\r\n`);
        } else if (cmd === 'RETR') {
          data = await dataReady!;
          if (!(arg in files)) { data.destroy(); ctl.write('550 No such file\r\n'); continue; }
          ctl.write('150 here it comes\r\n');
          data.end(files[arg], () => ctl.write('226 done\r\n'));
        } else if (cmd === 'QUIT') ctl.end('221 bye\r\n');
        else ctl.write('502 ?\r\n');
      }
    });
    ctl.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, log, url: `ftp://127.0.0.1:${(srv.address() as net.AddressInfo).port}` };
}

test('ftp: anonymous passive RETR, relative includes, 550 as not found', async () => {
  const { srv, log, url } = await fakeFtp({ 'pub/ks/top.ks': 'lang C\n%include part.ks\n', 'pub/ks/part.ks': 'keyboard us\n' });
  try {
    const { text, sources } = await loadKickstart(`${url}/pub/ks/top.ks`);
    assert.equal(text, 'lang C\nkeyboard us\n');
    assert.deepEqual(sources, [`${url}/pub/ks/top.ks`, `${url}/pub/ks/part.ks`]);
    assert.deepEqual(log.slice(0, 6), ['USER anonymous', 'PASS anonymous@', 'TYPE I', 'EPSV', 'PASV', 'RETR pub/ks/top.ks']);
    await rejectsUser(loadKickstart(`${url}/pub/none.ks`), new RegExp(`^kickstart ${url}/pub/none\\.ks not found \\(FTP 550 No such file\\)$`));
  } finally {
    srv.close();
  }
});

test('ftp: a server that is full (421) or not listening is asked again within the retry budget, then one sentence', async () => {
  const { srv, log, url } = await fakeFtp({ 'pub/a.ks': 'lang C\n' }, { busy: 3 });
  try {
    const lines: string[] = [];
    const { text } = await loadKickstart(`${url}/pub/a.ks`, { retry: { backoffMs: 1, outages: new OutageLog((l) => lines.push(l), { quietMs: 0 }) } });
    assert.equal(text, 'lang C\n');
    assert.deepEqual(log.slice(0, 4), ['421', '421', '421', 'USER anonymous']);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0], new RegExp(`^${url}: FTP 421 There are too many connected users, please try later\\.; waiting for it`));
    assert.match(lines[1], new RegExp(`^${url}: answering again after`));
  } finally {
    srv.close();
  }
  const full = await fakeFtp({ 'pub/a.ks': 'lang C\n' }, { busy: 1000 });
  try {
    await rejectsUser(loadKickstart(`${full.url}/pub/a.ks`, { retry: { backoffMs: 1, retryTimeMs: 200 } }),
      new RegExp(`^kickstart ${full.url}/pub/a\\.ks: the FTP server answered "421 There are too many connected users, please try later\\." after \\d+ attempts in 0\\.\\d s$`));
  } finally {
    full.srv.close();
  }
  await rejectsUser(loadKickstart('ftp://127.0.0.1:1/x.ks', { retry: { backoffMs: 1, retryTimeMs: 100 } }),
    /^cannot fetch kickstart ftp:\/\/127\.0\.0\.1:1\/x\.ks: connection refused \(ECONNREFUSED\) after \d+ attempts in 0\.\d s$/);
});

// ---- editing and reading ----------------------------------------------------------------------

test('addRepo goes after the last repo line, else after the commands, and refuses a second name', () => {
  const side = { name: 'siderepo', baseurl: 'file:///tmp/live_work/siderepo' };
  const withRepos = 'lang C\nrepo --name=fedora --baseurl=http://a/\nrepo --name=updates --baseurl=http://b/\nkeyboard us\n\n%packages\n@core\n%end\n';
  assert.equal(addRepo(withRepos, side),
    'lang C\nrepo --name=fedora --baseurl=http://a/\nrepo --name=updates --baseurl=http://b/\nrepo --name=siderepo --baseurl=file:///tmp/live_work/siderepo\nkeyboard us\n\n%packages\n@core\n%end\n');

  const noRepos = '#version=DEVEL\nlang C\nkeyboard us\n\n# what goes in\n%packages\n@core\n%end\n%post\nrepo --name=x --baseurl=y\n%end\n';
  assert.equal(addRepo(noRepos, { name: 'side repo', baseurl: 'file:///srv/side' }),
    '#version=DEVEL\nlang C\nkeyboard us\nrepo --name="side repo" --baseurl=file:///srv/side\n\n# what goes in\n%packages\n@core\n%end\n%post\nrepo --name=x --baseurl=y\n%end\n');

  assert.equal(addRepo('%post\necho\n%end\n', side), 'repo --name=siderepo --baseurl=file:///tmp/live_work/siderepo\n%post\necho\n%end\n');
  assert.equal(addRepo('lang C', side), 'lang C\nrepo --name=siderepo --baseurl=file:///tmp/live_work/siderepo\n');

  // Quoted names count too; a repo line inside %post is script text and does not.
  assert.throws(() => addRepo('repo --name="siderepo" --baseurl=http://x/\n', side),
    (e: unknown) => e instanceof UserError && /already has a repo named "siderepo" \(line 1\)/.test(e.message));
  assert.throws(() => addRepo('repo --name siderepo --baseurl=http://x/\n', side), UserError);
  assert.equal(addRepo(noRepos, { name: 'x', baseurl: 'http://z/' }).includes('repo --name=x --baseurl=http://z/\n\n# what'), true);
  assert.throws(() => addRepo('lang C\n', { name: 'a', baseurl: 'http://x/ y' }), UserError);
});

test('the summary of a Fedora-like kickstart', async () => {
  const sum = parseKickstartSummary(await readFile(path.join(FIX, 'fedora-workstation.ks'), 'utf8'));
  assert.deepEqual(sum.repos, [
    { name: 'fedora', mirrorlist: 'https://mirrors.fedoraproject.org/mirrorlist?repo=fedora-$releasever&arch=$basearch' },
    {
      name: 'updates', metalink: 'https://mirrors.fedoraproject.org/metalink?repo=updates-released-f$releasever&arch=$basearch',
      excludes: ['fedora-productimg-cloud', 'kernel-debug*'],
    },
    { name: 'local tools', baseurl: 'file:///srv/repo/with space', includepkgs: ['tool-a', 'tool-b'] },
  ]);
  assert.deepEqual(sum.packages, {
    include: ['kernel', 'kernel-modules', 'glibc-all-langpacks'],
    exclude: ['gfs2-utils', 'reiserfs-utils'],
    groups: ['^workstation-product-environment', 'core', 'anaconda-tools'],
    excludedGroups: ['dial-up', 'input-methods'],
    options: ['--nocore', '--excludedocs', '--instLangs=en_US'],
  });
  assert.equal(sum.lang, 'en_US.UTF-8');
  assert.equal(sum.keyboard, 'us');
  assert.equal(sum.timezone, 'America/New_York');
  assert.deepEqual(sum.rootpw, { value: '$6$saltsalt$SomeHash.Value/xyz', iscrypted: true, lock: false });
  assert.deepEqual(sum.services, { enabled: ['NetworkManager', 'ModemManager', 'chronyd'], disabled: ['sshd'] });
  assert.deepEqual(sum.posts, [
    { interpreter: '/usr/bin/python3', nochroot: false, erroronfail: false, body: 'print("hello from %post")\n' },
    { interpreter: '/bin/bash', nochroot: true, erroronfail: false, body: 'cp /etc/resolv.conf $INSTALL_ROOT/etc/\n' },
    { nochroot: false, erroronfail: true, body: 'systemctl enable sshd\n' },
  ]);
});

test('the summary of the flattened live kickstart merges its %packages sections', async () => {
  const sum = parseKickstartSummary(MINI_FLAT);
  assert.deepEqual(sum.packages.groups, ['base-x', 'guest-desktop-agents', 'core']);
  assert.deepEqual(sum.packages.include, ['kernel', 'firefox']);
  assert.deepEqual(sum.packages.exclude, ['gnome-initial-setup', 'abrt*']);
  assert.deepEqual(sum.repos.map((r) => [r.name, r.excludes]), [['fedora', undefined], ['updates', ['fedora-productimg-*', 'kernel-debug']]]);
  assert.deepEqual(sum.rootpw, { value: 'locked', iscrypted: true, lock: true });
  assert.equal(sum.keyboard, 'us');
  assert.equal(sum.posts.length, 2);
  assert.equal(sum.posts[1].body, '# this is shell: the next line is text for the script, not an include\n%include /not/a/kickstart.ks\necho "mini" > /etc/mini-release\n');
});

test('unifiedDiff: the side repo added to a kickstart', () => {
  const old = 'lang C\nkeyboard us\ntimezone UTC\nrepo --name=fedora --baseurl=http://a/\nselinux --enforcing\nfirewall --enabled\nzerombr\nclearpart --all\npart / --size 3072\n\n%packages\n@core\n%end\n';
  const neu = addRepo(old, { name: 'siderepo', baseurl: 'file:///w/siderepo' }).replace('@core', '@core\nwget');
  assert.equal(unifiedDiff(old, neu, 'a/live.ks', 'b/live.ks'), `--- a/live.ks
+++ b/live.ks
@@ -2,6 +2,7 @@
 keyboard us
 timezone UTC
 repo --name=fedora --baseurl=http://a/
+repo --name=siderepo --baseurl=file:///w/siderepo
 selinux --enforcing
 firewall --enabled
 zerombr
@@ -10,4 +11,5 @@
 
 %packages
 @core
+wget
 %end
`);
});

test('unifiedDiff: replacements, merged hunks, empty sides, missing final newline', () => {
  assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
  assert.equal(unifiedDiff('a\nb\nc\nd\n', 'a\nB\nc\nD\n', 'x', 'y'), '--- x\n+++ y\n@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n-d\n+D\n');
  assert.equal(unifiedDiff('', 'one\n', 'x', 'y'), '--- x\n+++ y\n@@ -0,0 +1 @@\n+one\n');
  assert.equal(unifiedDiff('one\n', '', 'x', 'y'), '--- x\n+++ y\n@@ -1 +0,0 @@\n-one\n');
  assert.equal(unifiedDiff('a\nb', 'a\nb\n', 'x', 'y'), '--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n');
});
