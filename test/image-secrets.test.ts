// imagebuild and hostile or secret values: configuration values never reach a shell (they arrive
// verbatim as single arguments, or are refused up front), SMTP and FTP passwords appear in no
// output, log, job record or file, and only http, https, ftp and file URLs are downloaded from.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { UserError } from '../src/lib/errors.ts';
import { parseKickstartSummary } from '../src/lib/image/kickstart.ts';
import { JobStore } from '../src/lib/image/jobs.ts';
import { checkKickstartRepos } from '../src/lib/image/validate.ts';
import { openStore } from '../src/lib/store/open.ts';
import { ROOT } from './helpers/paths.ts';
import { tempDir } from './helpers/cli.ts';
import {
  CONF, confCopy, filesUnder, freePort, FtpServer, ib, ibChild, imageEnv, ImageEnv, isIso, JobJson, standinRuns, startFtp, waitFor,
} from './helpers/image-jobs.ts';

/** The argument after `flag` in a recorded argv. */
const after1 = (argv: string[], flag: string): string | undefined => argv[argv.indexOf(flag) + 1];

describe('shell metacharacters in configuration values', () => {
  const canary = tempDir('darkforge-canary-');
  const c = (name: string): string => join(canary, name);
  // Every way a shell would run `touch`: command substitution, backticks, ; && | and quote breaking.
  const P = {
    subst: `$(touch ${c('subst')})`,
    ticks: `\`touch ${c('ticks')}\``,
    semi: `x; touch ${c('semi')}`,
    and: `x && touch ${c('and')} | cat`,
    quote: `'"; touch ${c('quote')} #`,
    url: `https://example.org/os/$(touch ${c('url')})/;touch ${c('url2')}`,
  };
  /** No file a shell would have made: none in the canary folder, none of those names anywhere below `dir`. */
  const nothingRan = (dir: string): void => {
    assert.deepEqual(readdirSync(canary), [], 'a shell ran a value');
    const made = filesUnder(dir).filter((f) => /^(?:rel-[a-z]+|subst|ticks|semi|and|quote|url2?)$/.test(basename(f)));
    assert.deepEqual(made.map((f) => relative(dir, f)), [], 'a shell ran a value');
  };
  const run = async (e: ImageEnv, args: string[]) => {
    // The CLI runs in the canary folder, so a relative `touch` would land there too.
    const r = await ibChild(e, args, { cwd: canary }).done;
    return r;
  };

  test('boot: product, repository and proxy URLs reach lorax verbatim, one argument each', async () => {
    const e = imageEnv();
    const conf = confCopy((t) => t
      .replace(/^product = fedora$/m, `product = ${P.subst}`)
      .replace(/^40_url = .*$/m, `40_url = ${P.url}`)
      .replace(/^proxy =$/m, `proxy = http://proxy.example.org:3128/${P.ticks}`));
    const r = await run(e, ['boot', '--config', conf, '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 0, r.stderr);
    const [lorax] = standinRuns(e);
    assert.equal(after1(lorax.argv, '-p'), P.subst);
    assert.equal(after1(lorax.argv, '-s'), P.url);
    assert.ok(lorax.argv.includes(`--proxy=http://proxy.example.org:3128/${P.ticks}`), lorax.argv.join(' '));
    nothingRan(e.home);
  });

  test('dvd: name, release, bugurl and a staging folder full of shell characters arrive as they are', async () => {
    const e = imageEnv();
    const cache = `${join(e.home, 'cache')}/${P.semi.replace(/\//g, '_')}`;
    const conf = confCopy((t) => t
      .replace(/^name = Fedora$/m, 'name = Fedora$(touch rel-name)`touch rel-tick`')
      .replace(/^bugurl = .*$/m, `bugurl = ${P.and}`)
      .replace(/^cachedir = \/tmp\/pungi_cache$/m, `cachedir = ${cache}`));
    const staging = join(e.home, 'out dir', '$(touch rel-stage);x');
    const release = '40$(touch rel-release)';
    const r = await run(e, ['dvd', '--config', conf, '--release', release, '--staging', `file://${staging}`, '--keep-workdir']);
    assert.equal(r.code, 0, r.stderr);
    const [pungi] = standinRuns(e);
    assert.equal(after1(pungi.argv, '--name'), 'Fedora$(touch rel-name)`touch rel-tick`');
    assert.equal(after1(pungi.argv, '--ver'), release);
    assert.equal(after1(pungi.argv, '--bugurl'), P.and);
    assert.equal(after1(pungi.argv, '--cachedir'), cache);
    assert.ok(readdirSync(staging).some((f) => f.endsWith('.iso') && isIso(join(staging, f))), 'staged into the folder named, verbatim');
    nothingRan(e.home);
  });

  test('live: title and product reach livemedia-creator verbatim; a volume id with shell characters is refused up front', async () => {
    const e = imageEnv();
    const conf = confCopy((t) => t
      .replace(/^title = Fedora Live$/m, `title = ${P.quote}`)
      .replace(/^product = Fedora$/m, `product = ${P.semi}`));
    const r = await run(e, ['live', '--config', conf, '--backend', 'livemedia-creator', '--staging', `file://${e.staging}`]);
    assert.equal(r.code, 0, r.stderr);
    const [lmc] = standinRuns(e);
    assert.equal(after1(lmc.argv, '--title'), P.quote);
    assert.equal(after1(lmc.argv, '--project'), P.semi);

    const bad = confCopy((t) => t.replace(/\[live\][\s\S]*/, (live) => live.replace(/^volid =$/m, `volid = LIVE${P.subst}`)));
    const refused = await run(e, ['live', '--config', bad, '--backend', 'livemedia-creator']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /\[live\] volid = "LIVE\$\(touch .*\)": not usable as the live ISO volume id \(allowed: 1-32 characters: letters, digits, - _ \.\)/);
    assert.equal(standinRuns(e).length, 1, 'nothing ran for the refused configuration');
    nothingRan(e.home);
  });

  test('an scp staging path with shell characters is refused before any job exists', async () => {
    const e = imageEnv();
    for (const staging of ['builder@stage.example.org:/srv/$(touch rel-scp)', `scp://stage.example.org/srv/a;touch ${c('semi')}`]) {
      const r = await run(e, ['boot', '--config', CONF, '--staging', staging]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--staging ".*": scp paths may hold only letters, digits and \._~\/\+@%=,:- \(allowed: /);
    }
    assert.equal(ib(e, ['list', '--json']).stdout.trim(), '[]');
    assert.equal(standinRuns(e).length, 0);
    nothingRan(e.home);
  });
});

test('the image code never asks a shell: no shell option, no sh -c, no command strings', () => {
  const src = filesUnder(join(ROOT, 'src', 'lib', 'image')).filter((f) => f.endsWith('.ts'));
  assert.ok(src.length > 20, 'the image sources are there');
  const calls: string[] = [];
  for (const f of src) {
    const text = readFileSync(f, 'utf8');
    for (const [what, re] of [
      ['shell option', /\bshell\s*:/],
      ['execaCommand', /\bexecaCommand(?:Sync)?\b/],
      ['template-string command', /\b(?:execa|\$)`/],
      ['child_process exec', /\bimport\s*\{[^}]*\bexec(?:Sync)?\b[^}]*\}\s*from\s*['"](?:node:)?child_process['"]|child_process\.exec(?:Sync)?\(/],
      ['sh -c', /['"](?:\/(?:usr\/)?bin\/)?(?:ba|da)?sh['"]\s*,\s*\[?\s*['"]-c['"]/],
    ] as const) {
      if (re.test(text)) calls.push(`${relative(ROOT, f)}: ${what}`);
    }
    if (/\b(?:execa|spawn|execFile)\s*\(/.test(text)) calls.push(`${relative(ROOT, f)}: runs programs`);
  }
  // Everything that runs a program does it with an argument list; nothing else appears.
  assert.deepEqual(calls.filter((c) => !c.endsWith('runs programs')), []);
  assert.ok(calls.length >= 4, calls.join('\n'));
});

describe('passwords', () => {
  const FTP_PW = 'Ftp-Pw-7c1e9b';
  const SMTP_PW = 'Smtp-Pw-4d2a8f';
  const BAD_PW_TAIL = 'Pw-0b5e1c';
  const secretsIn = (text: string): string[] => [FTP_PW, SMTP_PW, BAD_PW_TAIL, encodeURIComponent(FTP_PW)].filter((s) => text.includes(s));
  let ftp: FtpServer;
  let smtp: SMTPServer;
  let smtpPort = 0;
  const logins: { user: string; ok: boolean }[] = [];
  const mails: string[] = [];
  const outputs: string[] = [];

  before(async () => {
    ftp = await startFtp(tempDir('darkforge-ftp-'), { user: 'qa', password: FTP_PW });
    smtp = new SMTPServer({
      logger: false, disabledCommands: ['STARTTLS'], allowInsecureAuth: true, authOptional: false,
      onAuth(auth, _session, cb) {
        const ok = auth.username === 'mailer' && auth.password === SMTP_PW;
        logins.push({ user: auth.username ?? '', ok });
        return ok ? cb(null, { user: auth.username }) : cb(new Error('Invalid username or password'));
      },
      onData(stream, _session, cb) { let t = ''; stream.on('data', (d) => { t += d; }); stream.on('end', () => { mails.push(t); cb(); }); },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    smtpPort = (smtp.server.address() as { port: number }).port;
  });
  after(async () => {
    await ftp?.stop();
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  });

  const conf = (o: { staging?: string; smtpUser?: string; smtpPassword?: string } = {}): string => confCopy((t) => `${t
    .replace(/^staging =$/m, `staging = ${o.staging ?? `ftp://qa:${FTP_PW}@127.0.0.1:${ftp.port}/images`}`)
    .replace(/^email =$/m, 'email = qa@example.org')}
[smtp]
host = 127.0.0.1
port = ${smtpPort}
starttls = no
user = ${o.smtpUser ?? 'mailer'}
password = ${o.smtpPassword ?? SMTP_PW}
from = Image Builder <imagebuild@example.org>
`);
  const cli = async (e: ImageEnv, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await ibChild(e, args, { env }).done;
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  test('the job logs in to FTP and SMTP, yet no output, log, record or file holds either password', async () => {
    const e = imageEnv();
    const good = conf();

    // --dry-run, as text and as JSON.
    for (const json of [[], ['--json']]) {
      const dry = await cli(e, ['dvd', '--config', good, '--dry-run', ...json]);
      assert.equal(dry.code, 0, dry.stderr);
    }
    assert.match(outputs[0], /staging: ftp:\/\/qa:\*\*\*@127\.0\.0\.1/);

    // An attached build: staged over FTP with the password, mail sent with the SMTP login.
    const attached = await cli(e, ['dvd', '--config', good, '--json']);
    assert.equal(attached.code, 0, attached.stderr);
    assert.equal((JSON.parse(attached.stdout) as JobJson).state, 'succeeded');
    assert.ok(readdirSync(join(ftp.root, 'images')).some((f) => f.endsWith('.iso')), 'the FTP password was used');
    assert.ok(logins.some((l) => l.user === 'mailer' && l.ok), 'the SMTP password was used');
    assert.equal(mails.length, 2);

    // A detached build: its runner gets the passwords through a pipe, not its environment.
    const d = await cli(e, ['dvd', '--config', good, '--detach', '--json'], { DF_STANDIN_SLEEP: '2' });
    assert.equal(d.code, 0, d.stderr);
    const { id } = JSON.parse(d.stdout) as { id: number };
    // Polled in this process (the same JobStore `status` uses), to keep the test quick.
    const store = await openStore(e.db);
    const jobs = new JobStore(store);
    const runner = await waitFor('the runner', async () => {
      const s = (await jobs.get(id))!;
      return s.state === 'running' ? s.pid! : undefined;
    }, 30_000, 50);
    const environ = readFileSync(`/proc/${runner}/environ`, 'latin1');
    assert.deepEqual(secretsIn(environ), [], 'the runner\'s environment');
    const done = await waitFor('the detached job to end', async () => {
      const s = (await jobs.get(id))!;
      return s.state === 'running' || s.state === 'queued' ? undefined : s;
    }, 60_000, 100);
    await store.close();
    assert.equal(done.state, 'succeeded', done.error ?? '');
    await waitFor('the detached job\'s mails', () => (mails.length === 4 ? true : undefined), 30_000, 100);

    // Failures that quote servers and targets: staging to a closed port, an SMTP login refused.
    const closed = await freePort();
    const failing = conf({ staging: `ftp://qa:${FTP_PW}@127.0.0.1:${closed}/images`, smtpUser: 'intruder' });
    const f = await cli(e, ['dvd', '--config', failing, '--json']);
    assert.equal(f.code, 1);
    const failed = JSON.parse(f.stdout) as JobJson;
    assert.equal(failed.state, 'staging_failed');
    assert.match(failed.error!, /^staging failed: Could not stage to ftp:\/\/qa@127\.0\.0\.1:\d+\/images: .*ECONNREFUSED/);
    assert.match(readFileSync(failed.log_path, 'utf8'), /mail "Image build \d+ started: dvd for \S+" to qa@example\.org was not sent .*Invalid/);

    // Configuration mistakes that quote values: a bad staging URL, a password ConfigParser rejects.
    const badUrl = await cli(e, ['dvd', '--config', conf({ staging: `ftp://qa:${FTP_PW}@bad_host!/x` })]);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /staging = "ftp:\/\/qa:\*\*\*@bad_host!\/x"/);
    const badPw = await cli(e, ['dvd', '--config', conf({ smtpPassword: `Bad%${BAD_PW_TAIL}` })]);
    assert.equal(badPw.code, 2);
    assert.match(badPw.stderr, /\[smtp\] password = "\*\*\*": a "%" must be followed by "%" or "\("/);

    // retry: the passwords come again from the .conf file, not from the record.
    const again = await cli(e, ['retry', '1', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as JobJson).state, 'succeeded');

    // Every record is in list --json; the logs are files, read below with everything else.
    for (const args of [['list', '--json'], ['status', '1'], ['status', '1', '--json'], ['status', '3', '--json'], ['logs', '3']]) {
      const r = await cli(e, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    outputs.forEach((o, i) => assert.deepEqual(secretsIn(o), [], `output ${i}: ${o.slice(0, 400)}`));
    const files = [...filesUnder(e.data), ...[e.db, `${e.db}-wal`, `${e.db}-shm`].filter((p) => existsSync(p))];
    assert.ok(files.some((p) => p.endsWith('job.log')) && files.some((p) => p.endsWith('.iso')));
    for (const file of files) assert.deepEqual(secretsIn(readFileSync(file).toString('latin1')), [], file);
  });
});

test('kickstart repositories: only http, https, ftp and file URLs, refused before any job exists', async () => {
  const bad: [string, RegExp][] = [
    ['repo --name=evil --baseurl=gopher://example.org/repo/', /^repo --name=evil: --baseurl=gopher:\/\/example\.org\/repo\/ is not a URL darkforge downloads from \(allowed: http, https, ftp, file\)$/],
    ['repo --name=js --mirrorlist=javascript:alert(1)', /^repo --name=js: --mirrorlist=javascript:alert\(1\) is not a URL/],
    ['repo --name=data --metalink=data:text/plain,x', /^repo --name=data: --metalink=data:text\/plain,x is not a URL/],
    ['repo --name=sneaky --baseurl=ftp://u:Ks-Pw-99@/repo/', /^repo --name=sneaky: --baseurl=ftp:\/\/u:\*\*\*@\/repo\/ is not a URL/],
  ];
  for (const [line, what] of bad) {
    assert.throws(() => checkKickstartRepos(parseKickstartSummary(`${line}\n%packages\n@core\n%end\n`).repos), (err: unknown) => {
      assert.ok(err instanceof UserError && err.exitCode === 2, String(err));
      assert.match(err.message, what);
      assert.doesNotMatch(err.message, /Ks-Pw-99/);
      return true;
    });
  }
  for (const ok of ['http://example.org/$releasever/', 'https://example.org/x', 'ftp://mirror.example.org/pub/', 'file:///srv/repo/$basearch/']) {
    checkKickstartRepos(parseKickstartSummary(`repo --name=ok --baseurl=${ok}\n`).repos);
  }

  // Through the CLI: exit 2 with one line, for a build and for --dry-run, and no job.
  const e = imageEnv();
  const ks = join(tempDir(), 'evil.ks');
  writeFileSync(ks, `${bad[0][0]}\n%packages\n@core\n%end\n`);
  const conf = confCopy((t) => t.replace(/^config = .*fedora-minimal\.ks$/m, `config = ${ks}`));
  for (const extra of [[], ['--dry-run']]) {
    const r = ib(e, ['dvd', '--config', conf, '--staging', `file://${e.staging}`, ...extra]);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `imagebuild dvd: kickstart ${ks}: repo --name=evil: --baseurl=gopher://example.org/repo/ is not a URL darkforge downloads from (allowed: http, https, ftp, file)\n`);
  }
  assert.equal(ib(e, ['list', '--json']).stdout.trim(), '[]');
  assert.equal(standinRuns(e).length, 0);
});
