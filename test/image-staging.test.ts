import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { UserError } from '../src/lib/errors.ts';
import {
  describeStaging, parseStaging, scpArgs, stageArtifacts, stagedName, writeChecksumFile, type StagingTarget,
} from '../src/lib/image/staging.ts';
import { pyftpdlibPython, startFtp, type FtpServer } from './helpers/image-jobs.ts';

const WHEN = new Date(Date.UTC(2026, 0, 21, 10, 15, 0, 123));
const TS = '20260121T101500Z';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let tmp: string;
before(async () => { tmp = await mkdtemp(join(tmpdir(), 'df-staging-')); });
after(async () => { await rm(tmp, { recursive: true, force: true }); });

/** A boot.iso (several chunks long, so hashing and copying really stream), an install.img and a log. */
async function buildOutputs(name: string) {
  const dir = join(tmp, name, 'lorax_op');
  await mkdir(join(dir, 'images'), { recursive: true });
  const iso = randomBytes(3 * 1024 * 1024 + 17);
  const img = randomBytes(4096);
  const log = 'line 1\nline 2\n';
  await writeFile(join(dir, 'images', 'boot.iso'), iso);
  await writeFile(join(dir, 'images', 'install.img'), img);
  await writeFile(join(dir, 'imagebuild.log'), log);
  return {
    iso, img, log,
    artifacts: [
      { path: join(dir, 'images', 'boot.iso'), kind: 'image' as const },
      { path: join(dir, 'images', 'install.img'), kind: 'image' as const },
      { path: join(dir, 'imagebuild.log'), kind: 'log' as const },
    ],
  };
}

const CHECKSUM_NAME = `boot-x86_64-${TS}-CHECKSUM`;
const expectedChecksum = (iso: Buffer, img: Buffer) =>
  `# boot-x86_64-${TS}.iso: ${iso.length} bytes\nSHA256 (boot-x86_64-${TS}.iso) = ${sha256(iso)}\n` +
  `# install-x86_64-${TS}.img: ${img.length} bytes\nSHA256 (install-x86_64-${TS}.img) = ${sha256(img)}\n`;

/** Checks a staged folder: renamed images, CHECKSUM, log under its own name, and nothing else. */
async function checkStagedDir(dir: string, o: { iso: Buffer; img: Buffer; log: string }) {
  assert.deepEqual((await readdir(dir)).sort(), [CHECKSUM_NAME, `boot-x86_64-${TS}.iso`, 'imagebuild.log', `install-x86_64-${TS}.img`].sort());
  assert.ok((await readFile(join(dir, `boot-x86_64-${TS}.iso`))).equals(o.iso));
  assert.ok((await readFile(join(dir, `install-x86_64-${TS}.img`))).equals(o.img));
  assert.equal(await readFile(join(dir, 'imagebuild.log'), 'utf8'), o.log);
  assert.equal(await readFile(join(dir, CHECKSUM_NAME), 'utf8'), expectedChecksum(o.iso, o.img));
}

describe('parseStaging', () => {
  const good: [string, StagingTarget][] = [
    ['file:///tmp/staging', { kind: 'file', dir: '/tmp/staging' }],
    ['  file://localhost/srv/my%20images/  ', { kind: 'file', dir: '/srv/my images/' }],
    ['scp://builder@images.example.org:2222/srv/images', { kind: 'scp', host: 'images.example.org', user: 'builder', port: 2222, path: '/srv/images' }],
    ['scp://images.example.org/~/isos', { kind: 'scp', host: 'images.example.org', path: '~/isos' }],
    ['scp://[::1]/srv', { kind: 'scp', host: '::1', path: '/srv' }],
    ['localhost:/tmp/', { kind: 'scp', host: 'localhost', path: '/tmp/' }],
    ['gene@10.0.0.9:images', { kind: 'scp', host: '10.0.0.9', user: 'gene', path: 'images' }],
    ['build_box:', { kind: 'scp', host: 'build_box', path: '' }],
    ['ftp://10.0.0.27/pub/', { kind: 'ftp', host: '10.0.0.27', port: 21, user: 'anonymous', password: 'darkforge@', path: '/pub/' }],
    ['ftp://builder:p%40ss@ftp.example.org:2121/incoming/f17',
      { kind: 'ftp', host: 'ftp.example.org', port: 2121, user: 'builder', password: 'p@ss', path: '/incoming/f17' }],
    ['FTP://ftp.example.org', { kind: 'ftp', host: 'ftp.example.org', port: 21, user: 'anonymous', password: 'darkforge@', path: '/' }],
    ['10.0.0.27', { kind: 'ftp', host: '10.0.0.27', port: 21, user: 'anonymous', password: 'darkforge@', path: '/pub/' }],
    ['ftp.example.org', { kind: 'ftp', host: 'ftp.example.org', port: 21, user: 'anonymous', password: 'darkforge@', path: '/pub/' }],
  ];
  for (const [value, want] of good) test(`accepts ${JSON.stringify(value)}`, () => assert.deepEqual(parseStaging(value), want));

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['/tmp/staging', /file:\/\/\/tmp\/staging/],
    ['http://example.org/upload', /scheme http/],
    ['file://relative/dir', /three slashes/],
    ['user@host', /neither/],
    ['two words', /neither/],
    ['-oProxyCommand=sh:/tmp', /not a host name/],
    ['scp://-oProxyCommand=x/tmp', /not (a host name|a valid URL)/],
    ['scp://-o@host/tmp', /not a user name/],
    ['host:/tmp/$(reboot)', /scp paths/],
    ['scp://host/tmp/a b', /scp paths/],
    ['scp://u:pw@host/tmp', /no password/],
    ['scp://host/x?y=1', /query/],
    ['ftp://u:secret@/x', /./],
    ['ftp://host/%zz', /broken %-escape/],
  ];
  for (const [value, why] of bad) {
    test(`rejects ${JSON.stringify(value)}`, () => {
      assert.throws(() => parseStaging(value), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.exitCode, 2);
        assert.match(e.message, why);
        // Any password in a URL is shown as ***, not only an FTP one.
        assert.ok(e.message.includes(`"${value.trim().replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/, '$1:***@')}"`), e.message);
        assert.match(e.message, /file:\/\/\/dir, scp:\/\/.*host:\/path, ftp:\/\/.*bare FTP host/);
        assert.ok(!e.message.includes('secret'), 'an FTP password is never echoed');
        return true;
      });
    });
  }

  test('describeStaging writes targets back without passwords', () => {
    assert.equal(describeStaging(parseStaging('ftp://builder:pw@ftp.example.org:2121/in')), 'ftp://builder@ftp.example.org:2121/in');
    assert.equal(describeStaging(parseStaging('10.0.0.27')), 'ftp://10.0.0.27/pub/');
    assert.equal(describeStaging(parseStaging('gene@10.0.0.9:images')), 'gene@10.0.0.9:images');
    assert.equal(describeStaging(parseStaging('scp://b@h:2222/srv')), 'scp://b@h:2222/srv');
    assert.equal(describeStaging(parseStaging('file:///tmp/s')), 'file:///tmp/s');
  });
});

describe('stagedName', () => {
  test('adds arch and a UTC timestamp before the extension', () => {
    assert.equal(stagedName('/tmp/lorax_op/images/boot.iso', 'x86_64', WHEN), `boot-x86_64-${TS}.iso`);
    assert.equal(stagedName('Fedora-17.1-i386-DVD.iso', 'i686', WHEN), `Fedora-17.1-i386-DVD-i686-${TS}.iso`);
    assert.equal(stagedName('rootfs.tar.gz', 'aarch64', WHEN), `rootfs-aarch64-${TS}.tar.gz`);
    assert.equal(stagedName('rootfs.tar.zst', 'aarch64', WHEN), `rootfs-aarch64-${TS}.tar.zst`);
    assert.equal(stagedName('vmlinuz', 'x86_64', WHEN), `vmlinuz-x86_64-${TS}`);
  });
  test('the timestamp is UTC whatever the local zone', () => {
    assert.equal(stagedName('a.iso', 'x', new Date('2026-01-21T23:59:59.999-05:00')), 'a-x-20260122T045959Z.iso');
  });
});

describe('writeChecksumFile', () => {
  test('writes Fedora CHECKSUM lines that match sha256 of the bytes and pass sha256sum -c', async () => {
    const dir = join(tmp, 'checksum');
    await mkdir(dir);
    const a = randomBytes(2 * 1024 * 1024 + 3);
    const b = Buffer.from('');
    await writeFile(join(dir, 'a.iso'), a);
    await writeFile(join(dir, 'b.img'), b);
    const out = await writeChecksumFile(dir, [join(dir, 'a.iso'), join(dir, 'b.img')]);
    assert.equal(out, join(dir, 'CHECKSUM'));
    assert.equal(await readFile(out, 'utf8'),
      `# a.iso: ${a.length} bytes\nSHA256 (a.iso) = ${sha256(a)}\n# b.img: 0 bytes\nSHA256 (b.img) = ${sha256(b)}\n`);
    const check = await execa('sha256sum', ['-c', 'CHECKSUM'], { cwd: dir, reject: false });
    if (check.code !== 'ENOENT') assert.equal(check.exitCode, 0, check.stderr);
  });
});

describe('stageArtifacts to file://', () => {
  test('creates the folder, copies renamed images, CHECKSUM and log, and leaves the build output alone', async () => {
    const o = await buildOutputs('file');
    const dest = join(tmp, 'file', 'staging', 'deeper');
    const lines: string[] = [];
    const r = await stageArtifacts(parseStaging(`file://${dest}`), o.artifacts, { arch: 'x86_64', when: WHEN, log: (l) => lines.push(l) });
    await checkStagedDir(dest, o);
    assert.deepEqual(r.staged, [
      join(dest, `boot-x86_64-${TS}.iso`), join(dest, `install-x86_64-${TS}.img`), join(dest, CHECKSUM_NAME), join(dest, 'imagebuild.log'),
    ]);
    assert.equal(r.checksum, join(dest, CHECKSUM_NAME));
    for (const a of o.artifacts) assert.ok(existsSync(a.path), `${a.path} is still there`);
    assert.ok(lines.some((l) => l.includes(`available at file://${dest}`)));
    const check = await execa('sha256sum', ['-c', CHECKSUM_NAME], { cwd: dest, reject: false });
    if (check.code !== 'ENOENT') assert.equal(check.exitCode, 0, check.stderr);
  });

  test('a log staged into its own folder is not truncated', async () => {
    const dir = join(tmp, 'self');
    await mkdir(dir);
    await writeFile(join(dir, 'x.log'), 'keep me\n');
    await stageArtifacts(parseStaging(`file://${dir}`), [{ path: join(dir, 'x.log'), kind: 'log' }], { arch: 'x86_64', when: WHEN });
    assert.equal(await readFile(join(dir, 'x.log'), 'utf8'), 'keep me\n');
    assert.ok(existsSync(join(dir, `darkforge-x86_64-${TS}-CHECKSUM`)));
  });

  test('a missing artifact or a clash of names is one sentence naming the target', async () => {
    const dest = `file://${join(tmp, 'never')}`;
    await assert.rejects(stageArtifacts(parseStaging(dest), [{ path: join(tmp, 'nope.iso'), kind: 'image' }], { arch: 'x86_64' }),
      (e: unknown) => e instanceof UserError && e.exitCode === 1 && e.message.includes('nope.iso') && e.message.includes(dest));
    const a = join(tmp, 'clash-a'), b = join(tmp, 'clash-b');
    await mkdir(a); await mkdir(b);
    await writeFile(join(a, 'build.log'), 'a'); await writeFile(join(b, 'build.log'), 'b');
    await assert.rejects(stageArtifacts(parseStaging(dest), [{ path: join(a, 'build.log'), kind: 'log' }, { path: join(b, 'build.log'), kind: 'log' }], { arch: 'x86_64' }),
      /also named build\.log/);
    assert.ok(!existsSync(join(tmp, 'never')));
  });
});

describe('stageArtifacts over scp', () => {
  test('runs one scp -B with an argument list, the files renamed and readable', async () => {
    const o = await buildOutputs('scp');
    const calls: { file: string; args: string[]; contents: Buffer[] }[] = [];
    const exec = async (file: string, args: string[]) => {
      const i = args.indexOf('--');
      // Read while scp would: the temporary names must hold the real bytes.
      calls.push({ file, args, contents: await Promise.all(args.slice(i + 1, -1).map((f) => readFile(f))) });
    };
    const r = await stageArtifacts(parseStaging('scp://builder@images.example.org:2222/srv/images'), o.artifacts, { arch: 'x86_64', when: WHEN, exec });
    assert.equal(calls.length, 1);
    const { file, args, contents } = calls[0]!;
    assert.equal(file, 'scp');
    assert.deepEqual(args.slice(0, 4), ['-B', '-P', '2222', '--']);
    assert.equal(args.at(-1), 'builder@images.example.org:/srv/images');
    const names = args.slice(4, -1).map((f) => f.split('/').pop());
    assert.deepEqual(names, [`boot-x86_64-${TS}.iso`, `install-x86_64-${TS}.img`, CHECKSUM_NAME, 'imagebuild.log']);
    assert.ok(contents[0]!.equals(o.iso) && contents[1]!.equals(o.img));
    assert.equal(contents[2]!.toString(), expectedChecksum(o.iso, o.img));
    assert.equal(contents[3]!.toString(), o.log);
    assert.equal(r.staged[0], `scp://builder@images.example.org:2222/srv/images/boot-x86_64-${TS}.iso`);
    assert.equal(r.checksum, `scp://builder@images.example.org:2222/srv/images/${CHECKSUM_NAME}`);
    assert.ok(!existsSync(args[4]!), 'the temporary folder is removed');
  });

  test('shorthand targets: no port, the original default localhost:/tmp/', () => {
    const t = parseStaging('localhost:/tmp/');
    assert.equal(t.kind, 'scp');
    if (t.kind !== 'scp') return;
    assert.deepEqual(scpArgs(t, ['/w/a.iso', '/w/CHECKSUM']), ['-B', '--', '/w/a.iso', '/w/CHECKSUM', 'localhost:/tmp/']);
    const v6 = parseStaging('scp://root@[::1]/srv');
    if (v6.kind === 'scp') assert.equal(scpArgs(v6, ['/w/a']).at(-1), 'root@[::1]:/srv');
  });

  test('an scp failure is one sentence naming the target', async () => {
    const exec = async () => { throw new Error('Permission denied (publickey).\nscp: Connection closed\n'); };
    const o = await buildOutputs('scp-fail');
    await assert.rejects(stageArtifacts(parseStaging('gene@10.0.0.9:images'), o.artifacts, { arch: 'x86_64', exec }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.message, 'Could not stage to gene@10.0.0.9:images: Permission denied (publickey); scp: Connection closed');
      return true;
    });
  });

  test('the real scp, in batch mode, fails fast and clearly when nothing listens', async (t) => {
    if ((await execa('scp', ['-h'], { reject: false })).code === 'ENOENT') return t.skip('no scp here');
    const port = await freePort();
    const o = await buildOutputs('scp-real');
    await assert.rejects(stageArtifacts(parseStaging(`scp://127.0.0.1:${port}/tmp`), o.artifacts, { arch: 'x86_64' }), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, new RegExp(`^Could not stage to scp://127\\.0\\.0\\.1:${port}/tmp: .*Connection refused`));
      return true;
    });
  });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

// --- FTP against a real pyftpdlib server (Debian: python3-pyftpdlib) ---------------------------

describe('stageArtifacts over FTP (pyftpdlib on 127.0.0.1)', () => {
  let py: string | undefined;
  let anon: FtpServer | undefined;
  let authed: FtpServer | undefined;
  before(async () => {
    py = await pyftpdlibPython().catch(() => undefined);
    if (!py) return;
    anon = await startFtp(join(tmp, 'ftp-anon'));
    authed = await startFtp(join(tmp, 'ftp-user'), { user: 'builder', password: 's3cret' });
  });
  after(async () => { await anon?.stop(); await authed?.stop(); });
  const need = () => {
    if (!py) assert.fail('pyftpdlib is missing: apt-get install -y python3-pyftpdlib (the test looks in /usr/bin/python3, then python3 on PATH)');
  };

  test('anonymous upload creates the folder and stores renamed images, CHECKSUM and log', async () => {
    need();
    const o = await buildOutputs('ftp-anon');
    const lines: string[] = [];
    const r = await stageArtifacts(parseStaging(`ftp://127.0.0.1:${anon!.port}/pub/f17/nightly`), o.artifacts, { arch: 'x86_64', when: WHEN, log: (l) => lines.push(l) });
    await checkStagedDir(join(anon!.root, 'pub', 'f17', 'nightly'), o);
    const base = `ftp://127.0.0.1:${anon!.port}/pub/f17/nightly/`;
    assert.deepEqual(r.staged, [`${base}boot-x86_64-${TS}.iso`, `${base}install-x86_64-${TS}.img`, `${base}${CHECKSUM_NAME}`, `${base}imagebuild.log`]);
    assert.equal(r.checksum, `${base}${CHECKSUM_NAME}`);
    assert.ok(lines.some((l) => l.startsWith('Uploading boot-x86_64-')));
  });

  test('user and password from the URL log in', async () => {
    need();
    const o = await buildOutputs('ftp-user');
    await stageArtifacts(parseStaging(`ftp://builder:s3cret@127.0.0.1:${authed!.port}/out`), o.artifacts, { arch: 'x86_64', when: WHEN });
    await checkStagedDir(join(authed!.root, 'out'), o);
  });

  test('a refused login or connection is one sentence naming the target, without the password', async () => {
    need();
    const o = await buildOutputs('ftp-bad');
    await assert.rejects(stageArtifacts(parseStaging(`ftp://builder:wrong@127.0.0.1:${authed!.port}/out`), o.artifacts, { arch: 'x86_64' }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.exitCode, 1);
      assert.match(e.message, new RegExp(`^Could not stage to ftp://builder@127\\.0\\.0\\.1:${authed!.port}/out: 530`));
      assert.ok(!e.message.includes('wrong'));
      return true;
    });
    const port = await freePort();
    // Nobody listens there: retried as a server that is down, for a short budget here (the default is five minutes).
    await assert.rejects(stageArtifacts(parseStaging(`ftp://127.0.0.1:${port}/pub/`), o.artifacts, { arch: 'x86_64', retry: { retryTimeMs: 500, backoffMs: 5 } }),
      new RegExp(`^UserError: Could not stage to ftp://127\\.0\\.0\\.1:${port}/pub/: .*ECONNREFUSED`));
  });
});
