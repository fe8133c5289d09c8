// What a route answers: a cached file (streamed, whole or one byte range of it), or a small body.
import type { Artifact } from './artifacts.js';

export interface FileReply {
  kind: 'file';
  artifact: Artifact;
  /** A byte range of the file (a section); default the whole file. */
  start?: number;
  length?: number;
  /** X-DEBUGINFOD-FILE for a section: the section name is added by the route. */
  headers?: Record<string, string>;
}

export interface BodyReply {
  kind: 'body';
  status: number;
  contentType: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export type Reply = FileReply | BodyReply;

export const json = (value: unknown, status = 200): BodyReply => ({
  kind: 'body', status, contentType: 'application/json', body: `${JSON.stringify(value)}\n`,
});

/** A header value made safe to send: bytes outside printable ASCII percent-encoded (a path may hold any byte). */
export function headerValue(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : Array.from(Buffer.from(s, 'utf8'), (b) => (b >= 0x20 && b < 0x7f && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}
