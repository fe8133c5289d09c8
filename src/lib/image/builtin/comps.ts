// Fedora comps (package groups) for the builtin image backend: fetched from each repository's
// repomd.xml, merged into one document for dnf, and read for what a kickstart "@group" means.
// The XML is kept as fast-xml-parser's ordered tree, so everything we do not look at (translated
// names, <packagereq requires=...>, langpacks, elements newer than this code) passes through.
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { decodePayload } from '../../compress/decompress.js';
import { UserError } from '../../errors.js';
import { httpGetBounded } from '../../net/http-get.js';
import type { RetryOptions } from '../../net/retry.js';

export interface CompsRepo {
  name: string;
  /** $basearch and $releasever already substituted. */
  baseurl: string;
}

export interface CompsGroup {
  id: string;
  /** type: mandatory | default | optional | conditional (a missing type is mandatory, as in libcomps). */
  packages: { name: string; type: string }[];
}

export interface Comps {
  xml: string;
  groups: Map<string, CompsGroup>;
  /** Environment id -> the group ids of its <grouplist> (not the <optionlist>). */
  environments: Map<string, string[]>;
}

export interface FetchOptions {
  /** Per file: the whole fetch must finish in this time (default 30000). */
  timeoutMs?: number;
  /** Per file, after decompression (default 64 MiB; Fedora's comps is a few MB). */
  maxBytes?: number;
  /** Retry budget and outage lines for mirrors that are down (default: the default budget, said nowhere). */
  retry?: RetryOptions;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** repomd.xml data types holding comps, in the order we prefer them. */
const GROUP_TYPES = ['group', 'group_gz', 'group_xz', 'group_zst'];
/** Top-level elements identified by <id>: the first document that has an id keeps it. */
const ID_KINDS = ['group', 'category', 'environment'];
const HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
  + '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">\n';

// parseTagValue off: ids like "007" or "1e3" and <default>true</default> must stay strings.
// htmlEntities on: numeric character references are decoded, so the builder does not turn
// "&#65;" into a literal "&#65;" text.
const XML_OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  htmlEntities: true,
} as const;
const parser = new XMLParser(XML_OPTIONS);
const builder = new XMLBuilder({ ...XML_OPTIONS, format: true, indentBy: '  ', suppressEmptyNode: true });

/** A preserveOrder node: `{ tag: children, ':@'?: { '@_attr': value } }` or `{ '#text': s }`. */
type XNode = Record<string, unknown>;

const tagOf = (n: XNode): string | undefined => Object.keys(n).find((k) => k !== ':@');
const childrenOf = (n: XNode): XNode[] => {
  const c = n[tagOf(n) ?? ''];
  return Array.isArray(c) ? (c as XNode[]) : [];
};
const attr = (n: XNode, name: string): string | undefined =>
  (n[':@'] as Record<string, string> | undefined)?.[`@_${name}`];
const elems = (nodes: XNode[], tag: string): XNode[] => nodes.filter((n) => tagOf(n) === tag);
const text = (n: XNode): string =>
  childrenOf(n).map((c) => (typeof c['#text'] === 'string' ? c['#text'] : '')).join('').trim();
const childText = (n: XNode, tag: string): string | undefined => {
  const c = elems(childrenOf(n), tag)[0];
  return c && text(c);
};

/** The children of the document's root element, which must be `root`. */
function parseRoot(xml: string, root: string, what: string): XNode[] {
  const ok = XMLValidator.validate(xml);
  if (ok !== true) throw new UserError(`${what} is not valid XML (line ${ok.err.line}: ${ok.err.msg})`);
  const top = elems(parser.parse(xml) as XNode[], root)[0];
  if (!top) throw new UserError(`${what} is not a ${root} document`);
  return childrenOf(top);
}

// ---------------------------------------------------------------------------------------------
// Merging

export function mergeComps(xmlDocs: string[]): Comps {
  return merge(xmlDocs.map((x, i) => parseRoot(x, 'comps', `comps document ${i + 1}`)));
}

function merge(docs: XNode[][]): Comps {
  const byId = new Map(ID_KINDS.map((k) => [k, new Map<string, XNode>()]));
  // langpacks, blacklist, whiteout and anything newer: one element holding everyone's entries.
  const pooled = new Map<string, XNode>();
  for (const doc of docs) {
    for (const node of doc) {
      const tag = tagOf(node);
      if (!tag || tag.startsWith('#') || tag.startsWith('?')) continue;
      const ids = byId.get(tag);
      if (ids) {
        const id = childText(node, 'id') ?? '';
        if (!ids.has(id)) ids.set(id, node);
      } else {
        const into = pooled.get(tag);
        if (into) (into[tag] as XNode[]).push(...childrenOf(node));
        else pooled.set(tag, { ...node, [tag]: [...childrenOf(node)] });
      }
    }
  }
  // The DTD wants groups, then categories, then environments, then the rest.
  const out = [...ID_KINDS.flatMap((k) => [...byId.get(k)!.values()]), ...pooled.values()];
  const groups = new Map<string, CompsGroup>();
  for (const [id, g] of byId.get('group')!) {
    const reqs = elems(childrenOf(g), 'packagelist').flatMap((l) => elems(childrenOf(l), 'packagereq'));
    groups.set(id, { id, packages: reqs.map((r) => ({ name: text(r), type: attr(r, 'type') ?? 'mandatory' })) });
  }
  const environments = new Map<string, string[]>();
  for (const [id, e] of byId.get('environment')!) {
    const lists = elems(childrenOf(e), 'grouplist');
    environments.set(id, lists.flatMap((l) => elems(childrenOf(l), 'groupid').map(text)));
  }
  const body = (builder.build([{ comps: out }]) as string).trim();
  return { xml: `${HEADER}${body}\n`, groups, environments };
}

/** Package names a kickstart "-@group" removes: mandatory and default ones, not optional. */
export function groupPackages(comps: Comps, id: string): string[] | undefined {
  return comps.groups.get(id)?.packages
    .filter((p) => p.type === 'mandatory' || p.type === 'default')
    .map((p) => p.name);
}

// ---------------------------------------------------------------------------------------------
// Fetching

export async function fetchComps(repos: CompsRepo[], o: FetchOptions = {}): Promise<{ comps?: Comps; without: string[] }> {
  const opts = { timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBytes: o.maxBytes ?? DEFAULT_MAX_BYTES, retry: o.retry ?? {} };
  // Check every URL before the first download, so a typo does not wait behind a slow mirror.
  const bases = repos.map(repoBase);
  const found = await Promise.all(repos.map((r, i) => repoComps(r, bases[i], opts)));
  const docs = found.filter((d): d is XNode[] => d !== undefined);
  return {
    comps: docs.length ? merge(docs) : undefined,
    without: repos.filter((_, i) => !found[i]).map((r) => r.name),
  };
}

function repoBase(repo: CompsRepo): URL {
  let url: URL;
  try {
    url = new URL(repo.baseurl.replace(/\/*$/, '/'));
  } catch {
    throw new UserError(`repository ${repo.name}: baseurl ${repo.baseurl} is not a valid URL`);
  }
  if (!['http:', 'https:', 'file:'].includes(url.protocol)) {
    throw new UserError(`repository ${repo.name}: baseurl ${repo.baseurl} must be an http, https or file URL, not ${url.protocol}`);
  }
  return url;
}

/** The repository's parsed <comps> children, or undefined when its repomd lists no group data. */
async function repoComps(repo: CompsRepo, base: URL, o: Required<FetchOptions>): Promise<XNode[] | undefined> {
  const mdUrl = new URL('repodata/repomd.xml', base);
  const md = await get(mdUrl, o);
  if ('missing' in md) throw new UserError(`repository ${repo.name} at ${repo.baseurl} has no repodata/repomd.xml (${md.missing})`);
  const data = elems(parseRoot(await inflate(md.body, mdUrl.href, o.maxBytes), 'repomd', mdUrl.href), 'data');
  const entry = GROUP_TYPES.map((t) => data.find((d) => attr(d, 'type') === t)).find((d) => d !== undefined);
  if (!entry) return undefined;
  const loc = elems(childrenOf(entry), 'location')[0];
  const href = loc && attr(loc, 'href');
  if (!loc || !href) throw new UserError(`${mdUrl.href}: the ${attr(entry, 'type')} entry has no <location href>`);
  // createrepo_c --location-prefix style: xml:base is the folder that href is relative to.
  const xmlBase = attr(loc, 'xml:base');
  const url = new URL(href, xmlBase ? new URL(xmlBase.replace(/\/*$/, '/'), base) : base);
  // Remote metadata must not make us read local files.
  if (!['http:', 'https:', 'file:'].includes(url.protocol) || (url.protocol === 'file:' && base.protocol !== 'file:')) {
    throw new UserError(`${mdUrl.href}: group data location ${url.href} is not allowed`);
  }
  const got = await get(url, o);
  if ('missing' in got) throw new UserError(`repository ${repo.name}: ${url.href}, listed in its repomd.xml, is missing (${got.missing})`);
  return parseRoot(await inflate(got.body, url.href, o.maxBytes), 'comps', url.href);
}

/** Decompresses by magic (plain XML passes through), capped at maxBytes of output. */
async function inflate(raw: Buffer, url: string, maxBytes: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of decodePayload((async function* () { yield raw; })(), 'uncompressed')) {
      size += chunk.length;
      if (size > maxBytes) throw tooBig(url, maxBytes);
      parts.push(chunk);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${url} is damaged: ${(e as Error).message}`);
  }
  return Buffer.concat(parts).toString('utf8').replace(/^\uFEFF/, '');
}

const tooBig = (url: string, max: number): UserError => new UserError(`${url} is larger than the ${max} bytes allowed`);

type Got = { body: Buffer } | { missing: string };

async function get(url: URL, o: Required<FetchOptions>): Promise<Got> {
  return url.protocol === 'file:' ? readLocal(url, o.maxBytes) : httpGet(url, o.timeoutMs, o.maxBytes, o.retry);
}

async function readLocal(url: URL, maxBytes: number): Promise<Got> {
  try {
    const file = fileURLToPath(url);
    const st = await stat(file);
    if (st.isDirectory()) throw new UserError(`${url.href} is a directory`);
    if (st.size > maxBytes) throw tooBig(url.href, maxBytes);
    return { body: await readFile(file) };
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: 'no such file' };
    throw new UserError(`cannot read ${url.href}: ${code ?? (e as Error).message}`);
  }
}

async function httpGet(url: URL, timeoutMs: number, maxBytes: number, retry: RetryOptions): Promise<Got> {
  const got = await httpGetBounded(url, { timeoutMs, maxBytes, retry });
  return 'missing' in got ? { missing: `HTTP ${got.missing}` } : got;
}
