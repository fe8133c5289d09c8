import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { loadImageConfig, LoadOptions } from '../src/lib/image/config.ts';
import { InterpolationError, parseConfig } from '../src/lib/image/configparser.ts';
import type { ConfigProblem, ImageBuildConfig, ImageType } from '../src/lib/image/types.ts';
import { formatProblem, hostArches, isStaging, validate } from '../src/lib/image/validate.ts';

const X86 = { machine: 'x86_64' };
const FIX = 'test/fixtures/image';
const KS = resolve('config/kickstarts/fedora-minimal.ks');

function load(o: Partial<LoadOptions>): { config?: ImageBuildConfig; problems: ConfigProblem[] } {
  return loadImageConfig({ host: X86, overrides: {}, ...o });
}

function ok(o: Partial<LoadOptions>): ImageBuildConfig {
  const r = load(o);
  assert.deepEqual(r.problems.map(formatProblem), []);
  assert.ok(r.config);
  return r.config;
}

/** The config without where it came from, to compare layouts. */
function body(c: ImageBuildConfig): Omit<ImageBuildConfig, 'files' | 'origins'> {
  const { files: _f, origins: _o, ...rest } = c;
  return rest;
}

function tmpConf(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'df-imgconf-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return join(dir, Object.keys(files)[0]);
}

// --- the ConfigParser reader -------------------------------------------------------------

test('configparser: DEFAULT inheritance, both delimiters, comments, continuations, case-insensitive keys', () => {
  const cf = parseConfig([
    '# comment', '; another', '[DEFAULT]', 'Arch = i686', 'name: base',
    '[one]', 'NAME = first', 'multi = line one', '   line two', '', '  line three', '  # not part of it', 'empty = ""',
    '[two]', 'other: x',
  ].join('\n'), 'f.conf');
  assert.deepEqual(cf.errors, []);
  assert.deepEqual(cf.sections(), ['one', 'two']);
  assert.equal(cf.get('one', 'arch')?.value, 'i686');
  assert.equal(cf.get('one', 'ARCH')?.origin.section, 'DEFAULT');
  assert.equal(cf.get('one', 'name')?.value, 'first');
  assert.equal(cf.get('two', 'name')?.value, 'base');
  assert.equal(cf.get('one', 'multi')?.value, 'line one\nline two\n\nline three');
  assert.equal(cf.get('one', 'empty')?.value, '');
  assert.equal(cf.get('two', 'missing'), undefined);
  assert.deepEqual(cf.get('one', 'name')?.origin, { file: 'f.conf', section: 'one', key: 'name', line: 7 });
});

test('configparser: %(name)s from the section, DEFAULT, built-in defaults and vars; %% is a literal %', () => {
  const cf = parseConfig([
    '[DEFAULT]', 'baseurl = http://h/pub', 'goldurl = %(baseurl)s/releases/%(path)s/%(arch)s/os', 'pct = 100%% sure',
    '[17]', 'path = 17', 'url = %(goldurl)s',
    '[rawhide]', 'baseurl = http://other', 'path = development/rawhide', 'url = %(GOLDURL)s',
  ].join('\n'), 'repoinfo.conf', { arch: 'i386' });
  assert.equal(cf.get('17', 'url')?.value, 'http://h/pub/releases/17/i386/os');
  // References resolve in the section being read, so [rawhide]'s own baseurl wins.
  assert.equal(cf.get('rawhide', 'url')?.value, 'http://other/releases/development/rawhide/i386/os');
  assert.equal(cf.get('17', 'pct')?.value, '100% sure');
  assert.equal(cf.get('17', 'url', { arch: 'x86_64' })?.value, 'http://h/pub/releases/17/x86_64/os');
  assert.equal(cf.raw('17', 'url')?.value, '%(goldurl)s');
});

test('configparser: missing references, loops and stray % are clear errors', () => {
  const cf = parseConfig(['[s]', 'a = %(nothere)s', 'b = %(c)s', 'c = x%(b)s', 'd = 50% off', 'e = %(open'].join('\n'), 'x.conf');
  assert.throws(() => cf.get('s', 'a'), (e: InterpolationError) => /%\(nothere\)s refers to a key that is not set/.test(e.message) && e.origin.key === 'a');
  assert.throws(() => cf.get('s', 'b'), /refers back to itself \(b -> c -> b\)/);
  assert.throws(() => cf.get('s', 'd'), /write %% for a literal %/);
  assert.throws(() => cf.get('s', 'e'), /bad reference/);
});

test('configparser: bad lines are all listed with their line numbers', () => {
  const cf = parseConfig(['orphan = 1', '[s]', 'ok = 1', 'no delimiter here', '= novalue'].join('\n'), 'x.conf');
  assert.deepEqual(cf.errors.map((e) => e.line), [1, 4, 5]);
  assert.match(cf.errors[0].message, /before any \[section\]/);
});

// --- both layouts --------------------------------------------------------------------------

test('the shipped single file and split files load to the same configuration for every type', () => {
  for (const type of ['boot', 'dvd', 'live'] as ImageType[]) {
    const single = ok({ type, configFile: 'config/imagebuild.conf' });
    const split = ok({ type, configFile: 'config/split/imagebuild.conf' });
    assert.deepEqual(body(single), body(split), type);
    assert.equal(single.release, '40');
  }
  const boot = ok({ configFile: 'config/imagebuild.conf' });
  assert.equal(boot.type, 'boot');
  assert.deepEqual(boot.boot?.repos.map((r) => r.name), ['40', '40-updates']);
  assert.equal(ok({ type: 'dvd', configFile: 'config/imagebuild.conf' }).dvd?.kickstart, KS);
  assert.deepEqual(ok({ type: 'boot', configFile: 'config/split/imagebuild.conf' }).files,
    ['config/split/imagebuild.conf', 'config/split/boot.conf', 'config/split/repoinfo.conf']);
});

test("the original's files: split repoinfo.conf with %(path)s/%(arch)s (i686 -> i386) equals the single file", () => {
  for (const type of ['boot', 'dvd', 'live'] as ImageType[]) {
    const single = ok({ type, configFile: `${FIX}/single/imagebuild.conf` });
    const split = ok({ type, configFile: `${FIX}/split/imagebuild.conf` });
    assert.deepEqual(body(single), body(split), type);
  }
  const c = ok({ configFile: `${FIX}/split/imagebuild.conf` });
  assert.equal(c.arch, 'i686');
  assert.equal(c.staging, '10.0.0.27');
  assert.deepEqual(c.nvr, ['kernel-3.3.7-1.fc17']);
  assert.deepEqual(c.boot?.repos, [
    { name: '17', url: 'http://download.fedoraproject.org/pub/fedora/linux/releases/17/Everything/i386/os',
      mirror: 'https://mirrors.fedoraproject.org/metalink?repo=fedora-17&arch=i386' },
    { name: '17-updates', url: 'http://download.fedoraproject.org/pub/fedora/linux/updates/17/i386',
      mirror: 'https://mirrors.fedoraproject.org/metalink?repo=updates-released-f17&arch=i386' },
  ]);
  assert.deepEqual(c.origins['boot.repo.17'], { file: `${FIX}/split/repoinfo.conf`, section: '17', key: 'url', line: 16 });
  const dvd = ok({ type: 'dvd', configFile: `${FIX}/split/imagebuild.conf` });
  assert.deepEqual(dvd.bid, [314456]);
  assert.equal(dvd.dvd?.kickstart, KS);
  assert.deepEqual({ stage: dvd.dvd?.stage, nosource: dvd.dvd?.nosource, sourceisos: dvd.dvd?.sourceisos }, { stage: 'all', nosource: true, sourceisos: false });
});

// --- overrides -------------------------------------------------------------------------------

test('flags override keys; the command type overrides type =; nvr and bid split on ";"', () => {
  const c = ok({
    type: 'live', configFile: 'config/imagebuild.conf',
    overrides: { arch: 'i686', nvr: ' wget-1.21.4-1.fc40 ;; curl-8.6.0-7.fc40; ', bid: '2447394; 2447395', staging: 'scp://me@host/srv/iso', email: 'qa@example.org', instance: 'arm', backend: 'livemedia-creator' },
  });
  assert.equal(c.type, 'live');
  assert.equal(c.arch, 'i686');
  assert.deepEqual(c.nvr, ['wget-1.21.4-1.fc40', 'curl-8.6.0-7.fc40']);
  assert.deepEqual(c.bid, [2447394, 2447395]);
  assert.deepEqual([c.staging, c.email, c.koji, c.backend], ['scp://me@host/srv/iso', 'qa@example.org', 'arm', 'livemedia-creator']);
  assert.deepEqual(c.origins.arch, { file: 'command line', section: '', key: '--arch' });
  assert.equal(c.origins.type.key, 'imagebuild TYPE');

  // --arch reaches %(basearch)s in URLs; --release picks {release}_url and %(release)s.
  const b = ok({ configFile: 'config/imagebuild.conf', overrides: { arch: 'i686', release: 'rawhide' } });
  assert.equal(b.release, 'rawhide');
  assert.equal(b.boot?.version, 'rawhide');
  assert.deepEqual(b.boot?.repos, [{ name: 'rawhide', url: 'https://dl.fedoraproject.org/pub/fedora/linux/development/rawhide/Everything/i386/os/',
    mirror: 'https://mirrors.fedoraproject.org/metalink?repo=rawhide&arch=i386' }]);
  const live = ok({ type: 'live', configFile: 'config/split/imagebuild.conf', overrides: { release: '41' } });
  assert.deepEqual([live.release, live.live?.releasever], ['41', '41']);
  // An empty --nvr clears the file's list.
  assert.deepEqual(ok({ configFile: `${FIX}/single/imagebuild.conf`, overrides: { nvr: '' } }).nvr, []);
});

test('a release with no repository is refused, naming where it was expected', () => {
  const r = load({ configFile: 'config/imagebuild.conf', overrides: { release: '41' } });
  assert.deepEqual(r.problems.map(formatProblem).sort(), [
    'config/imagebuild.conf [boot] 41_url: no repository for release 41 (allowed: 41_url (and 41_mirror) in [boot])',
    'config/imagebuild.conf [boot] 41-updates_url: not set, but updates = 1 asks for it (allowed: 41-updates_url = URL, or updates = 0)',
  ].sort());
  const s = load({ configFile: 'config/split/imagebuild.conf', overrides: { release: '41' } });
  assert.ok(s.problems.some((p) => p.file === 'config/split/repoinfo.conf' && p.section === '41' && /no repository for release 41/.test(p.message)));
});

// --- all problems at once ------------------------------------------------------------------

test('a configuration with many mistakes reports every one, with file, section and key', () => {
  const { config, problems } = load({ configFile: `${FIX}/bad/imagebuild.conf` });
  assert.equal(config, undefined);
  const f = `${FIX}/bad/imagebuild.conf`;
  const got = problems.map((p) => `${p.file}|${p.section}|${p.key}|${p.value}`).sort();
  assert.deepEqual(got, [
    `${f}|DEFAULT|arch|ppc64le`,
    `${f}|DEFAULT|backend|lorax`,
    `${f}|DEFAULT|email|not-an-address`,
    `${f}|DEFAULT|staging|/srv/staging`,
    `${f}|dvd|bid|abc`,
    `${f}|dvd|config|${resolve(FIX, 'bad/kickstarts/missing.ks')}`,
    `${f}|dvd|nosource|maybe`,
    `${f}|dvd|nvr|wget`,
    `${f}|dvd|stage|-X`,
    `${f}|smtp|port|twenty-five`,
  ].sort());
  const lines = problems.map(formatProblem);
  assert.ok(lines.includes(`${f} [dvd] stage = "-X": unknown pungi stage (allowed: all, -G, -C, -B, -I)`), lines.join('\n'));
  assert.ok(lines.includes(`${f} [DEFAULT] arch = "ppc64le": this x86_64 host cannot build ppc64le images (the image arch must be the build host's) (allowed: x86_64, i386, i486, i586, i686)`));
  assert.ok(lines.includes(`${f} [DEFAULT] backend = "lorax": lorax cannot build dvd images (allowed: auto, pungi, builtin)`));
  assert.ok(lines.includes(`${f} [dvd] nosource = "maybe": not a yes/no value (allowed: 0, 1, yes, no, true, false, on, off)`));
});

test('syntax and interpolation errors join the other problems', () => {
  const conf = tmpConf({ 'imagebuild.conf': ['[DEFAULT]', 'type = live', 'arch = x86_64', 'release = 40', 'oops',
    '[live]', 'label = %(nolabel)s', `config = ${KS}`, 'bid = 1;x'].join('\n') });
  const { problems } = load({ configFile: conf });
  assert.deepEqual(problems.map((p) => [p.section, p.key, p.message.slice(0, 30)]), [
    [undefined, undefined, 'line 5: not a [section], "key '],
    ['live', 'bid', 'not a Koji build id'],
    ['live', 'label', '%(nolabel)s refers to a key th'],
  ]);
});

test('type: an unknown type and a type without its section or file', () => {
  const a = load({ configFile: tmpConf({ 'imagebuild.conf': '[DEFAULT]\ntype = iso\n[boot]\n' }) });
  assert.equal(a.problems.length, 1);
  assert.match(formatProblem(a.problems[0]), /\[DEFAULT\] type = "iso": unknown image type \(allowed: boot, dvd, live\)$/);
  const c = load({ type: 'live', configFile: tmpConf({ 'imagebuild.conf': '[DEFAULT]\narch = x86_64\n[boot]\nrelease = 40\n40_url = http://x/os\n' }) });
  assert.match(formatProblem(c.problems[0]), /\[live\]: no \[live\] section, which a live image needs/);
  const d = load({ type: 'dvd', configFile: tmpConf({ 'imagebuild.conf': '[DEFAULT]\narch = x86_64\n' }) });
  assert.deepEqual(d.problems.length, 1);
  assert.match(formatProblem(d.problems[0]), /pungi\.conf: not found: a dvd image needs a \[dvd\] section/);
  const e = load({ type: 'dvd', configFile: tmpConf({ 'imagebuild.conf': `[DEFAULT]\narch = x86_64\n[dvd]\nconfig = ${KS}\n` }) });
  assert.match(formatProblem(e.problems[0]), /imagebuild\.conf \[dvd\] release = "": no release set/);
  assert.match(formatProblem(load({ configFile: '/nonexistent/imagebuild.conf' }).problems[0]), /^\/nonexistent\/imagebuild\.conf: file not found$/);
});

// --- arches, kickstarts, URLs --------------------------------------------------------------

test('host arch: ppc64le is refused on x86_64, i686 accepted there, armhfp on aarch64', () => {
  const r = load({ configFile: 'config/imagebuild.conf', overrides: { arch: 'ppc64le' } });
  assert.deepEqual(r.problems.map(formatProblem), [
    '--arch "ppc64le": this x86_64 host cannot build ppc64le images (the image arch must be the build host\'s) (allowed: x86_64, i386, i486, i586, i686)',
  ]);
  assert.equal(ok({ configFile: 'config/imagebuild.conf', overrides: { arch: 'i686' } }).arch, 'i686');
  assert.equal(ok({ configFile: 'config/imagebuild.conf', overrides: { arch: 'armhfp' }, host: { machine: 'aarch64' } }).arch, 'armhfp');
  assert.match(formatProblem(load({ configFile: 'config/imagebuild.conf', overrides: { arch: 'sparc' } }).problems[0]), /unknown arch \(allowed: i386 i486/);
  assert.deepEqual(hostArches('ppc64le'), ['ppc64le']);
});

test('kickstarts: a missing local file is reported, http/https/ftp URLs are accepted, other URLs are not', () => {
  const conf = (ks: string) => tmpConf({ 'imagebuild.conf': `[DEFAULT]\ntype = dvd\narch = x86_64\nrelease = 40\n[dvd]\nconfig = ${ks}\n` });
  const missing = load({ configFile: conf('nothere.ks') });
  assert.equal(missing.problems.length, 1);
  assert.equal(missing.problems[0].key, 'config');
  assert.match(missing.problems[0].message, /kickstart file .*nothere\.ks does not exist/);
  for (const url of ['http://example.org/a.ks', 'https://example.org/a.ks', 'ftp://example.org/pub/a.ks']) {
    assert.equal(ok({ configFile: conf(url) }).dvd?.kickstart, url);
  }
  assert.match(load({ configFile: conf('git://example.org/a.ks') }).problems[0].message, /must be http, https or ftp/);
  assert.match(load({ configFile: conf('') }).problems[0].message, /no kickstart given/);
  // A relative path resolves against the .conf file's folder.
  const dir = tmpConf({ 'imagebuild.conf': '[DEFAULT]\ntype = live\narch = x86_64\nrelease = 40\n[live]\nconfig = my.ks\n', 'my.ks': 'lang en_US\n' });
  assert.equal(ok({ configFile: dir }).live?.kickstart, join(dir, '..', 'my.ks'));
});

test('staging forms of the original and URLs; repository and mirror URLs', () => {
  for (const s of ['file:///tmp/staging', 'scp://me@host/srv/x', 'scp://host/x', 'localhost:/tmp/', 'me@host.example.org:iso',
    'ftp://host/pub', 'ftp://u:p@10.0.0.1/pub/x', '10.0.0.27', 'ftp.example.org']) assert.ok(isStaging(s), s);
  for (const s of ['/srv/staging', 'file://relative', 'http://host/x', 'scp://host', 'host name']) assert.ok(!isStaging(s), s);
  const c = ok({ configFile: 'config/imagebuild.conf' });
  const bad = { ...c, boot: { ...c.boot!, repos: [{ name: '40', url: 'nfs:/x', mirror: 'ftp://m' }] } };
  assert.deepEqual(validate(bad, X86).map((p) => [p.key, p.message]), [
    ['40_url', 'not a repository URL'], ['40_mirror', 'not a metalink or mirrorlist URL'],
  ]);
});

test('smtp: [smtp] and the original [SMTP] server/login keys; defaults', () => {
  const c = ok({ configFile: tmpConf({ 'imagebuild.conf': `[DEFAULT]\ntype = live\narch = x86_64\nrelease = 40\nemail = Me <me@example.org>\n[live]\nconfig = ${KS}\n[SMTP]\nserver = smtp.gmail.com\nlogin = bot@gmail.com\npassword = 100%%\n` }) });
  assert.deepEqual(c.smtp, { host: 'smtp.gmail.com', port: 587, starttls: true, user: 'bot@gmail.com', password: '100%', from: 'bot@gmail.com' });
});
