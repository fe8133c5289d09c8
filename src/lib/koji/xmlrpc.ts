// XML-RPC codec for the Koji hub. Hand-written because the packaged clients send ints above
// 2^31 as <int> (the hub rejects them) and hand i8 back as strings; the XML itself is read by
// xml-reader.ts (a multicall answer of megabytes decodes in milliseconds, where a general XML
// parser with its validator took most of a second).
// Entities are decoded here, not by the reader, so "&amp;#65;" stays "&#65;" and every byte of
// whitespace inside a string survives.
import { FormatError } from '../errors.js';
import { readXml, XmlSyntaxError, type XNode } from './xml-reader.js';

export type XmlRpcValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Buffer
  | Date
  | XmlRpcValue[]
  | { [k: string]: XmlRpcValue };

export type XmlRpcFault = { faultCode: number; faultString: string };

/** Koji keyword arguments: sent as a trailing struct marked with `__starstar` (koji.encode_args). */
export class Kwargs {
  constructor(readonly values: Record<string, XmlRpcValue>) {}

  toStruct(): { [k: string]: XmlRpcValue } {
    return { ...this.values, __starstar: true };
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const I8_MIN = -(2n ** 63n);
const I8_MAX = 2n ** 63n - 1n;

function escapeXml(s: string): string {
  // \r is escaped because XML parsers turn a literal CR into LF.
  return s.replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function encodeInt(n: bigint): string {
  if (n >= INT32_MIN && n <= INT32_MAX) return `<int>${n}</int>`;
  if (n >= I8_MIN && n <= I8_MAX) return `<i8>${n}</i8>`;
  throw new TypeError(`XML-RPC cannot carry the integer ${n} (beyond 64 bits)`);
}

function encodeValue(v: XmlRpcValue | Kwargs | undefined): string {
  if (v instanceof Kwargs) return encodeValue(v.toStruct());
  return `<value>${encodeInner(v)}</value>`;
}

function encodeInner(v: XmlRpcValue | undefined): string {
  switch (typeof v) {
    case 'string':
      return `<string>${escapeXml(v)}</string>`;
    case 'boolean':
      return `<boolean>${v ? 1 : 0}</boolean>`;
    case 'bigint':
      return encodeInt(v);
    case 'number':
      if (Number.isInteger(v) && Math.abs(v) < 2 ** 63) return encodeInt(BigInt(v));
      if (!Number.isFinite(v)) throw new TypeError(`XML-RPC cannot carry the number ${v}`);
      return `<double>${v}</double>`;
  }
  if (v === null || v === undefined) return '<nil/>';
  if (Buffer.isBuffer(v)) return `<base64>${v.toString('base64')}</base64>`;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new TypeError('XML-RPC cannot carry an invalid Date');
    const d = `${pad(v.getUTCFullYear(), 4)}${pad(v.getUTCMonth() + 1)}${pad(v.getUTCDate())}`;
    return `<dateTime.iso8601>${d}T${pad(v.getUTCHours())}:${pad(v.getUTCMinutes())}:${pad(v.getUTCSeconds())}</dateTime.iso8601>`;
  }
  if (Array.isArray(v)) return `<array><data>${v.map((x) => encodeValue(x)).join('')}</data></array>`;
  let members = '';
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    members += `<member><name>${escapeXml(k)}</name>${encodeValue(x)}</member>`;
  }
  return `<struct>${members}</struct>`;
}

/** A complete methodCall document. A Kwargs, if any, must be the last parameter. */
export function encodeCall(method: string, params: (XmlRpcValue | Kwargs)[]): string {
  params.forEach((p, i) => {
    if (p instanceof Kwargs && i !== params.length - 1) throw new TypeError(`${method}: Kwargs must be the last parameter`);
  });
  const ps = params.map((p) => `<param>${encodeValue(p)}</param>`).join('');
  return `<?xml version="1.0"?>\n<methodCall><methodName>${escapeXml(method)}</methodName><params>${ps}</params></methodCall>\n`;
}

// ---- decoding ----

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;&\s]{0,10});?/g, (m, name: string) => {
    if (!m.endsWith(';')) throw new FormatError(`bare "&" in XML text`);
    if (name in ENTITIES) return ENTITIES[name];
    const code = /^#x[0-9a-f]+$/i.test(name) ? parseInt(name.slice(2), 16) : /^#\d+$/.test(name) ? Number(name.slice(1)) : NaN;
    if (!(code <= 0x10ffff)) throw new FormatError(`unknown XML entity ${m}`);
    return String.fromCodePoint(code);
  });
}

const tagOf = (n: XNode): string => n.tag;

/** Child elements, refusing stray text (whitespace between elements is fine). */
function elements(children: XNode[], where: string): XNode[] {
  const out: XNode[] = [];
  for (const c of children) {
    const t = tagOf(c);
    if (t === '#text' || t === '#cdata') {
      if (textOf([c]).trim() !== '') throw new FormatError(`unexpected text inside <${where}>`);
    } else out.push(c);
  }
  return out;
}

function textOf(children: XNode[]): string {
  let s = '';
  for (const c of children) {
    const t = tagOf(c);
    if (t === '#text') s += decodeEntities(c.text);
    else if (t === '#cdata') s += c.text;
    else throw new FormatError(`unexpected <${t}> inside a scalar`);
  }
  return s;
}

function only(children: XNode[], tag: string, where: string): XNode {
  const els = elements(children, where);
  if (els.length !== 1 || tagOf(els[0]) !== tag) {
    throw new FormatError(`<${where}> should hold one <${tag}>, found ${els.map((e) => `<${tagOf(e)}>`).join('') || 'nothing'}`);
  }
  return els[0];
}

/** Text from the document, quoted in a message: one line, at most 40 characters. */
function excerpt(s: string): string {
  return s.slice(0, 40).replace(/[\x00-\x1f\x7f]/g, ' ');
}

function decodeInt(s: string, tag: string): number | bigint {
  const t = s.trim();
  if (!/^[+-]?\d+$/.test(t)) throw new FormatError(`<${tag}> holds "${excerpt(t)}", not an integer`);
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : BigInt(t);
}

function decodeDate(s: string): Date {
  // Python sends "20240102T03:04:05"; also take the dashed ISO form, with optional zone.
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s.trim());
  if (!m) throw new FormatError(`<dateTime.iso8601> holds "${excerpt(s)}", not a date`);
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  let ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec, frac ? Math.round(Number(frac) * 1000) : 0);
  if (zone && zone !== 'Z') {
    const z = zone.replace(':', '');
    ms -= (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5))) * 60_000;
  }
  const date = new Date(ms);
  if (Number.isNaN(ms) || date.getUTCMonth() !== +mo - 1) throw new FormatError(`<dateTime.iso8601> holds an impossible date "${excerpt(s.trim())}"`);
  return date;
}

function decodeValue(valueNode: XNode): XmlRpcValue {
  const children = valueNode.kids;
  // Untyped <value>text</value> is a string, whitespace and all.
  if (children.every((c) => tagOf(c) === '#text' || tagOf(c) === '#cdata')) return textOf(children);
  const els = elements(children, 'value');
  if (els.length > 1) throw new FormatError('<value> holds more than one type');
  const el = els[0];
  const tag = tagOf(el);
  const inner = el.kids;
  switch (tag) {
    case 'string':
      return textOf(inner);
    case 'int':
    case 'i4':
    case 'i8':
      return decodeInt(textOf(inner), tag);
    case 'double': {
      const t = textOf(inner).trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|nan)$/i.test(t)) throw new FormatError(`<double> holds "${excerpt(t)}"`);
      return /inf/i.test(t) ? (t.startsWith('-') ? -Infinity : Infinity) : /nan/i.test(t) ? NaN : Number(t);
    }
    case 'boolean': {
      const t = textOf(inner).trim();
      if (t === '1' || t === 'true') return true;
      if (t === '0' || t === 'false') return false;
      throw new FormatError(`<boolean> holds "${excerpt(t)}"`);
    }
    case 'base64': {
      const t = textOf(inner).replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t)) throw new FormatError('<base64> holds non-base64 text');
      return Buffer.from(t, 'base64');
    }
    case 'dateTime.iso8601':
      return decodeDate(textOf(inner));
    case 'array': {
      const data = only(inner, 'data', 'array');
      return elements(data.kids, 'data').map((v) => {
        if (tagOf(v) !== 'value') throw new FormatError(`<data> holds <${tagOf(v)}>`);
        return decodeValue(v);
      });
    }
    case 'struct': {
      const out: { [k: string]: XmlRpcValue } = {};
      for (const m of elements(inner, 'struct')) {
        if (tagOf(m) !== 'member') throw new FormatError(`<struct> holds <${tagOf(m)}>`);
        const parts = elements(m.kids, 'member');
        const nameNode = parts.find((p) => tagOf(p) === 'name');
        const valueNode = parts.find((p) => tagOf(p) === 'value');
        if (!nameNode || !valueNode || parts.length !== 2) throw new FormatError('<member> needs one <name> and one <value>');
        const name = textOf(nameNode.kids);
        // defineProperty so a member called "__proto__" is data, not a prototype swap.
        Object.defineProperty(out, name, { value: decodeValue(valueNode), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      if (tag === 'nil' || tag.endsWith(':nil')) return null;
      throw new FormatError(`unknown XML-RPC type <${tag}>`);
  }
}

/** Parse a methodResponse into its single value or its fault. Throws FormatError on anything else. */
export function decodeResponse(xml: string): { value: XmlRpcValue } | { fault: XmlRpcFault } {
  let doc: XNode[];
  try {
    doc = readXml(xml);
  } catch (e) {
    if (!(e instanceof XmlSyntaxError)) throw e;
    throw new FormatError(`malformed XML (${parserMessage(e.message)})`);
  }
  const root = only(doc, 'methodResponse', 'document');
  const body = elements(root.kids, 'methodResponse');
  if (body.length === 1 && tagOf(body[0]) === 'params') {
    const param = only(body[0].kids, 'param', 'params');
    return { value: decodeValue(only(param.kids, 'value', 'param')) };
  }
  if (body.length === 1 && tagOf(body[0]) === 'fault') {
    const f = decodeValue(only(body[0].kids, 'value', 'fault'));
    const fault = asFault(f);
    if (!fault) throw new FormatError('<fault> is not a struct with faultCode and faultString');
    return { fault };
  }
  throw new FormatError('<methodResponse> should hold <params> or <fault>');
}

/** The reader's message on one line (it may quote a character of the document), at most 200 characters. */
function parserMessage(m: string): string {
  const text = m.replace(/[\x00-\x1f\x7f]+/g, ' ');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** A {faultCode, faultString} struct (as in responses and multicall results), else undefined. */
export function asFault(v: XmlRpcValue): XmlRpcFault | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v) || v instanceof Date) return undefined;
  const code = v.faultCode;
  if (typeof code !== 'number' && typeof code !== 'bigint') return undefined;
  return { faultCode: Number(code), faultString: v.faultString == null ? '' : String(v.faultString) };
}
