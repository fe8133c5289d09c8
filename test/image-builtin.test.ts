// imagebuild --backend builtin, for real: dnf depsolves and downloads from a repository built
// here with rpmbuild and createrepo_c, xorriso makes the ISO, implantisomd5 and checkisomd5
// check it, dnf reads the DVD's repository back, mksquashfs makes the live root.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { Parser } from 'tar';
import { dnfConfig, dnfRepos, downloadArgs, packageSet, substitute } from '../src/lib/image/builtin/dnf.ts';
import { defaultVolumeId, graftArgs, mkisofsArgs } from '../src/lib/image/builtin/iso.ts';
import { checkPrivileges } from '../src/lib/image/builtin/plan.ts';
import { discinfo, treeinfo } from '../src/lib/image/builtin/tree.ts';
import { parseKickstartSummary } from '../src/lib/image/kickstart.ts';
import { backendFor } from '../src/lib/image/tools.ts';
import { loadImageConfig } from '../src/lib/image/config.ts';
import { processAlive } from '../src/lib/proc/alive.ts';
import { buildsFromRpmDir, startFakeKoji } from './helpers/fake-koji.ts';
import { FIXTURES } from './helpers/paths.ts';
import { run, tempDir } from './helpers/cli.ts';
import { KERNEL_VERSION, testRepo } from './helpers/test-repo.ts';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Pure parts

test('dnf.conf holds only the kickstart repositories, with safe ids; a repo with no URL is named', () => {
  const ks = parseKickstartSummary('repo --name="my repo" --baseurl=http://h/$releasever/$basearch/ --excludepkgs=a,b\nrepo --name=my_repo --mirrorlist=https://m/?arch=$basearch\n%packages\nx\n%end\n');
  const repos = dnfRepos(ks.repos);
  assert.deepEqual(repos.map((r) => r.id), ['my_repo', 'my_repo_']);
  const conf = dnfConfig(repos, { reposdir: '/w/repos.d', weakDeps: false });
  assert.match(conf, /^\[main\]\n/);
  assert.match(conf, /^reposdir=\/w\/repos\.d$/m);
  assert.match(conf, /^install_weak_deps=False$/m);
  assert.match(conf, /^sslverify=True$/m);
  assert.match(conf, /^\[my_repo\]\nname=my repo\nbaseurl=http:\/\/h\/\$releasever\/\$basearch\/\nexcludepkgs=a,b\nenabled=1$/m);
  assert.match(conf, /^\[my_repo_\]\nname=my_repo\nmirrorlist=https:\/\/m\/\?arch=\$basearch$/m);
  assert.throws(() => dnfRepos(parseKickstartSummary('repo --name=bare\n').repos), /kickstart repo "bare" has no --baseurl, --mirrorlist or --metalink/);
  assert.throws(() => dnfRepos([]), /no repo lines/);
  assert.equal(substitute('http://h/$releasever/${basearch}/$arch/$other', { releasever: '40', basearch: 'i386', arch: 'i686' }), 'http://h/40/i386/i686/$other');
});

test('%packages becomes dnf arguments: @core unless --nocore, -name and -@group excluded, options as setopts', () => {
  const ks = parseKickstartSummary('%packages --ignoremissing --excludedocs --excludeWeakdeps\na\n@g1\n-b\n-@g2\n@^env\n%end\n');
  const groups: Record<string, string[]> = { g2: ['c', 'd'] };
  const s = packageSet(ks.packages, { hasCore: true, groupPackages: (id) => groups[id] });
  assert.deepEqual(s.install, ['a', '@core', '@g1', '@^env']);
  assert.deepEqual(s.exclude, ['b', 'c', 'd']);
  assert.deepEqual(s.setopts, ['--setopt=strict=False', '--setopt=tsflags=nodocs']);
  assert.equal(s.weakDeps, false);
  const nocore = packageSet(parseKickstartSummary('%packages --nocore\na\n%end\n').packages, { hasCore: true });
  assert.deepEqual(nocore.install, ['a']);
  assert.equal(packageSet(parseKickstartSummary('%packages\na\n%end\n').packages, {}).install.includes('@core'), false, 'no comps, no core');
  assert.throws(() => packageSet(parseKickstartSummary('%packages\n-a\n%end\n').packages), /lists no packages/);
  const argv = downloadArgs({ conf: '/c', installroot: '/r', releasever: '40', arch: 'armhfp' }, s, '/d');
  assert.deepEqual(argv.slice(0, 11), ['-y', '--noplugins', '--config', '/c', '--installroot', '/r', '--releasever', '40', '--forcearch', 'armv7hl', '--setopt=strict=False']);
  assert.deepEqual(argv.slice(argv.indexOf('install')), ['install', '--downloadonly', '--destdir=/d', '--', 'a', '@core', '@g1', '@^env']);
});

test('.discinfo and .treeinfo as productmd writes them; a boot tree keeps its images and stage2 sections', () => {
  const t = { family: 'Fedora', version: '40', arch: 'x86_64', variant: 'Everything', timestamp: 1713000000 };
  assert.equal(discinfo(t), '1713000000.000000\nFedora 40\nx86_64\nALL\n');
  const boot = '[header]\ntype = productmd.treeinfo\n\n[images-x86_64]\nboot.iso = images/boot.iso\nkernel = images/pxeboot/vmlinuz\n\n[stage2]\nmainimage = images/install.img\n\n[tree]\narch = x86_64\n';
  const ti = treeinfo(t, boot);
  assert.match(ti, /^\[header\]\ntype = productmd\.treeinfo\nversion = 1\.2\n/);
  assert.match(ti, /^\[variant-Everything\]\nid = Everything\nname = Everything\npackages = Packages\nrepository = \.\n/m);
  assert.match(ti, /^\[general\][^[]*packagedir = Packages\n/m);
  assert.match(ti, /^\[images-x86_64\]\nboot\.iso = images\/boot\.iso\nkernel = images\/pxeboot\/vmlinuz\n/m);
  assert.match(ti, /^\[stage2\]\nmainimage = images\/install\.img\n/m);
  assert.equal(ti.match(/^\[tree\]$/gm)?.length, 1, 'our [tree], not the boot tree\'s');
});

test('xorriso argv: a padded Rock Ridge + Joliet ISO; with a boot.iso, its boot records are replayed', () => {
  assert.equal(defaultVolumeId('Fedora', '40', 'i686'), 'Fedora-40-i386');
  assert.equal(defaultVolumeId('My Distro With A Long Name', 'rawhide', 'x86_64').length, 32);
  const a = mkisofsArgs({ dir: '/t', out: '/o.iso', volid: 'V', bios: { image: 'isolinux/isolinux.bin', catalog: 'isolinux/boot.cat', hybridMbr: '/m.bin' } });
  assert.deepEqual(a.slice(0, 6), ['-as', 'mkisofs', '-o', '/o.iso', '-V', 'V']);
  for (const x of ['-R', '-J', '-joliet-long', '-no-emul-boot', '-boot-info-table']) assert.ok(a.includes(x), x);
  assert.equal(a[a.indexOf('-isohybrid-mbr') + 1], '/m.bin');
  assert.deepEqual(a.slice(-6), ['/t', '--', '-padding', '1m', '-padding', 'included']);
  const g = graftArgs({ bootIso: '/b.iso', dir: '/t', out: '/o.iso', volid: 'V' });
  assert.deepEqual(g.slice(g.indexOf('-boot_image'), g.indexOf('-boot_image') + 3), ['-boot_image', 'any', 'replay']);
  assert.equal(g[g.length - 1], '-commit');
});

test('a builtin live image needs root, said before anything runs', () => {
  assert.throws(() => checkPrivileges('live', 1000), /needs root: run imagebuild live as root/);
  assert.doesNotThrow(() => checkPrivileges('live', 0));
  assert.doesNotThrow(() => checkPrivileges('dvd', 1000));
});

describe('configuration', () => {
  const dir = tempDir();
  const ks = join(dir, 'a.ks');
  writeFileSync(ks, 'repo --name=r --baseurl=file:///nowhere\n%packages\na\n%end\n');
  const conf = join(dir, 'ib.conf');
  writeFileSync(conf, `[DEFAULT]\narch = x86_64\nrelease = 40\n[dvd]\nconfig = a.ks\nformat = tar.xz\nvolid = has spaces\nbootiso = missing.iso\n[live]\nconfig = a.ks\nlabel = Fedora-Live\n`);
  const host = { machine: 'x86_64' };

  test('format, volid and bootiso are checked up front with the allowed values', () => {
    const { problems } = loadImageConfig({ type: 'dvd', configFile: conf, host });
    const text = problems.map((p) => `${p.key}: ${p.message} (${p.allowed})`);
    assert.ok(text.some((t) => t.startsWith('format: unknown DVD format (iso, tar.gz, tar.zst)')), text.join('\n'));
    assert.ok(text.some((t) => t.startsWith('volid: not an ISO volume id')), text.join('\n'));
    assert.ok(text.some((t) => t.startsWith('bootiso: boot.iso not found')), text.join('\n'));
  });

  test('pungi cannot make archives or graft a boot.iso; auto picks builtin for them', () => {
    const { problems } = loadImageConfig({ type: 'dvd', configFile: conf, host, overrides: { format: 'tar.gz', backend: 'pungi', bootIso: '' } });
    assert.ok(problems.some((p) => p.key === '--format' && /pungi makes ISO images only/.test(p.message)), JSON.stringify(problems));
    const ok = loadImageConfig({ type: 'dvd', configFile: conf, host, overrides: { format: 'tar.zst' } });
    assert.equal(ok.config, undefined, 'volid and bootiso still wrong');
    writeFileSync(conf, `[DEFAULT]\narch = x86_64\nrelease = 40\n[dvd]\nconfig = a.ks\nformat = tar.zst\n`);
    const good = loadImageConfig({ type: 'dvd', configFile: conf, host });
    assert.deepEqual(good.problems, []);
    assert.equal(good.config!.dvd!.format, 'tar.zst');
    const withPungi = { PATH: tempDir() };
    writeFileSync(join(withPungi.PATH, 'pungi'), '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(backendFor(good.config!, withPungi), 'builtin', 'an archive is builtin-only');
    assert.equal(backendFor({ ...good.config!, dvd: { ...good.config!.dvd!, format: 'iso' } }, withPungi), 'pungi');
  });
});

// ---------------------------------------------------------------------------------------------
// Real builds

interface Env { db: string; env: NodeJS.ProcessEnv; staging: string; home: string }

function setup(): Env {
  const home = tempDir();
  return {
    home, db: join(home, 'i.sqlite'), staging: join(home, 'staging'),
    env: { XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'cfg'), DARKFORGE_BACKOFF_MS: '1', DARKFORGE_RETRY_TIME: '1' },
  };
}

/** A conf and kickstart for the test repository. */
function writeConf(e: Env, ks: string, extra = ''): string {
  writeFileSync(join(e.home, 'test.ks'), ks);
  const conf = join(e.home, 'ib.conf');
  writeFileSync(conf, `[DEFAULT]\narch = x86_64\nrelease = 40\nbackend = builtin\n[dvd]\nname = DF\nflavor = Everything\nvolid = DF-DVD-TEST\nconfig = test.ks\n${extra}\n[live]\nlabel = DF-Live\ntitle = DF Live\nconfig = test.ks\n`);
  return conf;
}

const ib = (e: Env, args: string[]) => run('imagebuild', [...args, '--db', e.db], e.env);

const DVD_KS = (url: string): string => `lang en_US.UTF-8
repo --name=test --baseurl=${url}
%packages
df-hello
@df-tools
-df-unwanted
-@df-more
%end
`;

function isoFiles(iso: string): string[] {
  const out = execFileSync('xorriso', ['-indev', iso, '-find', '/', '-type', 'f'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').map((l) => l.replace(/^'|'$/g, ''));
}

function extract(iso: string, path: string, dest: string): void {
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', path, dest], { stdio: 'ignore' });
}

const sha256 = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

/** The package names a dnf repository answers with (dnf reads it as a user of the DVD would). */
function dnfNames(baseurl: string, home: string, query: string[] = ['repoquery', '--qf', '%{name}']): string[] {
  const conf = join(home, 'readback.conf');
  mkdirSync(join(home, 'readback.d'), { recursive: true });
  writeFileSync(conf, `[main]\ngpgcheck=0\nreposdir=${join(home, 'readback.d')}\n\n[dvd]\nname=dvd\nbaseurl=${baseurl}\n`);
  const out = execFileSync('dnf', ['-q', '--noplugins', '-c', conf, '--installroot', join(home, 'readback-root'), '--releasever', '40', ...query], { encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).sort();
}

const WANT = ['df-core', 'df-extra', 'df-greeting', 'df-hello'];

describe('builtin dvd', () => {
  test('an ISO with the depsolved packages, repodata with comps, .discinfo/.treeinfo, the conf\'s volume id and a valid media checksum', () => {
    const repo = testRepo();
    const e = setup();
    const conf = writeConf(e, DVD_KS(repo.url));
    const r = ib(e, ['dvd', '--config', conf, '--staging', `file://${e.staging}`, '--json', '--keep-workdir']);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout);
    assert.equal(job.state, 'succeeded');
    assert.equal(job.backend, 'builtin');
    const staged = readdirSync(e.staging);
    const iso = join(e.staging, staged.find((f) => /^DF-40-x86_64-DVD-x86_64-\d{8}T\d{6}Z\.iso$/.test(f))!);
    const files = isoFiles(iso);
    const rpms = files.filter((f) => f.startsWith('/Packages/')).sort();
    assert.deepEqual(rpms, WANT.map((n) => `/Packages/d/${n}-1.0-1.noarch.rpm`), 'dependency in, @core in, -name and -@group out');
    for (const f of ['/repodata/repomd.xml', '/.discinfo', '/.treeinfo', '/media.repo']) assert.ok(files.includes(f), `${f} in ${files.join(' ')}`);
    assert.ok(files.some((f) => /^\/repodata\/.*comps\.xml$/.test(f)), 'comps in the DVD repodata');
    const pvd = execFileSync('xorriso', ['-indev', iso, '-pvd_info'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(pvd, /Volume Id\s+: DF-DVD-TEST\n/);
    const check = spawnSync('checkisomd5', [iso], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(check.status, 0, `checkisomd5: ${check.stdout}${check.stderr}`);
    assert.match(`${check.stdout}${check.stderr}`, /PASS/);

    const tree = join(e.home, 'tree');
    extract(iso, '/', tree);
    assert.deepEqual(dnfNames(`file://${tree}`, e.home), WANT, 'dnf reads the DVD\'s repository');
    assert.ok(dnfNames(`file://${tree}`, e.home, ['group', 'list', '--hidden']).some((l) => /DF tools/.test(l)), 'groups through the DVD comps');
    const ti = readFileSync(join(tree, '.treeinfo'), 'utf8');
    assert.match(ti, /^\[tree\]\narch = x86_64\n/m);
    assert.match(readFileSync(join(tree, '.discinfo'), 'utf8'), /^\d+\.\d{6}\nDF 40\nx86_64\nALL\n$/);

    const ours = readFileSync(join(e.staging, 'DF-40-x86_64-CHECKSUM'), 'utf8');
    const built = join(e.env.XDG_DATA_HOME!, 'darkforge', 'jobs', String(job.id), 'work', 'builtin', 'out', 'DF-40-x86_64-DVD.iso');
    assert.ok(ours.includes(`SHA256 (DF-40-x86_64-DVD.iso) = ${sha256(built)}`), ours);
    const log = ib(e, ['logs', String(job.id)]).stdout;
    assert.match(log, /step 2\/7: depsolving and downloading the packages with dnf/);
    assert.match(log, /running: dnf .*--downloadonly/);
    assert.match(log, /running: implantisomd5 --force /);
  });

  for (const format of ['tar.gz', 'tar.zst'] as const) {
    test(`--format ${format}: the same packages and repodata as an archive, with a CHECKSUM`, async () => {
      const repo = testRepo();
      const e = setup();
      const conf = writeConf(e, DVD_KS(repo.url));
      const r = ib(e, ['dvd', '--config', conf, '--format', format, '--staging', `file://${e.staging}`]);
      assert.equal(r.code, 0, r.stderr);
      const staged = readdirSync(e.staging);
      const name = staged.find((f) => f.endsWith(`.${format}`))!;
      assert.match(name, new RegExp(`^DF-40-x86_64-DVD-x86_64-\\d{8}T\\d{6}Z\\.${format.replace('.', '\\.')}$`));
      const entries: string[] = [];
      const parser = new Parser({ onReadEntry: (en) => { entries.push(en.path); en.resume(); } });
      const stages: NodeJS.ReadableStream[] = [createReadStream(join(e.staging, name))];
      if (format === 'tar.zst') stages.push(new (require('zstd-napi').DecompressStream)());
      await pipeline([...stages, parser as unknown as NodeJS.WritableStream]);
      const rpms = entries.filter((p) => p.endsWith('.rpm')).sort();
      assert.deepEqual(rpms, WANT.map((n) => `DF-40-x86_64/Packages/d/${n}-1.0-1.noarch.rpm`));
      for (const f of ['DF-40-x86_64/repodata/repomd.xml', 'DF-40-x86_64/.treeinfo', 'DF-40-x86_64/.discinfo']) assert.ok(entries.includes(f), `${f} in ${entries.join(' ')}`);
      const sums = readFileSync(join(e.staging, staged.find((f) => /Z-CHECKSUM$/.test(f))!), 'utf8');
      assert.ok(sums.includes(`SHA256 (${name}) = ${sha256(join(e.staging, name))}`));
      if (format === 'tar.gz') {
        // The archive is a tree dnf can use once unpacked.
        const out = join(e.home, 'unpacked');
        mkdirSync(out);
        execFileSync('tar', ['-xzf', join(e.staging, name), '-C', out]);
        assert.deepEqual(dnfNames(`file://${join(out, 'DF-40-x86_64')}`, e.home), WANT);
      }
    });
  }

  test('--boot-iso: the DVD boots like the lorax boot.iso (El Torito replayed), with its images and .treeinfo sections', () => {
    const repo = testRepo();
    const e = setup();
    const bootTree = join(e.home, 'boot');
    mkdirSync(join(bootTree, 'isolinux'), { recursive: true });
    mkdirSync(join(bootTree, 'images', 'pxeboot'), { recursive: true });
    writeFileSync(join(bootTree, 'isolinux', 'isolinux.bin'), Buffer.alloc(4096, 7));
    writeFileSync(join(bootTree, 'images', 'pxeboot', 'vmlinuz'), 'kernel');
    writeFileSync(join(bootTree, '.treeinfo'), '[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n[images-x86_64]\nkernel = images/pxeboot/vmlinuz\n\n[stage2]\nmainimage = images/install.img\n');
    const bootIso = join(e.home, 'boot.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-o', bootIso, '-V', 'Fedora-40-boot', '-R', '-J', '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
      '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', bootTree], { stdio: 'ignore' });
    const conf = writeConf(e, DVD_KS(repo.url));
    const r = ib(e, ['dvd', '--config', conf, '--boot-iso', bootIso, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 0, r.stderr);
    const iso = join(e.staging, readdirSync(e.staging).find((f) => f.endsWith('.iso'))!);
    const torito = execFileSync('xorriso', ['-indev', iso, '-report_el_torito', 'plain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(torito, /El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);
    assert.match(torito, /El Torito img opts :\s+1\s+boot-info-table/);
    const files = isoFiles(iso);
    assert.ok(files.includes('/images/pxeboot/vmlinuz') && files.includes('/Packages/d/df-hello-1.0-1.noarch.rpm'), files.join(' '));
    const ti = join(e.home, 'treeinfo');
    extract(iso, '/.treeinfo', ti);
    const text = readFileSync(ti, 'utf8');
    assert.match(text, /^\[images-x86_64\]\nkernel = images\/pxeboot\/vmlinuz$/m);
    assert.match(text, /^\[variant-Everything\]$/m);
    assert.equal(spawnSync('checkisomd5', [iso], { stdio: 'ignore' }).status, 0);
  });

  test('--boot-iso whose /.treeinfo is a symlink: no host file is read into the DVD', () => {
    const repo = testRepo();
    const e = setup();
    const secret = join(e.home, 'host-secret');
    writeFileSync(secret, '[images-x86_64]\nkernel = host-file-marker-7f3a\n');
    const bootTree = join(e.home, 'boot');
    mkdirSync(join(bootTree, 'images'), { recursive: true });
    writeFileSync(join(bootTree, 'images', 'boot.img'), 'img');
    symlinkSync(secret, join(bootTree, '.treeinfo'));
    const bootIso = join(e.home, 'boot.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-o', bootIso, '-V', 'Fedora-40-boot', '-R', '-J', bootTree], { stdio: 'ignore' });
    const conf = writeConf(e, DVD_KS(repo.url));
    const r = ib(e, ['dvd', '--config', conf, '--boot-iso', bootIso, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 0, r.stderr);
    const iso = join(e.staging, readdirSync(e.staging).find((f) => f.endsWith('.iso'))!);
    const ti = join(e.home, 'treeinfo');
    extract(iso, '/.treeinfo', ti);
    const text = readFileSync(ti, 'utf8');
    assert.match(text, /^\[variant-Everything\]$/m, 'the DVD still gets its own .treeinfo');
    assert.doesNotMatch(text, /host-file-marker/);
  });

  test('packages from Koji (--bid) reach the DVD through the side repository', { skip: !testRepo().bootable && 'df-noarch needs /bin/sh: the busybox package needs busybox-static on the host' }, async () => {
    const repo = testRepo();
    const builds = buildsFromRpmDir([join(FIXTURES, 'df-noarch-1.0-1.noarch.rpm')]);
    const k = await startFakeKoji({ builds });
    try {
      const e = setup();
      const ks = DVD_KS(repo.url).replace('df-hello\n', 'df-hello\ndf-noarch\n');
      const conf = writeConf(e, ks);
      const r = ib(e, ['dvd', '--config', conf, '--hub', k.hub, '--topurl', k.topurl, '--bid', String(builds[0].id), '--staging', `file://${e.staging}`, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const iso = join(e.staging, readdirSync(e.staging).find((f) => f.endsWith('.iso'))!);
      const rpms = isoFiles(iso).filter((f) => f.startsWith('/Packages/'));
      assert.ok(rpms.includes('/Packages/d/df-noarch-1.0-1.noarch.rpm'), rpms.join(' '));
      assert.ok(rpms.includes('/Packages/d/df-shell-1.0-1.noarch.rpm'), 'its /bin/sh dependency, from the kickstart repo');
    } finally {
      await k.stop();
    }
  });

  test('auto picks builtin when pungi is missing; --arch i686 is dnf --forcearch i686 and an i386 tree', () => {
    const repo = testRepo();
    const e = setup();
    const conf = writeConf(e, DVD_KS(repo.url));
    writeFileSync(conf, readFileSync(conf, 'utf8').replace('backend = builtin', 'backend = auto'));
    const r = ib(e, ['dvd', '--config', conf, '--arch', 'i686', '--format', 'tar.gz', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout);
    assert.equal(job.backend, 'builtin');
    assert.ok(job.artifacts.some((a: string) => /\/DF-40-i386-DVD-i686-\d{8}T\d{6}Z\.tar\.gz$/.test(a)), job.artifacts.join(' '));
    const log = ib(e, ['logs', String(job.id)]).stdout;
    assert.match(log, /running: dnf .*--forcearch i686 /);
  });

  test('--dry-run prints every step and the dnf command line; nothing runs', () => {
    const e = setup();
    const conf = writeConf(e, DVD_KS('file:///nowhere'));
    const r = ib(e, ['dvd', '--config', conf, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /backend builtin/);
    assert.match(r.stdout, /1\. dnf -y --noplugins --config .*--exclude=df-unwanted install --downloadonly --destdir=.* -- df-hello @df-tools/);
    assert.match(r.stdout, /implantisomd5 --force .*DF-40-x86_64-DVD\.iso/);
    assert.equal(existsSync(join(e.env.XDG_DATA_HOME!, 'darkforge', 'jobs')), false);
  });

  test('a kickstart the builtin backend cannot use is exit 2 before any job exists', () => {
    const e = setup();
    const conf = writeConf(e, '%packages\ndf-hello\n%end\n');
    const r = ib(e, ['dvd', '--config', conf]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /kickstart .*test\.ks: the kickstart has no repo lines; the builtin backend installs only from the kickstart's repositories/);
    writeFileSync(join(e.home, 'test.ks'), 'repo --name=r --baseurl=file:///x\n%packages\n-df-hello\n%end\n');
    assert.match(ib(e, ['dvd', '--config', conf]).stderr, /%packages section lists no packages or groups/);
    assert.deepEqual(JSON.parse(ib(e, ['list', '--json']).stdout), []);
  });

  test('a package dnf cannot find fails the job with dnf\'s reason in the log; nothing is staged', () => {
    const repo = testRepo();
    const e = setup();
    const conf = writeConf(e, DVD_KS(repo.url).replace('df-hello\n', 'df-hello\nno-such-package\n'));
    const r = ib(e, ['dvd', '--config', conf, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /failed: dnf failed with exit code 1/);
    assert.equal(existsSync(e.staging), false);
    const list = JSON.parse(ib(e, ['list', '--json']).stdout);
    assert.equal(list[0].state, 'failed');
    assert.match(ib(e, ['logs', String(list[0].id)]).stdout, /No match for argument: no-such-package/);
  });
});

describe('builtin live', { skip: process.getuid?.() !== 0 && 'the builtin live image needs root (checked by the privileges test above)' }, () => {
  test('dnf root with the kickstart settings and %post, squashed into LiveOS/squashfs.img; no kernel: said plainly', () => {
    const repo = testRepo();
    const e = setup();
    const conf = writeConf(e, `lang de_DE.UTF-8
keyboard de
timezone Europe/Berlin
rootpw --plaintext hunter2
services --enabled=df-hello
repo --name=test --baseurl=${repo.url}
%packages
df-hello
-df-more
%end
%post --nochroot
echo "nochroot ran" > $INSTALL_ROOT/etc/df-nochroot
%end
%post --nochroot
exit 3
%end
`);
    const r = ib(e, ['live', '--config', conf, '--staging', `file://${e.staging}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout);
    const iso = join(e.staging, readdirSync(e.staging).find((f) => f.endsWith('.iso'))!);
    assert.deepEqual(isoFiles(iso), ['/LiveOS/squashfs.img']);
    assert.equal(spawnSync('checkisomd5', [iso], { stdio: 'ignore' }).status, 0);
    const sq = join(e.home, 'squashfs.img');
    extract(iso, '/LiveOS/squashfs.img', sq);
    const listing = execFileSync('unsquashfs', ['-lls', sq], { encoding: 'utf8' });
    for (const p of ['usr/share/df-hello/README', 'usr/share/df-greeting/README', 'usr/lib/sysimage/rpm/rpmdb.sqlite', 'etc/df-nochroot']) {
      assert.match(listing, new RegExp(`squashfs-root/${p}\\b`), p);
    }
    assert.doesNotMatch(listing, /df-more/, '-name excluded');
    assert.match(listing, /squashfs-root\/etc\/systemd\/system\/multi-user\.target\.wants\/df-hello\.service -> /, 'services --enabled');
    assert.match(listing, /squashfs-root\/etc\/localtime -> \.\.\/usr\/share\/zoneinfo\/Europe\/Berlin/);
    assert.doesNotMatch(listing, /var\/cache\/dnf\/./, 'no dnf cache inside the image');
    const cat = (p: string): string => execFileSync('unsquashfs', ['-cat', sq, p], { encoding: 'utf8' });
    assert.equal(cat('etc/locale.conf'), 'LANG="de_DE.UTF-8"\n');
    assert.equal(cat('etc/vconsole.conf'), 'KEYMAP="de"\n');
    assert.match(cat('etc/shadow'), /^root:\$6\$[^:]+:\d+:/);
    assert.doesNotMatch(cat('etc/shadow'), /hunter2/);
    const log = ib(e, ['logs', String(job.id)]).stdout;
    assert.match(log, /the image will not be bootable: the image has no kernel/);
    assert.match(log, /%post 2 failed \(.*exit code 3\); going on, as anaconda does without --erroronfail/);
    assert.doesNotMatch(log, /hunter2/, 'the root password stays out of the log');
  });

  test('%post --erroronfail: a failing script fails the job, and nothing stays mounted', () => {
    const repo = testRepo();
    const e = setup();
    const conf = writeConf(e, `repo --name=test --baseurl=${repo.url}\n%packages\ndf-hello\n%end\n%post --nochroot --erroronfail\nexit 4\n%end\n`);
    const r = ib(e, ['live', '--config', conf, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the kickstart's %post 1 failed \(--erroronfail\): \/bin\/sh failed with exit code 4/);
    assert.equal(existsSync(e.staging), false);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(e.home));
  });

  test('cancel during a %post: the script\'s process group ends, the job is canceled, nothing stays mounted', async () => {
    const repo = testRepo();
    const e = setup();
    const marker = join(e.home, 'post-started');
    const conf = writeConf(e, `repo --name=test --baseurl=${repo.url}\n%packages\ndf-hello\n%end\n%post --nochroot\necho $$ > ${marker}\nsleep 60\n%end\n`);
    const r = ib(e, ['live', '--config', conf, '--staging', `file://${e.staging}`, '--detach', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { id } = JSON.parse(r.stdout);
    for (let i = 0; i < 150 && !existsSync(marker); i++) await new Promise((res) => setTimeout(res, 200));
    const pid = Number(readFileSync(marker, 'utf8'));
    assert.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(e.home), '/proc, /sys and /dev are mounted while %post runs');
    const c = ib(e, ['cancel', String(id)]);
    assert.equal(c.code, 0, c.stderr);
    let job = { state: '', finished_at: null as number | null };
    for (let i = 0; i < 50 && !job.finished_at; i++) {
      await new Promise((res) => setTimeout(res, 200));
      job = JSON.parse(ib(e, ['status', String(id), '--json']).stdout);
    }
    assert.equal(job.state, 'canceled');
    assert.equal(processAlive(pid), false, 'the %post shell was killed');
    for (let i = 0; i < 25 && readFileSync('/proc/self/mountinfo', 'utf8').includes(e.home); i++) await new Promise((res) => setTimeout(res, 200));
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(e.home), 'unmounted after the cancel');
    const log = ib(e, ['logs', String(id)]).stdout;
    assert.match(log, /canceled by SIGTERM/);
    assert.doesNotMatch(log, /going on|step 4\/7/, 'a canceled %post stops the build, it is not a failed script');
    assert.equal(existsSync(e.staging), false);
  });

  test('with a kernel, dracut and syslinux in the root: initramfs with dmsquash-live, isolinux El Torito, CDLABEL boot entries', { skip: !testRepo().bootable && 'needs a static busybox and isolinux on the host (busybox-static, isolinux, syslinux-common)' }, () => {
    const repo = testRepo();
    const e = setup();
    const conf = writeConf(e, `repo --name=test --baseurl=${repo.url}
%packages
df-shell
df-kernel
df-dracut
df-syslinux
%end
%post
read -r what < /usr/share/df-shell/README; echo "chroot sees $what" > /etc/df-chroot
[ -c /dev/null ] && [ -r /proc/self/status ] && [ -d /sys/kernel ] && echo "with /dev, /proc and /sys" >> /etc/df-chroot
%end
`);
    const r = ib(e, ['live', '--config', conf, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 0, r.stderr);
    const iso = join(e.staging, readdirSync(e.staging).find((f) => f.endsWith('.iso'))!);
    const files = isoFiles(iso);
    for (const f of ['/LiveOS/squashfs.img', '/images/pxeboot/vmlinuz', '/images/pxeboot/initrd.img', '/isolinux/isolinux.bin', '/isolinux/ldlinux.c32', '/isolinux/isolinux.cfg', '/EFI/BOOT/grub.cfg', '/boot/grub2/grub.cfg']) {
      assert.ok(files.includes(f), `${f} in ${files.join(' ')}`);
    }
    const torito = execFileSync('xorriso', ['-indev', iso, '-report_el_torito', 'plain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(torito, /El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);
    const out = join(e.home, 'x');
    mkdirSync(out);
    for (const f of ['/isolinux/isolinux.cfg', '/EFI/BOOT/grub.cfg', '/images/pxeboot/initrd.img', '/images/pxeboot/vmlinuz']) extract(iso, f, join(out, f.split('/').pop()!));
    assert.match(readFileSync(join(out, 'isolinux.cfg'), 'utf8'), /append initrd=\/images\/pxeboot\/initrd\.img root=live:CDLABEL=DF-Live rd\.live\.image/);
    assert.match(readFileSync(join(out, 'grub.cfg'), 'utf8'), /linux \/images\/pxeboot\/vmlinuz root=live:CDLABEL=DF-Live rd\.live\.image/);
    assert.equal(readFileSync(join(out, 'vmlinuz'), 'utf8'), 'DF-KERNEL\n');
    // The root's own dracut made the initramfs, for the root's kernel, with dmsquash-live.
    const initrd = readFileSync(join(out, 'initrd.img'), 'utf8');
    assert.match(initrd, /^DF-INITRAMFS for /);
    assert.match(initrd, /--add dmsquash-live/);
    assert.ok(initrd.trim().endsWith(KERNEL_VERSION), initrd);
    const sq = join(e.home, 'squashfs.img');
    extract(iso, '/LiveOS/squashfs.img', sq);
    assert.match(execFileSync('unsquashfs', ['-cat', sq, 'etc/df-chroot'], { encoding: 'utf8' }), /^chroot sees df-shell\nwith \/dev, \/proc and \/sys\n$/, '%post ran inside the root, with the API filesystems');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(e.home), 'nothing stays mounted');
    assert.doesNotMatch(execFileSync('unsquashfs', ['-l', sq], { encoding: 'utf8' }), /squashfs-root\/(dev|proc|sys)\/./, 'empty mount points in the image');
    assert.doesNotMatch(execFileSync('unsquashfs', ['-l', sq], { encoding: 'utf8' }), /tmp\/ks-script|darkforge-initrd/, 'scratch files removed');
  });
});
