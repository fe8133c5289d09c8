// An HTTP error answer, turned into one line for a message and nothing left behind. Servers and
// the proxies in front of them answer errors with every kind of body: Apache's and haproxy's HTML
// 503 pages, nginx's 404 page, a text/plain line, an XML document (S3, an XML-RPC fault), JSON
// (problem+json), an empty body without a content type, a 1 MB page, a body cut off mid-way. Each
// is read for at most a few KiB, drained a little further (so the connection can serve the next
// request) and then dropped. undici's body emits RequestAbortedError when it is destroyed unread,
// and an 'error' event that nobody listens to ends the process: every body that passes through
// here has a listener before anything else happens to it.
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';

/** Bytes of an error body kept for its message. */
const KEEP = 16 * 1024;
/** Bytes read (and thrown away) before the connection is dropped instead. */
const DRAIN = 64 * 1024;
/** Longest a detail line gets in a message. */
const LINE = 200;

const ignore = (): void => undefined;

/** An HTTP answer that was not the document: "HTTP 503 (Service Unavailable: Back soon)". */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    /** One line from the body, or "". */
    readonly detail = '',
    /** The server's Retry-After, in ms from when the answer came. */
    readonly retryAfterMs?: number,
  ) {
    super(statusPhrase(status, detail));
    this.name = 'HttpStatusError';
  }
}

/** "HTTP 404 (Not Found)", "HTTP 503 (Service Unavailable: the hub is down for maintenance)". */
export function statusPhrase(status: number, detail = ''): string {
  const words = [STATUS_CODES[status], detail].filter(Boolean).join(': ');
  return `HTTP ${status}${words ? ` (${words})` : ''}`;
}

export interface ErrorResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/**
 * The error a non-2xx answer stands for. Reads at most 16 KiB of its body for a detail line,
 * drains it up to 64 KiB, then drops the connection; never rejects, never leaves an event unheard.
 */
export async function httpError(res: ErrorResponse, url: string, o: { timeoutMs?: number } = {}): Promise<HttpStatusError> {
  const type = header(res.headers['content-type']);
  const length = Number(header(res.headers['content-length']));
  // Only text says anything; other bodies are drained or dropped unread.
  const texty = type === undefined || /^(text\/|application\/([\w.-]+\+)?(xml|json|xhtml\+xml))/i.test(type);
  const raw = await readBodyHead(res.body, { keep: texty ? KEEP : 0, length, timeoutMs: o.timeoutMs });
  return new HttpStatusError(res.statusCode, url, bodyLine(type, raw, res.statusCode), retryAfterMs(res.headers['retry-after']));
}

/** Let go of a body nobody will read (drained if short, else its connection dropped), quietly. */
export function discardBody(body: Readable): void {
  void readBodyHead(body, { keep: 0 });
}

/**
 * The first `keep` bytes of a body (fewer if it ends or fails first). The body is drained up to
 * `drain` bytes and then destroyed, or destroyed as soon as `keep` bytes are in when its length
 * says draining would not end it; `timeoutMs` bounds the whole read. Never rejects.
 */
export function readBodyHead(body: Readable, o: { keep?: number; drain?: number; length?: number; timeoutMs?: number } = {}): Promise<Buffer> {
  body.on('error', ignore); // for good: undici may report the abort after this function is done
  const keep = Math.max(0, o.keep ?? KEEP);
  const drain = Math.max(keep, o.drain ?? DRAIN);
  const tooLong = Number.isFinite(o.length) && (o.length as number) > drain;
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let kept = 0;
    let seen = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      body.off('data', onData);
      body.off('end', finish);
      body.off('close', finish);
      body.off('error', finish);
      resolve(Buffer.concat(parts, kept));
    };
    const drop = (): void => {
      finish();
      if (!body.destroyed) body.destroy();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (kept < keep) {
        const piece = chunk.subarray(0, keep - kept);
        parts.push(piece);
        kept += piece.length;
      }
      if (seen >= drain || (tooLong && kept >= keep)) drop();
    };
    const timer = setTimeout(drop, Math.min(o.timeoutMs ?? 10_000, 10_000));
    timer.unref?.();
    if (body.destroyed || body.readableEnded) { finish(); return; }
    body.on('data', onData);
    body.once('end', finish);
    body.once('close', finish);
    body.once('error', finish);
  });
}

/** The Retry-After header in ms from now: delta-seconds or an HTTP-date; undefined if absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = header(value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Math.min(Number(v), 1e7) * 1000;
  // An HTTP-date always names its weekday and zone; Date.parse alone would take "12" as a year.
  if (!/^[A-Za-z]{3,9},? /.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

// ---- one line from a body ----------------------------------------------------------------------

/**
 * One line that says what the error body says, or "": text/plain's first line; an HTML page's
 * <title>, else its first heading, else its first line of text, skipping any that only repeat the
 * status; XML's fault string or message element, else its first text; JSON's message, detail,
 * title or error. Without a content type the body is sniffed. Never raw markup.
 */
export function bodyLine(contentType: string | undefined, raw: Buffer, status: number): string {
  if (!raw.length) return '';
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const text = decode(raw, /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType ?? '')?.[1]);
  const kind = type === 'text/html' || type === 'application/xhtml+xml' ? 'html'
    : /[/+]xml$/.test(type) ? 'xml'
      : /[/+]json$/.test(type) ? 'json'
        : type.startsWith('text/') ? 'text'
          : type === '' ? sniff(text) : undefined;
  if (!kind) return '';
  const candidates = kind === 'html' ? htmlLines(text) : kind === 'xml' ? xmlLines(text) : kind === 'json' ? jsonLines(text) : text.split('\n');
  for (const c of candidates) {
    const line = clean(c);
    if (line && !restates(line, status)) return line.length > LINE ? `${line.slice(0, LINE)}…` : line;
  }
  return '';
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function decode(raw: Buffer, charset?: string): string {
  let text: string;
  try {
    text = new TextDecoder(charset ?? 'utf-8').decode(raw);
  } catch {
    text = new TextDecoder('utf-8').decode(raw);
  }
  // A body cut mid-character (at the read limit, or by the server) ends in a replacement character.
  return text.replace(/^\uFEFF/, '').replace(/\uFFFD+$/, '');
}

function sniff(text: string): 'html' | 'xml' | 'json' | 'text' | undefined {
  const t = text.trimStart();
  if (t.startsWith('<')) return /^<(!doctype\s+html|html[\s>])|<(html|body|head|title|h1)[\s>]/i.test(t.slice(0, 2048)) ? 'html' : 'xml';
  if (t.startsWith('{') || t.startsWith('[')) return 'json';
  // Binary (a NUL, or mostly undecodable) says nothing readable.
  const sample = t.slice(0, 512);
  if (!sample || /\0/.test(sample) || (sample.match(/\uFFFD/g)?.length ?? 0) > sample.length / 10) return undefined;
  return 'text';
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', ndash: '–', mdash: '—', hellip: '…' };

function entities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1));
      return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/** Markup out, entities decoded, control characters (a terminal's escapes among them) out, spaces collapsed. */
function clean(s: string): string {
  return entities(s.replace(/<[^>]*>?/g, ' '))
    .replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** A line that only says the status again: "503 Service Unavailable", "Error 404", "HTTP 503". */
function restates(line: string, status: number): boolean {
  const noise = new Set(['http', 'error', 'status', 'code', String(status)]);
  const words = (s: string): string => s.toLowerCase().replace(/http\/\d(\.\d)?/g, ' ').split(/[^a-z0-9]+/).filter((w) => w && !noise.has(w)).join(' ');
  const rest = words(line);
  return rest === '' || rest === words(STATUS_CODES[status] ?? '');
}

function htmlLines(html: string): string[] {
  const h = html.replace(/<!--[\s\S]*?(-->|$)/g, ' ').replace(/<(script|style)\b[\s\S]*?(<\/\1\s*>|$)/gi, ' ');
  const title = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i.exec(h)?.[1];
  const headings = [...h.matchAll(/<h([1-6])\b[^>]*>([\s\S]*?)<\/h\1\s*>/gi)].map((m) => m[2]);
  // The visible text, a line per block, after the head.
  // Line breaks in HTML source are spaces; blocks are lines.
  const body = h.replace(/^[\s\S]*?<\/head\s*>/i, '').replace(/\s+/g, ' ')
    .replace(/<\/?(p|div|br|hr|li|tr|h[1-6]|pre|center|address|body|section|article|main|header|footer|table|ul|ol|dl|dt|dd|blockquote)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>?/g, ' ');
  return [...(title !== undefined ? [title] : []), ...headings, ...body.split('\n')];
}

function xmlLines(xml: string): string[] {
  const x = xml.replace(/<!--[\s\S]*?(-->|$)/g, ' ').replace(/<!\[CDATA\[([\s\S]*?)(\]\]>|$)/g, (_m, t: string) => t.replace(/</g, '&lt;'));
  const out: string[] = [];
  // An XML-RPC fault's faultString.
  const fault = /<name>\s*faultString\s*<\/name>\s*<value>\s*(?:<string>)?([^<]*)/i.exec(x)?.[1];
  if (fault !== undefined) out.push(fault);
  // S3's <Message>, SOAP's <faultstring>, an XHTML title, and the like: elements that hold only text.
  for (const m of x.matchAll(/<(?:[\w-]+:)?(message|faultstring|title|h1|detail|description|reason|error|errormessage)\b[^>]*>([^<]+)</gi)) out.push(m[2]);
  out.push(...x.replace(/<\?[\s\S]*?(\?>|$)/g, ' ').replace(/<[^>]*>?/g, '\n').split('\n'));
  return out;
}

function jsonLines(text: string): string[] {
  const pick = (v: unknown, depth = 0): string[] => {
    if (typeof v === 'string') return [v];
    if (!v || typeof v !== 'object' || depth > 3) return [];
    if (Array.isArray(v)) return v.slice(0, 3).flatMap((x) => pick(x, depth + 1));
    const o = v as Record<string, unknown>;
    return ['message', 'detail', 'title', 'error', 'error_description', 'reason', 'errors']
      .flatMap((k) => (k in o ? pick(o[k], depth + 1) : []));
  };
  try {
    return pick(JSON.parse(text));
  } catch {
    // Cut off or not JSON after all: the first "message": "…" pair will do.
    return [...text.matchAll(/"(message|detail|title|error|reason)"\s*:\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => {
      try { return JSON.parse(`"${m[2]}"`) as string; } catch { return m[2]; }
    });
  }
}
