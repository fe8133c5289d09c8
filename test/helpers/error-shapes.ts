// The error answers the fake hub sends (test/fake-koji/README.md, "Error answers of every shape")
// and what a darkforge message must say of each: shared by the in-process matrix
// (test/net-errors.test.ts) and the runs of the commands (test/net-commands.test.ts).
import { STATUS_CODES } from 'node:http';
import { ERROR_BODIES, ERROR_TYPES, type ErrorShape } from './fake-koji.ts';

export type Shape = Omit<ErrorShape, 'count'>;

/** 4xx, 5xx and 429; the ones retried are RETRIED, the others are the server's answer. */
export const STATUSES = [403, 404, 408, 429, 500, 502, 503, 504];
export const RETRIED = new Set([408, 429, 502, 503, 504]);

export const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What the message says of a fake-hub error body sent for `path`. */
export function detail(status: number, type: Shape['type'], body: Shape['body'], path: string): string {
  if (body === 'empty') return '';
  const big = body === 'big' || body === 'cut' || body === 'reset';
  if (type === 'text/html') return big ? `fake-koji: a big ${status} page` : `fake-koji: injected ${status} for ${path}, come back later.`;
  if (type === 'application/xml') return `fake-koji: injected ${status} & more for ${path}`;
  return `fake-koji: injected ${status} for ${path}`;
}

/** A regexp source for "HTTP 404 (Not Found: detail)"; a reset may lose the body before it is read, so its detail is optional. */
export function phrase(status: number, type: Shape['type'], body: Shape['body'], path: string): string {
  const d = detail(status, type, body, path);
  const words = esc(STATUS_CODES[status]!);
  if (!d) return `HTTP ${status} \\(${words}\\)`;
  return body === 'reset' ? `HTTP ${status} \\(${words}(: ${esc(d)})?\\)` : `HTTP ${status} \\(${words}: ${esc(d)}\\)`;
}

/**
 * Every content type x every body, once each (28 shapes), the status taken in turn from
 * `statuses`: a covering set for runs of a command, which cost more than a call in process.
 */
export function covering(statuses: number[], extra: Partial<Shape> = {}): Shape[] {
  let i = 0;
  return ERROR_TYPES.flatMap((type) => ERROR_BODIES.map((body) => ({ status: statuses[i++ % statuses.length], type, body, ...extra })));
}
