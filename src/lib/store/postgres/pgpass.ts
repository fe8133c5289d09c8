// libpq's password file (~/.pgpass, or $PGPASSFILE): lines of host:port:database:user:password,
// "*" matching anything in the first four fields, "\:" and "\\" escaping. As libpq does, a file
// that others may read is ignored with a warning, and a Unix socket connection matches "localhost".
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The fields of one line, unescaped; undefined for comments and lines with fewer than five fields. */
function fields(line: string): string[] | undefined {
  if (line.startsWith('#') || !line.trim()) return undefined;
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) cur += line[++i];
    else if (c === ':' && out.length < 4) { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out.length === 5 ? out : undefined;
}

export async function pgpassLookup(c: { host: string; port: number; database: string; user: string }, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const file = env.PGPASSFILE || join(env.HOME || homedir(), '.pgpass');
  let text: string;
  try {
    const st = await stat(file);
    if (!st.isFile()) return undefined;
    if (st.mode & 0o077) {
      process.stderr.write(`WARNING: password file "${file}" has group or world access; permissions should be u=rw (0600) or less\n`);
      return undefined;
    }
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const host = c.host.startsWith('/') ? 'localhost' : c.host;
  const want = [host, String(c.port), c.database, c.user];
  for (const line of text.split(/\r?\n/)) {
    const f = fields(line);
    if (f && want.every((w, i) => f[i] === '*' || f[i] === w)) return f[4];
  }
  return undefined;
}
