// Passwords (SMTP, FTP staging) never go into job records, logs or --dry-run output: the
// record keeps "***", and the process that runs the job gets the real values in memory, or
// through its environment when detached.
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
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as JobSecrets;
  } catch {
    return undefined;
  }
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
