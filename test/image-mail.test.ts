import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { jobFinishedMail, jobStartedMail, sendJobMail } from '../src/lib/image/mail.ts';
import type { SmtpSettings } from '../src/lib/image/types.ts';

interface Received { from: string; rcpt: string[]; user?: string; headers: Record<string, string>; body: string }

/** Just enough of RFC 5322/2045 for nodemailer's single-part text messages. */
function parseMessage(raw: string): { headers: Record<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers: Record<string, string> = {};
  for (const line of raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.slice(split + 4);
  if (/quoted-printable/i.test(headers['content-transfer-encoding'] ?? '')) {
    body = Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  }
  return { headers, body: body.replace(/\r\n/g, '\n') };
}

/** A local SMTP server on 127.0.0.1 that keeps what it receives. */
async function startSmtp(opts: SMTPServerOptions = {}) {
  const received: Received[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    ...opts,
    onData(stream, session, done) {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcpt: session.envelope.rcptTo.map((r) => r.address),
          ...(typeof session.user === 'string' && { user: session.user }),
          ...parseMessage(Buffer.concat(parts).toString('utf8')),
        });
        done();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  return { received, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const settings = (port: number, more: Partial<SmtpSettings> = {}): SmtpSettings =>
  ({ host: '127.0.0.1', port, starttls: false, from: 'Fedora Build Service <builder@localhost>', ...more });

describe('job mail through a local SMTP server', () => {
  let plain: Awaited<ReturnType<typeof startSmtp>>;
  let authed: Awaited<ReturnType<typeof startSmtp>>;
  before(async () => {
    plain = await startSmtp();
    authed = await startSmtp({
      authOptional: false,
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'gene' && auth.password === 'app-pass') cb(null, { user: 'gene' });
        else cb(new Error('Invalid username or password'));
      },
    });
  });
  after(async () => { await plain.close(); await authed.close(); });

  test('the start and the finish messages arrive with To, Subject and the log tail', async () => {
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const job = { id: '42', type: 'boot', arch: 'x86_64' };
    assert.equal(await sendJobMail(settings(plain.port), 'requester@example.org', jobStartedMail(job), log), true);
    const tail = Array.from({ length: 60 }, (_, i) => `lorax step ${i + 1}`);
    const finished = jobFinishedMail({
      ...job, state: 'failed', artifacts: ['ftp://10.0.0.27/pub/imagebuild.log'], error: 'lorax failed with exit code 1', logTail: tail,
    });
    assert.equal(await sendJobMail(settings(plain.port), 'requester@example.org', finished, log), true);

    assert.equal(plain.received.length, 2);
    const [start, end] = plain.received as [Received, Received];
    for (const m of [start, end]) {
      assert.deepEqual(m.rcpt, ['requester@example.org']);
      assert.equal(m.from, 'builder@localhost');
      assert.equal(m.headers.to, 'requester@example.org');
      assert.match(m.headers.from!, /Fedora Build Service/);
      assert.match(m.headers['content-type']!, /^text\/plain/);
    }
    assert.equal(start.headers.subject, 'Image build 42 started: boot for x86_64');
    assert.match(start.body, /Your boot image build for x86_64 has been accepted as job 42\./);
    assert.equal(end.headers.subject, 'Image build 42 failed: boot for x86_64');
    assert.match(end.body, /\(job 42\) failed\./);
    assert.match(end.body, /Error: lorax failed with exit code 1/);
    assert.match(end.body, / {2}ftp:\/\/10\.0\.0\.27\/pub\/imagebuild\.log/);
    assert.match(end.body, /Last 40 lines of the build log:\n {2}lorax step 21\n/);
    assert.match(end.body, / {2}lorax step 60\n$/);
    assert.doesNotMatch(end.body, /lorax step 20\n/);
    assert.deepEqual(lines, [
      'mail "Image build 42 started: boot for x86_64" sent to requester@example.org',
      'mail "Image build 42 failed: boot for x86_64" sent to requester@example.org',
    ]);
  });

  test('logs in when a user is given', async () => {
    const ok = await sendJobMail(settings(authed.port, { user: 'gene', password: 'app-pass' }), 'a@example.org', { subject: 's', text: 't\n' });
    assert.equal(ok, true);
    assert.equal(authed.received.at(-1)!.user, 'gene');
    const lines: string[] = [];
    const bad = await sendJobMail(settings(authed.port, { user: 'gene', password: 'nope' }), 'a@example.org', { subject: 's', text: 't\n' }, (l) => lines.push(l));
    assert.equal(bad, false);
    assert.match(lines[0]!, /was not sent \(SMTP 127\.0\.0\.1:\d+\): .*Invalid username or password/);
  });

  test('starttls: true refuses a server without STARTTLS instead of sending in the clear', async () => {
    const lines: string[] = [];
    const before = plain.received.length;
    assert.equal(await sendJobMail(settings(plain.port, { starttls: true }), 'a@example.org', { subject: 's', text: 't' }, (l) => lines.push(l)), false);
    assert.equal(plain.received.length, before);
    assert.equal(lines.length, 1);
  });
});

test('a refused connection returns false and logs, never throws', async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  const lines: string[] = [];
  const ok = await sendJobMail(settings(port), 'a@example.org', jobStartedMail({ id: '1', type: 'live', arch: 'i686' }), (l) => lines.push(l));
  assert.equal(ok, false);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^mail "Image build 1 started: live for i686" to a@example.org was not sent \\(SMTP 127\\.0\\.0\\.1:${port}\\): .*ECONNREFUSED`));
  // Without a log function it is just as quiet.
  assert.equal(await sendJobMail(settings(port), 'a@example.org', { subject: 's', text: 't' }), false);
});

describe('message text', () => {
  test('success lists the artifacts and leaves the log tail out', () => {
    const m = jobFinishedMail({ id: '7', type: 'dvd', arch: 'x86_64', state: 'succeeded', artifacts: ['/srv/a.iso', '/srv/a-CHECKSUM'], logTail: ['noise'] });
    assert.equal(m.subject, 'Image build 7 succeeded: dvd for x86_64');
    assert.equal(m.text, 'Your dvd image build for x86_64 (job 7) has finished.\n\nImages and logs:\n  /srv/a.iso\n  /srv/a-CHECKSUM\n');
  });
  test('canceled says so and keeps the short tail it was given', () => {
    const m = jobFinishedMail({ id: '8', type: 'live', arch: 'i686', state: 'canceled', artifacts: [], logTail: ['a', 'b'] });
    assert.equal(m.subject, 'Image build 8 canceled: live for i686');
    assert.equal(m.text, 'Your live image build for i686 (job 8) was canceled.\n\nLast 2 lines of the build log:\n  a\n  b\n');
  });
});
