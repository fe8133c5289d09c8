// A strict reader for the XML that XML-RPC documents use, fast enough for multicall answers of
// megabytes (a few hundred builds and their RPMs at once): elements, attributes (read, then
// dropped), text, CDATA sections, comments and processing instructions. A DOCTYPE is skipped
// and nothing in it is used: no entity is ever defined or expanded here (xmlrpc.ts decodes the
// five predefined ones and character references in text, and refuses any other).
// Well-formedness is checked as it reads: one root, every tag closed by its own name, nothing
// but markup and whitespace around the root. Every node has one shape (an element, or text
// with the tag "#text" or "#cdata"), so walking the tree stays fast.

export class XNode {
  constructor(readonly tag: string, readonly kids: XNode[], readonly text = '') {}
}

const textNode = (text: string): XNode => new XNode('#text', [], text);

export class XmlSyntaxError extends Error {}

const NAME = /[A-Za-z_:\u00C0-\uFFFF][-A-Za-z0-9._:\u00B7\u00C0-\uFFFF]*/y;
const ATTRIBUTE = /([A-Za-z_:\u00C0-\uFFFF][-A-Za-z0-9._:\u00B7\u00C0-\uFFFF]*)[ \t\r\n]*=[ \t\r\n]*("[^"<]*"|'[^'<]*')/y;
const XML_DECL = /^<\?xml(?:[ \t\r\n]+[A-Za-z]+[ \t\r\n]*=[ \t\r\n]*(?:"[^"<]*"|'[^'<]*'))*[ \t\r\n]*\?>$/;
/** Deeper than any XML-RPC answer nests: a hostile document must not exhaust the stack. */
const MAX_DEPTH = 512;

export function readXml(xml: string): XNode[] {
  return new Reader(xml).document();
}

class Reader {
  private pos = 0;

  constructor(private readonly s: string) {
    if (s.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  private fail(what: string, at = this.pos): never {
    let line = 1;
    let lineStart = 0;
    for (let i = this.s.indexOf('\n'); i !== -1 && i < at; i = this.s.indexOf('\n', i + 1)) { line++; lineStart = i + 1; }
    throw new XmlSyntaxError(`${what} at line ${line}, column ${at - lineStart + 1}`);
  }

  document(): XNode[] {
    this.misc();
    if (this.pos >= this.s.length) {
      throw new XmlSyntaxError(`Start tag expected at line ${this.s.slice(0, this.pos).split('\n').length}`);
    }
    if (this.s[this.pos] !== '<') this.fail(`char '${this.s[this.pos]}' is not expected`);
    const root = this.element(0);
    this.misc();
    if (this.pos < this.s.length) this.fail(this.s[this.pos] === '<' ? 'a second root element' : `text after the root element`);
    return [root];
  }

  private space(): void {
    for (let c = this.s.charCodeAt(this.pos); c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d; c = this.s.charCodeAt(++this.pos));
  }

  /** Whitespace, comments and processing instructions outside the root. */
  private misc(): void {
    for (;;) {
      this.space();
      if (this.s.startsWith('<?', this.pos)) this.pi();
      else if (this.s.startsWith('<!--', this.pos)) this.comment();
      else if (this.s.startsWith('<!DOCTYPE', this.pos)) this.doctype();
      else if (this.s.startsWith('<!', this.pos)) this.fail('a declaration outside a DOCTYPE');
      else return;
    }
  }

  /**
   * Skipped whole, internal subset included: nothing it declares is used (an entity it defines
   * stays unknown to the decoder, which refuses it). An HTML error page starts with one.
   */
  private doctype(): void {
    let quote = '';
    let depth = 0;
    for (let i = this.pos + 9; i < this.s.length; i++) {
      const c = this.s[i];
      if (quote) { if (c === quote) quote = ''; } else if (c === '"' || c === "'") quote = c;
      else if (c === '[') depth++;
      else if (c === ']') depth--;
      else if (c === '>' && depth <= 0) { this.pos = i + 1; return; }
    }
    this.fail('unclosed DOCTYPE');
  }

  private pi(): void {
    const end = this.s.indexOf('?>', this.pos + 2);
    if (end < 0) this.fail('unclosed processing instruction');
    if (/^<\?xml[ \t\r\n?]/i.test(this.s.slice(this.pos, this.pos + 6)) && !XML_DECL.test(this.s.slice(this.pos, end + 2))) {
      this.fail('malformed XML declaration');
    }
    this.pos = end + 2;
  }

  private comment(): void {
    const end = this.s.indexOf('-->', this.pos + 4);
    if (end < 0) this.fail('unclosed comment');
    this.pos = end + 3;
  }

  private name(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.s);
    if (!m) this.fail(this.pos < this.s.length ? `char '${this.s[this.pos]}' is not expected` : 'unexpected end of document');
    this.pos = NAME.lastIndex;
    return m[0];
  }

  /** An element starting at `<`; returns its node. */
  private element(depth: number): XNode {
    if (depth > MAX_DEPTH) this.fail(`elements nested deeper than ${MAX_DEPTH}`);
    const start = this.pos;
    this.pos++; // '<'
    const tag = this.name();
    let seen: Set<string> | undefined;
    for (;;) {
      const from = this.pos;
      this.space();
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x3e /* > */) { this.pos++; break; }
      if (c === 0x2f /* / */ && this.s.charCodeAt(this.pos + 1) === 0x3e) { this.pos += 2; return new XNode(tag, []); }
      if (Number.isNaN(c)) this.fail(`unclosed tag <${tag}>`, start);
      ATTRIBUTE.lastIndex = this.pos;
      const m = this.pos > from ? ATTRIBUTE.exec(this.s) : null;
      if (!m) this.fail(`malformed attribute in <${tag}>`);
      seen ??= new Set();
      if (seen.has(m[1])) this.fail(`attribute ${m[1]} repeated in <${tag}>`);
      seen.add(m[1]);
      this.pos = ATTRIBUTE.lastIndex;
    }
    const children: XNode[] = [];
    for (;;) {
      const lt = this.s.indexOf('<', this.pos);
      if (lt < 0) this.fail(`<${tag}> is not closed`, start);
      // "]]>" in text is not XML, but harmless here: let it pass, as parsers commonly do.
      if (lt > this.pos) {
        children.push(textNode(this.s.slice(this.pos, lt)));
        this.pos = lt;
      }
      const s = this.s;
      if (s.charCodeAt(lt + 1) === 0x2f /* / */) {
        this.pos = lt + 2;
        const closing = this.name();
        if (closing !== tag) this.fail(`closing tag </${closing}> does not match <${tag}>`, lt);
        this.space();
        if (s.charCodeAt(this.pos) !== 0x3e) this.fail(`malformed closing tag </${closing}>`, lt);
        this.pos++;
        return new XNode(tag, children);
      }
      if (s.startsWith('<!--', lt)) this.comment();
      else if (s.startsWith('<![CDATA[', lt)) {
        const end = s.indexOf(']]>', lt + 9);
        if (end < 0) this.fail('unclosed CDATA section', lt);
        children.push(new XNode('#cdata', [], s.slice(lt + 9, end)));
        this.pos = end + 3;
      } else if (s.startsWith('<?', lt)) this.pi();
      else if (s.startsWith('<!', lt)) this.fail('a declaration inside an element', lt);
      else children.push(this.element(depth + 1));
    }
  }
}
