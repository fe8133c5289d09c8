// A --db postgresql://… (or postgres://…) URL as libpq reads it: the URL first, then libpq's
// environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE,
// PGSSLROOTCERT, PGCONNECT_TIMEOUT, PGAPPNAME, PGPASSFILE), then libpq's defaults (the local
// socket, the login name). The password never leaves this module except to the client: what is
// shown is `display`, the same URL without it.
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { ioMessage, UserError } from '../../errors.js';
import { pgpassLookup } from './pgpass.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** The URL query parameters darkforge understands (libpq's names). */
const PARAMS = new Set(['host', 'hostaddr', 'port', 'user', 'password', 'dbname', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
  'connect_timeout', 'application_name', 'options']);

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  /** "postgresql://user@host:port/db": for messages, --json and job records. */
  display: string;
  sslmode: SslMode;
  ssl: ConnectionOptions | false;
  connectTimeoutS: number;
  applicationName: string;
  options?: string;
  /** The password from the URL or PGPASSWORD, else from the password file when the server asks; never shown. */
  password: () => Promise<string | undefined>;
  /** Every password this target may use, so that messages can be checked for them. */
  secrets: () => string[];
  /**
   * The --db argument and environment that hand this store to a child process (a detached image
   * job) without a password on its command line: one from the URL goes in PGPASSWORD.
   */
  child: { arg: string; env: NodeJS.ProcessEnv };
}

/** The text after "postgresql://" that is the password, so it can be cut out of anything shown. */
function splitUserinfo(url: string): { rest: string; user?: string; password?: string } {
  const m = /^(postgres(?:ql)?:\/\/)([^@/?#]*)@(.*)$/is.exec(url);
  if (!m) return { rest: url };
  const info = m[2];
  const colon = info.indexOf(':');
  const dec = (s: string): string => {
    try { return decodeURIComponent(s); } catch { return s; }
  };
  return {
    rest: `${m[1]}${m[3]}`,
    user: dec(colon < 0 ? info : info.slice(0, colon)) || undefined,
    password: colon < 0 ? undefined : dec(info.slice(colon + 1)),
  };
}

/** A --db URL with any password replaced by "***", for messages about a URL that did not parse. */
export function redactDbUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/?#]*):[^@/?#]*@/i, '$1:***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** The URL without its password (in the user part or as a parameter). */
function withoutPassword(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/?#]*):[^@/?#]*@/i, '$1@').replace(/([?&])password=[^&#]*&?/gi, '$1').replace(/[?&]$/, '');
}

const bad = (url: string, why: string): UserError => new UserError(`${redactDbUrl(url)}: ${why}`, 2);

/** Where libpq looks for the server when no host is given: its socket folder, if one is there. */
function defaultHost(port: number): string {
  for (const dir of ['/var/run/postgresql', '/run/postgresql', '/tmp']) if (existsSync(join(dir, `.s.PGSQL.${port}`))) return dir;
  return 'localhost';
}

function readPem(url: string, what: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw bad(url, `cannot read ${what} ${file} (${ioMessage(e)})`);
  }
}

export function parsePgTarget(url: string, env: NodeJS.ProcessEnv = process.env): PgTarget {
  const { rest, user: urlUser, password: urlPassword } = splitUserinfo(url);
  let u: URL;
  try {
    // WHATWG URL parses the authority of any scheme; "postgresql:" is not special, so the host stays as written.
    u = new URL(rest.replace(/^postgres(ql)?:/i, 'postgresql:'));
  } catch {
    throw bad(url, 'not a valid PostgreSQL URL (postgresql://[user[:password]@][host][:port][/dbname][?param=value&…])');
  }
  if (u.hash) throw bad(url, 'a PostgreSQL URL has no #fragment');
  const q = new Map<string, string>();
  for (const [k, v] of u.searchParams) {
    if (!PARAMS.has(k)) throw bad(url, `unknown URL parameter "${k}" (known: ${[...PARAMS].join(', ')})`);
    q.set(k, v);
  }
  if (u.hostname.includes(',')) throw bad(url, 'several hosts in one URL are not supported; name one server');
  const portText = q.get('port') ?? (u.port || env.PGPORT || '5432');
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw bad(url, `port ${portText} is not a TCP port number`);
  const port = Number(portText);
  const urlHost = u.hostname ? decodeURIComponent(u.hostname).replace(/^\[(.*)\]$/, '$1') : '';
  const host = q.get('host') || q.get('hostaddr') || urlHost || env.PGHOST || defaultHost(port);
  const user = q.get('user') || urlUser || env.PGUSER || userInfo().username;
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (path.includes('/')) throw bad(url, `"${path}" is not a database name`);
  const database = q.get('dbname') || path || env.PGDATABASE || user;

  // libpq takes an empty variable for an unset one.
  const modeText = q.get('sslmode') ?? (env.PGSSLMODE || 'prefer');
  if (!SSL_MODES.includes(modeText as SslMode)) throw bad(url, `sslmode "${modeText}" is not one of ${SSL_MODES.join(', ')}`);
  const sslmode = modeText as SslMode;
  const timeoutText = q.get('connect_timeout') ?? (env.PGCONNECT_TIMEOUT || '10');
  if (!/^\d+$/.test(timeoutText)) throw bad(url, `connect_timeout "${timeoutText}" is not a number of seconds`);

  // TLS with the server's certificate always verified, chain and host name (Node's defaults,
  // never turned off): require and verify-ca are as strict as verify-full here, stricter than
  // libpq. disable, allow and prefer connect without TLS.
  let ssl: ConnectionOptions | false = false;
  if (sslmode === 'require' || sslmode === 'verify-ca' || sslmode === 'verify-full') {
    const home = env.HOME || homedir();
    const rootcert = q.get('sslrootcert') || env.PGSSLROOTCERT || (existsSync(join(home, '.postgresql', 'root.crt')) ? join(home, '.postgresql', 'root.crt') : 'system');
    ssl = { servername: /^[\d.:]+$/.test(host) ? undefined : host };
    if (rootcert !== 'system') ssl.ca = readPem(url, 'sslrootcert', rootcert);
    const cert = q.get('sslcert') || env.PGSSLCERT;
    const key = q.get('sslkey') || env.PGSSLKEY;
    if (cert) ssl.cert = readPem(url, 'sslcert', cert);
    if (key) ssl.key = readPem(url, 'sslkey', key);
  }
  if (ssl && host.startsWith('/')) ssl = false; // a Unix socket: libpq uses no TLS there either

  const inUrl = q.get('password') ?? urlPassword;
  const given = inUrl ?? (env.PGPASSWORD || undefined);
  let found: string | undefined;
  const shownHost = host.startsWith('/') ? '' : host.includes(':') ? `[${host}]` : host;
  const display = `postgresql://${encodeURIComponent(user)}@${shownHost}:${port}/${encodeURIComponent(database)}`
    + (host.startsWith('/') ? `?host=${host}` : '');
  return {
    host, port, user, database, display, sslmode, ssl,
    connectTimeoutS: Number(timeoutText),
    applicationName: q.get('application_name') || env.PGAPPNAME || 'darkforge',
    options: q.get('options'),
    password: async () => {
      if (given !== undefined) return given;
      found ??= await pgpassLookup({ host, port, database, user }, env);
      return found;
    },
    secrets: () => [given, found].filter((p): p is string => !!p),
    child: { arg: withoutPassword(url), env: inUrl === undefined ? {} : { PGPASSWORD: inUrl } },
  };
}
