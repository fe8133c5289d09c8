// Passwords (SMTP, FTP staging) never go into job records, logs or --dry-run output: the
// record keeps "***", and the process that runs the job gets the real values in memory, or
// through a pipe on its standard input when detached (an environment variable would stay
// readable in /proc/PID/environ for the whole build).
import { fstatSync, readFileSync } from 'node:fs';
import { ImageBuildConfig } from './types.js';

export interface JobSecrets {
  smtpPassword?: string;
  staging?: string;
}

export const SECRETS_ENV = 'DARKFORGE_JOB_SECRETS';
const MASK = '***';

/** ftp://user:secret@host/path -> ftp://user:***@host/path */
export function maskUrlPassword(url: string): string {
  return url.replace(/^(ftp:\/\/[^/:@]*:)[^@/]*@/i, `$1${MASK}@`);
}

export function splitSecrets(cfg: ImageBuildConfig): { redacted: ImageBuildConfig; secrets: JobSecrets } {
  const secrets: JobSecrets = {};
  const redacted: ImageBuildConfig = { ...cfg };
  if (cfg.smtp?.password) {
    secrets.smtpPassword = cfg.smtp.password;
    redacted.smtp = { ...cfg.smtp, password: MASK };
  }
  if (cfg.staging && maskUrlPassword(cfg.staging) !== cfg.staging) {
    secrets.staging = cfg.staging;
    redacted.staging = maskUrlPassword(cfg.staging);
  }
  return { redacted, secrets };
}

export function withSecrets(cfg: ImageBuildConfig, s: JobSecrets | undefined): ImageBuildConfig {
  if (!s) return cfg;
  return {
    ...cfg,
    staging: s.staging ?? cfg.staging,
    smtp: cfg.smtp && s.smtpPassword ? { ...cfg.smtp, password: s.smtpPassword } : cfg.smtp,
  };
}

/** Read (once) and forget the secrets a detached job was started with. */
export function takeSecretsFromEnv(env: NodeJS.ProcessEnv = process.env): JobSecrets | undefined {
  const raw = env[SECRETS_ENV];
  delete env[SECRETS_ENV];
  return raw ? parseSecrets(raw) : undefined;
}

/**
 * The secrets a detached runner's parent wrote into its standard input, when that is a pipe
 * (never a terminal or /dev/null: `run-job` typed by hand must not wait for input).
 */
export function takeSecretsFromStdin(fd = 0): JobSecrets | undefined {
  try {
    // Node gives a child's stdin pipe as a socketpair; a shell pipe is a FIFO.
    const st = fstatSync(fd);
    if (!st.isFIFO() && !st.isSocket()) return undefined;
    const raw = readFileSync(fd, 'utf8');
    return raw ? parseSecrets(raw) : undefined;
  } catch {
    return undefined;
  }
}

function parseSecrets(raw: string): JobSecrets | undefined {
  try {
    const v = JSON.parse(raw) as JobSecrets;
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Replaces every password the configuration holds (as written, and %-decoded for URLs) with
 * "***": for log lines and error messages that might quote a server's answer or a URL.
 */
export function secretRedactor(cfg: ImageBuildConfig): (text: string) => string {
  const values = new Set<string>();
  if (cfg.smtp?.password && cfg.smtp.password !== MASK) values.add(cfg.smtp.password);
  const m = /^ftp:\/\/[^/:@]*:([^@/]*)@/i.exec(cfg.staging ?? '');
  if (m?.[1] && m[1] !== MASK) {
    values.add(m[1]);
    try { values.add(decodeURIComponent(m[1])); } catch { /* a broken escape: the raw form is enough */ }
  }
  // Longest first, so a password that contains another is replaced whole.
  const list = [...values].filter((v) => v.length >= 3).sort((a, b) => b.length - a.length);
  return (text) => list.reduce((t, v) => t.split(v).join(MASK), text);
}

/**
 * The passwords `cfg` still has only as "***" (a job's record, with nothing to fill them in on
 * this machine), described for a log line: "SMTP password for USER@HOST", "FTP password for USER@HOST".
 */
export function maskedSecrets(cfg: ImageBuildConfig): string[] {
  const out: string[] = [];
  if (cfg.smtp?.password === MASK) out.push(`SMTP password for ${cfg.smtp.user ?? ''}@${cfg.smtp.host}`);
  const m = FTP_LOGIN.exec(cfg.staging ?? '');
  if (m && m[2] === MASK) out.push(`FTP password for ${m[1]}@${m[3]}`);
  return out;
}

// ftp://USER:PASSWORD@HOST[:PORT]/…: user, password as written (percent-encoded), host[:port].
const FTP_LOGIN = /^ftp:\/\/([^/:@]*):([^@/]*)@([^/]*)/i;

/**
 * The passwords a job's record masks, from credentials this machine has (an `imagebuild worker
 * --config FILE`): the SMTP password of the same server and user, the FTP password of the same
 * user at the same host and port.
 */
export function secretsFrom(cfg: ImageBuildConfig, own: { smtp?: { host: string; user?: string; password?: string }; staging: string[] }): JobSecrets {
  const out: JobSecrets = {};
  if (cfg.smtp?.password === MASK && own.smtp?.password && own.smtp.host === cfg.smtp.host && own.smtp.user === cfg.smtp.user) {
    out.smtpPassword = own.smtp.password;
  }
  const job = FTP_LOGIN.exec(cfg.staging ?? '');
  if (job && job[2] === MASK) {
    for (const url of own.staging) {
      const m = FTP_LOGIN.exec(url);
      if (m && m[2] !== MASK && m[1] === job[1] && m[3].toLowerCase() === job[3].toLowerCase()) {
        out.staging = cfg.staging!.replace(FTP_LOGIN, `ftp://${job[1]}:${m[2]}@${job[3]}`);
        break;
      }
    }
  }
  return out;
}

/**
 * A retried job has only the masked record: read the passwords again from the .conf file it
 * came from, where that file still says the same (masked) thing.
 */
export async function recoverSecrets(cfg: ImageBuildConfig): Promise<JobSecrets> {
  const masked = cfg.smtp?.password === MASK || (cfg.staging ?? '').includes(`:${MASK}@`);
  if (!masked || !cfg.files[0]) return {};
  const { loadImageConfig } = await import('./config.js');
  const fresh = loadImageConfig({ type: cfg.type, configFile: cfg.files[0], overrides: { arch: cfg.arch, release: cfg.release } }).config;
  if (!fresh) return {};
  const { redacted, secrets } = splitSecrets(fresh);
  const out: JobSecrets = {};
  if (redacted.staging === cfg.staging) out.staging = secrets.staging;
  if (fresh.smtp && cfg.smtp && fresh.smtp.host === cfg.smtp.host && fresh.smtp.user === cfg.smtp.user) out.smtpPassword = secrets.smtpPassword;
  return out;
}
