// Job mail (the original's notification.py): one message when a build starts, one when it ends.
// Mail is a courtesy: a failure to send is written to the job log and never fails the build.

import { createTransport, type Transporter } from 'nodemailer';
import type { SmtpSettings } from './types.js';

export interface MailMessage {
  subject: string;
  text: string;
}

/** Sends a plain-text message; true when the server accepted it, false (and a log line) otherwise. */
export async function sendJobMail(
  settings: SmtpSettings,
  to: string,
  message: MailMessage,
  log?: (line: string) => void,
): Promise<boolean> {
  let transport: Transporter | undefined;
  try {
    transport = createTransport({
      host: settings.host,
      port: settings.port,
      // STARTTLS on a plain connection (587); implicit TLS (465) is not what the original used.
      secure: false,
      requireTLS: settings.starttls,
      ...(settings.user && { auth: { user: settings.user, pass: settings.password ?? '' } }),
      // nodemailer waits minutes by default; a job should not hang on an unreachable server.
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: 60_000,
    });
    await transport.sendMail({ from: settings.from, to, subject: message.subject, text: message.text });
    log?.(`mail "${message.subject}" sent to ${to}`);
    return true;
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    log?.(`mail "${message.subject}" to ${to} was not sent (SMTP ${settings.host}:${settings.port}): ${why}`);
    return false;
  } finally {
    transport?.close();
  }
}

interface JobIdentity {
  id: string;
  type: string;
  arch: string;
}

export function jobStartedMail(job: JobIdentity): MailMessage {
  return {
    subject: `Image build ${job.id} started: ${job.type} for ${job.arch}`,
    text:
      `Your ${job.type} image build for ${job.arch} has been accepted as job ${job.id}.\n` +
      'You will receive another email when it has finished.\n',
  };
}

export interface FinishedJob extends JobIdentity {
  state: 'succeeded' | 'staging_failed' | 'failed' | 'canceled';
  artifacts: string[];
  error?: string;
  logTail?: string[];
}

/** Lines of log quoted in a failure mail; more would bury the error. */
const TAIL_LINES = 40;

export function jobFinishedMail(job: FinishedJob): MailMessage {
  const lines: string[] = [];
  if (job.state === 'succeeded') lines.push(`Your ${job.type} image build for ${job.arch} (job ${job.id}) has finished.`);
  else if (job.state === 'staging_failed') lines.push(`Your ${job.type} image build for ${job.arch} (job ${job.id}) has finished, but its images could not be staged; they are kept on the build host.`);
  else if (job.state === 'failed') lines.push(`Your ${job.type} image build for ${job.arch} (job ${job.id}) failed.`);
  else lines.push(`Your ${job.type} image build for ${job.arch} (job ${job.id}) was canceled.`);
  if (job.error) lines.push('', `Error: ${job.error}`);
  if (job.artifacts.length) lines.push('', 'Images and logs:', ...job.artifacts.map((a) => `  ${a}`));
  // The tail is what tells the requester why; on success the log is among the artifacts anyway.
  const tail = job.state === 'succeeded' ? [] : (job.logTail ?? []).slice(-TAIL_LINES);
  if (tail.length) lines.push('', `Last ${tail.length} lines of the build log:`, ...tail.map((l) => `  ${l}`));
  return { subject: `Image build ${job.id} ${job.state.replace('_', ' ')}: ${job.type} for ${job.arch}`, text: `${lines.join('\n')}\n` };
}
