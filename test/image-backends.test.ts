import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { UserError } from '../src/lib/errors.ts';
import {
  livecdPlan, livemediaPlan, loraxPlan, pungiPlan, withSetarch, type ToolPlan,
} from '../src/lib/image/backends.ts';
import { chooseBackend, findTool, requireTool, type ToolName } from '../src/lib/image/tools.ts';
import type { ImageBuildConfig } from '../src/lib/image/types.ts';

const STANDINS = fileURLToPath(new URL('./stand-ins', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'df-backends-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function config(over: Partial<ImageBuildConfig> = {}): ImageBuildConfig {
  return {
    type: 'boot', arch: 'x86_64', release: '17', nvr: [], bid: [], backend: 'auto', files: [], origins: {},
    boot: {
      product: 'fedora', version: '17', release: '17',
      repos: [
        { name: '17', url: 'http://dl.example/releases/17/Everything/x86_64/os', mirror: 'https://mirrors.example/metalink?repo=fedora-17&arch=x86_64' },
        { name: '17-updates', url: 'http://dl.example/updates/17/x86_64' },
      ],
      outdir: '/tmp/lorax_op', workdir: '/tmp/lorax_work',
    },
    dvd: {
      name: 'Fedora', version: '17', flavor: 'Desktop', destdir: '/tmp/pungi_op', cachedir: '/var/cache/pungi',
      workdir: '/tmp/pungi_work', bugurl: 'http://bugzilla.redhat.com', nosource: true, sourceisos: false,
      force: true, stage: 'all', kickstart: '/etc/imagebuild/fedora-install-fedora.ks',
    },
    live: {
      label: 'FedoraDesktop', title: 'Desktop', product: 'fedora', releasever: '17', tmpdir: '/tmp/live_work',
      cachedir: '/var/cache/liveimage', logfile: '/tmp/liveimage.log', kickstart: '/tmp/live.ks',
    },
    ...over,
  };
}

// ---- plans: argv written out by hand from each tool's documented syntax ----

test('lorax: -p -v -r, every -s (side repo last), every -m, one-argument --buildarch, OUTDIR last', () => {
  const cfg = config({ arch: 'i686' });
  cfg.boot!.proxy = 'http://proxy.example:3128';
  const plan = loraxPlan(cfg, { workDir: '/srv/jobs/42', sideRepo: 'file:///srv/jobs/42/siderepo' });
  assert.equal(plan.command, 'lorax');
  assert.deepEqual(plan.args, [
    '-p', 'fedora', '-v', '17', '-r', '17',
    '-s', 'http://dl.example/releases/17/Everything/x86_64/os',
    '-s', 'http://dl.example/updates/17/x86_64',
    '-s', 'file:///srv/jobs/42/siderepo',
    '-m', 'https://mirrors.example/metalink?repo=fedora-17&arch=x86_64',
    '--buildarch=i686', '--proxy=http://proxy.example:3128',
    '--tmp=/srv/jobs/42/lorax-tmp', '--logfile=/srv/jobs/42/lorax-logs/lorax.log',
    '/srv/jobs/42/lorax-out',
  ]);
  assert.deepEqual(plan.outputs, ['/srv/jobs/42/lorax-out/images/boot.iso']);
  assert.deepEqual(plan.cleanDirs, ['/srv/jobs/42/lorax-out', '/srv/jobs/42/lorax-tmp', '/srv/jobs/42/lorax-logs']);
  assert.deepEqual(plan.makeDirs, ['/srv/jobs/42/lorax-tmp', '/srv/jobs/42/lorax-logs']);
  assert.ok(!plan.makeDirs.includes('/srv/jobs/42/lorax-out'), 'lorax refuses an existing output directory');
});

test('lorax without proxy or side repo has neither', () => {
  const plan = loraxPlan(config(), { workDir: '/w' });
  assert.deepEqual(plan.args, [
    '-p', 'fedora', '-v', '17', '-r', '17',
    '-s', 'http://dl.example/releases/17/Everything/x86_64/os', '-s', 'http://dl.example/updates/17/x86_64',
    '-m', 'https://mirrors.example/metalink?repo=fedora-17&arch=x86_64',
    '--buildarch=x86_64', '--tmp=/w/lorax-tmp', '--logfile=/w/lorax-logs/lorax.log', '/w/lorax-out',
  ]);
});

test('a plan for a missing section is a UserError', () => {
  assert.throws(() => loraxPlan(config({ boot: undefined }), { workDir: '/w' }), (e: unknown) =>
    e instanceof UserError && e.exitCode === 2 && /\[boot\]/.test(e.message));
});

test('pungi: the original flags, --all-stages, -c KS; outputs under destdir/ver/flavor/basearch/iso', () => {
  const plan = pungiPlan(config({ type: 'dvd', arch: 'i686' }), { workDir: '/srv/jobs/7', kickstartPath: '/srv/jobs/7/dvd_kickstart.ks' });
  assert.equal(plan.command, 'pungi');
  assert.deepEqual(plan.args, [
    '--name', 'Fedora', '--ver', '17', '--flavor', 'Desktop', '--destdir', '/srv/jobs/7/pungi-out',
    '--cachedir', '/var/cache/pungi', '--bugurl', 'http://bugzilla.redhat.com', '--nosource', '--force',
    '--all-stages', '-c', '/srv/jobs/7/dvd_kickstart.ks',
  ]);
  const iso = '/srv/jobs/7/pungi-out/17/Desktop/i386/iso';
  assert.deepEqual(plan.outputs, [`${iso}/Fedora-17-i386-DVD.iso`, `${iso}/Fedora-17-i386-netinst.iso`, `${iso}/Fedora-17-i386-CHECKSUM`]);
  assert.deepEqual(plan.logs, ['/srv/jobs/7/pungi-out/logs/Desktop.i386.log']);
  assert.deepEqual(plan.cleanDirs, ['/srv/jobs/7/pungi-out']);
});

test('pungi stages and source ISOs', () => {
  const cfg = config({ type: 'dvd', arch: 'x86_64' });
  Object.assign(cfg.dvd!, { nosource: false, force: false, sourceisos: true, stage: '-I' });
  const plan = pungiPlan(cfg, { workDir: '/w', kickstartPath: '/w/ks.ks' });
  assert.deepEqual(plan.args, [
    '--name', 'Fedora', '--ver', '17', '--flavor', 'Desktop', '--destdir', '/w/pungi-out',
    '--cachedir', '/var/cache/pungi', '--bugurl', 'http://bugzilla.redhat.com', '--sourceisos', '-I', '-c', '/w/ks.ks',
  ]);
  assert.deepEqual(plan.outputs, ['/w/pungi-out/17/Desktop/source/iso/Fedora-17-source-DVD.iso', '/w/pungi-out/17/Desktop/source/iso/Fedora-17-source-CHECKSUM']);
  cfg.dvd!.stage = '-G';
  assert.deepEqual(pungiPlan(cfg, { workDir: '/w', kickstartPath: '/w/ks.ks' }).outputs, []);
});

test('livecd-creator: documented flags; the ISO is {cwd}/{label}.iso and cwd is the job\'s folder', () => {
  const plan = livecdPlan(config({ type: 'live' }), { workDir: '/srv/jobs/9', kickstartPath: '/srv/jobs/9/live_kickstart.ks' });
  assert.equal(plan.command, 'livecd-creator');
  assert.deepEqual(plan.args, [
    '-c', '/srv/jobs/9/live_kickstart.ks', '-f', 'FedoraDesktop', '--title', 'Desktop', '--product', 'fedora',
    '--releasever', '17', '-t', '/srv/jobs/9/livecd-tmp', '--cache', '/var/cache/liveimage',
    '--logfile', '/srv/jobs/9/livecd-creator.log',
  ]);
  assert.equal(plan.cwd, '/srv/jobs/9/livecd-out');
  assert.deepEqual(plan.outputs, ['/srv/jobs/9/livecd-out/FedoraDesktop.iso']);
  assert.deepEqual(plan.makeDirs, ['/srv/jobs/9/livecd-out', '/srv/jobs/9/livecd-tmp']);
});

test('livemedia-creator: --make-iso --no-virt, --iso-only so --iso-name applies; resultdir is not pre-made', () => {
  const cfg = config({ type: 'live' });
  const plan = livemediaPlan(cfg, { workDir: '/srv/jobs/9', kickstartPath: '/srv/jobs/9/live_kickstart.ks' });
  assert.equal(plan.command, 'livemedia-creator');
  assert.deepEqual(plan.args, [
    '--make-iso', '--no-virt', '--ks', '/srv/jobs/9/live_kickstart.ks', '--resultdir', '/srv/jobs/9/lmc-result',
    '--project', 'fedora', '--releasever', '17', '--volid', 'FedoraDesktop', '--iso-only', '--iso-name', 'FedoraDesktop.iso',
    '--title', 'Desktop', '--tmp', '/srv/jobs/9/lmc-tmp', '--logfile', '/srv/jobs/9/lmc-logs/livemedia.log',
  ]);
  assert.deepEqual(plan.outputs, ['/srv/jobs/9/lmc-result/FedoraDesktop.iso']);
  assert.ok(plan.cleanDirs.includes('/srv/jobs/9/lmc-result'));
  assert.ok(!plan.makeDirs.includes('/srv/jobs/9/lmc-result'));
  Object.assign(cfg.live!, { volid: 'F17-Live', isoName: 'f17.iso' });
  const named = livemediaPlan(cfg, { workDir: '/w', kickstartPath: '/w/k.ks' });
  assert.deepEqual(named.args.slice(10, 16), ['--volid', 'F17-Live', '--iso-only', '--iso-name', 'f17.iso', '--title']);
  assert.deepEqual(named.outputs, ['/w/lmc-result/f17.iso']);
});

test('setarch wraps 32-bit builds on their 64-bit host only (i686 on x86_64, linux32 for armhfp on aarch64)', () => {
  const plan = loraxPlan(config({ arch: 'i686' }), { workDir: '/w' });
  const wrapped = withSetarch(plan, 'i686', 'x86_64');
  assert.equal(wrapped.command, 'setarch');
  assert.deepEqual(wrapped.args, ['i686', 'lorax', ...plan.args]);
  assert.deepEqual(wrapped.outputs, plan.outputs);
  assert.equal(wrapped.cwd, plan.cwd);
  assert.deepEqual(withSetarch(plan, 'i386', 'x86_64').args.slice(0, 2), ['i686', 'lorax']);
  assert.equal(withSetarch(plan, 'x86_64', 'x86_64'), plan);
  assert.equal(withSetarch(plan, 'i686', 'i686'), plan);
  assert.equal(withSetarch(plan, 'i686', 'aarch64'), plan);
  assert.deepEqual(withSetarch(plan, 'armhfp', 'aarch64').args.slice(0, 2), ['linux32', 'lorax']);
  assert.equal(withSetarch(plan, 'aarch64', 'aarch64'), plan);
});

// ---- finding tools and choosing a backend ----

function pathWith(...tools: string[]): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(scratch, 'path-'));
  for (const t of tools) symlinkSync(join(STANDINS, t), join(dir, t));
  return { PATH: dir };
}

test('chooseBackend auto: lorax for boot; pungi, livemedia-creator, livecd-creator when installed, else builtin', () => {
  const none = pathWith();
  assert.equal(chooseBackend('boot', 'auto', none), 'lorax');
  assert.equal(chooseBackend('dvd', 'auto', none), 'builtin');
  assert.equal(chooseBackend('live', 'auto', none), 'builtin');
  assert.equal(chooseBackend('dvd', 'auto', pathWith('pungi')), 'pungi');
  assert.equal(chooseBackend('live', 'auto', pathWith('livecd-creator')), 'livecd-creator');
  assert.equal(chooseBackend('live', 'auto', pathWith('livecd-creator', 'livemedia-creator')), 'livemedia-creator');
});

test('chooseBackend explicit: must fit the image type; builtin only for dvd and live', () => {
  const none = pathWith();
  assert.equal(chooseBackend('dvd', 'pungi', none), 'pungi');
  assert.equal(chooseBackend('live', 'builtin', none), 'builtin');
  assert.equal(chooseBackend('dvd', 'builtin', none), 'builtin');
  for (const [type, choice] of [['boot', 'builtin'], ['dvd', 'lorax'], ['boot', 'pungi'], ['live', 'pungi'], ['dvd', 'livecd-creator']] as const) {
    assert.throws(() => chooseBackend(type, choice, none), (e: unknown) =>
      e instanceof UserError && e.exitCode === 2 && e.message.includes(choice) && e.message.includes(type));
  }
});

test('findTool wants an executable file; requireTool names the package', () => {
  const dir = mkdtempSync(join(scratch, 'odd-'));
  writeFileSync(join(dir, 'pungi'), '#!/bin/sh\n', { mode: 0o644 });
  mkdirSync(join(dir, 'lorax'));
  const env = { PATH: [dir, pathWith('livecd-creator').PATH].join(delimiter) };
  assert.equal(findTool('pungi', env), undefined);
  assert.equal(findTool('lorax', env), undefined);
  assert.match(findTool('livecd-creator', env)!, /livecd-creator$/);
  const messages: Record<ToolName, string> = {
    lorax: 'lorax is not installed (it comes in the "lorax" package)',
    pungi: 'pungi is not installed (it comes in the "pungi" package)',
    'livecd-creator': '',
    'livemedia-creator': 'livemedia-creator is not installed (it comes in the "lorax" package; --no-virt builds also need "lorax-lmc-novirt")',
    setarch: 'setarch is not installed (it comes in the "util-linux" package)',
    createrepo_c: 'createrepo_c is not installed (it comes in the "createrepo_c" package; "createrepo-c" on Debian)',
  };
  for (const [name, message] of Object.entries(messages) as [ToolName, string][]) {
    if (!message) continue;
    assert.throws(() => requireTool(name, env), (e: unknown) => e instanceof UserError && e.exitCode === 2 && e.message === message);
  }
  assert.equal(requireTool('livecd-creator', env), findTool('livecd-creator', env));
  assert.throws(() => requireTool('mkisofs-nowhere', env), (e: unknown) => e instanceof UserError && e.message === 'mkisofs-nowhere is not installed (not found on PATH)');
});

// ---- the stand-ins run with each plan and leave the outputs where the plan says ----

const LOG = join(scratch, 'standin.log');
const RUN_ENV = { PATH: `${STANDINS}${delimiter}${process.env.PATH}`, DF_STANDIN_LOG: LOG };

function prepare(plan: ToolPlan) {
  for (const d of plan.cleanDirs) rmSync(d, { recursive: true, force: true });
  for (const d of plan.makeDirs) mkdirSync(d, { recursive: true });
  mkdirSync(plan.cwd, { recursive: true });
}

function run(plan: ToolPlan, env: Record<string, string> = {}, cancelSignal?: AbortSignal) {
  prepare(plan);
  return execa(plan.command, plan.args, { cwd: plan.cwd, env: { ...RUN_ENV, ...env }, reject: false, cancelSignal });
}

function logged(): { tool: string; argv: string[]; cwd: string }[] {
  return existsSync(LOG) ? readFileSync(LOG, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
}

function assertIso(path: string) {
  const buf = readFileSync(path);
  assert.equal(buf.toString('latin1', 32769, 32774), 'CD001', `${path} has an ISO 9660 descriptor`);
}

function job(name: string) {
  const workDir = join(scratch, name);
  mkdirSync(workDir, { recursive: true });
  const kickstartPath = join(workDir, 'kickstart.ks');
  writeFileSync(kickstartPath, 'url --url=http://dl.example/os\n%packages\n@core\n%end\n');
  return { workDir, kickstartPath };
}

test('each stand-in writes exactly the outputs its plan names, and logs its argv and cwd', async () => {
  const plans: ToolPlan[] = [
    loraxPlan(config(), { workDir: job('lorax').workDir, sideRepo: 'file:///nowhere/siderepo' }),
    pungiPlan(config({ arch: 'x86_64' }), job('pungi')),
    livecdPlan(config(), job('livecd')),
    livemediaPlan(config(), job('lmc')),
  ];
  for (const plan of plans) {
    const r = await run(plan, { DF_STANDIN_MACHINE: 'x86_64' });
    assert.equal(r.exitCode, 0, `${plan.command}: ${r.stderr}`);
    assert.ok(r.stdout.length > 0 && r.stderr.length > 0, `${plan.command} reports progress`);
    assert.ok(plan.outputs.length > 0);
    for (const out of plan.outputs) {
      assert.ok(existsSync(out), `${plan.command} wrote ${out}`);
      if (out.endsWith('.iso')) assertIso(out);
    }
    for (const log of plan.logs) assert.ok(existsSync(log), `${plan.command} wrote its log ${log}`);
    const entry = logged().filter((l) => l.tool === plan.command).at(-1)!;
    assert.deepEqual(entry.argv, plan.args);
    assert.equal(entry.cwd, plan.cwd);
  }
  const checksum = readFileSync(plans[1].outputs[2], 'utf8');
  assert.match(checksum, /^[0-9a-f]{64} \*Fedora-17-x86_64-DVD\.iso$/m);
  assert.match(checksum, /^[0-9a-f]{64} \*Fedora-17-x86_64-netinst\.iso$/m);
});

test('through setarch i686 the 32-bit tree lands in the i386 folder the plan expects', async () => {
  const cfg = config({ arch: 'i686' });
  const plan = withSetarch(pungiPlan(cfg, job('pungi32')), cfg.arch, 'x86_64');
  const r = await run(plan, { DF_STANDIN_MACHINE: 'x86_64' });
  assert.equal(r.exitCode, 0, r.stderr);
  for (const out of plan.outputs) assert.ok(existsSync(out), out);
  assert.match(plan.outputs[0], /\/17\/Desktop\/i386\/iso\/Fedora-17-i386-DVD\.iso$/);
  const tools = logged().slice(-2).map((l) => l.tool);
  assert.deepEqual(tools, ['setarch', 'pungi']);
});

test('stand-ins refuse like the real tools: usage errors exit 2, an existing output dir is refused', async () => {
  const noProduct = await execa('lorax', ['-v', '17', '-r', '17', '-s', 'http://x', join(scratch, 'nope')], { env: RUN_ENV, reject: false });
  assert.equal(noProduct.exitCode, 2);
  assert.match(noProduct.stderr, /required: -p\/--product/);
  const noKs = await execa('pungi', ['--name', 'Fedora'], { env: RUN_ENV, reject: false });
  assert.equal(noKs.exitCode, 2);
  assert.match(noKs.stderr, /Please specify a config file/);
  const noMake = await execa('livemedia-creator', ['--no-virt'], { env: RUN_ENV, reject: false });
  assert.equal(noMake.exitCode, 2);
  const longLabel = await execa('livecd-creator', ['-c', job('lbl').kickstartPath, '-f', 'x'.repeat(33)], { env: RUN_ENV, reject: false });
  assert.equal(longLabel.exitCode, 2);

  const lorax = loraxPlan(config(), { workDir: job('lorax-exists').workDir });
  prepare(lorax);
  mkdirSync(join(lorax.cwd, 'lorax-out'));
  const exists = await execa(lorax.command, lorax.args, { cwd: lorax.cwd, env: RUN_ENV, reject: false });
  assert.equal(exists.exitCode, 2);
  assert.match(exists.stderr, /output directory should not exist/);

  const lmc = livemediaPlan(config(), job('lmc-exists'));
  prepare(lmc);
  mkdirSync(join(lmc.cwd, 'lmc-result'));
  const lmcExists = await execa(lmc.command, lmc.args, { cwd: lmc.cwd, env: RUN_ENV, reject: false });
  assert.equal(lmcExists.exitCode, 1);
  assert.match(lmcExists.stderr, /should not exist/);
});

test('DF_STANDIN_FAIL makes a stand-in fail with exit 1 and no outputs', async () => {
  const plan = livecdPlan(config(), job('fail'));
  const r = await run(plan, { DF_STANDIN_FAIL: '1' });
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /ERROR/);
  assert.ok(!existsSync(plan.outputs[0]));
});

test('a sleeping stand-in can be cancelled, also through setarch, and leaves no outputs', async () => {
  for (const [name, wrap] of [['cancel', false], ['cancel32', true]] as const) {
    const cfg = config({ arch: 'i686' });
    const base = livemediaPlan(cfg, job(name));
    const plan = wrap ? withSetarch(base, cfg.arch, 'x86_64') : base;
    const controller = new AbortController();
    const pending = run(plan, { DF_STANDIN_SLEEP: '1' }, controller.signal);
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    const r = await pending;
    assert.ok(r.isCanceled, `${name} was cancelled`);
    // Past the stand-in's sleep: a child that outlived the cancel would have written by now.
    await new Promise((r) => setTimeout(r, 1200));
    assert.ok(!existsSync(plan.outputs[0]), `${name} left no output`);
  }
});
