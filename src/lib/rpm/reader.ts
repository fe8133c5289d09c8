// Read lead, signature header and main header from the front of an RPM. The signature header
// is padded to 8 bytes; the payload starts right after the main header.
import { createHash } from 'node:crypto';
import { FormatError } from '../errors.js';
import { Header, HEADER_INTRO_SIZE, parseHeaderIntro } from './header.js';
import { LEAD_SIZE, Lead, parseLead } from './lead.js';
import { ByteSource } from './source.js';
import { SigTag } from './tags.js';

export interface RpmHeaders {
  lead: Lead;
  signature: Header;
  header: Header;
  /** Offset of the main header in the file. */
  headerStart: number;
  /** Offset of the payload in the file. */
  payloadStart: number;
  /** SHA-256 of the main header bytes (intro + index + data): our identity when SIGMD5 is absent. */
  headerSha256: string;
  /** The main header bytes, needed to check SIGMD5 (= MD5 of header and payload). */
  headerBytes: Buffer;
  /** Header + payload size according to the signature header, when it says. */
  declaredSize?: number;
}

export async function readRpmHeaders(src: ByteSource): Promise<RpmHeaders> {
  if (src.size === 0) throw new FormatError('empty file');
  if (src.size !== undefined && src.size < LEAD_SIZE) {
    const head = await src.readExact(Math.min(src.size, 4), 'lead');
    if (head.length === 4 && head.readUInt32BE(0) === 0xedabeedb) throw new FormatError(`file ends at byte ${src.size} inside the lead`);
    throw new FormatError('not an RPM file (no RPM lead magic at byte 0)');
  }
  const lead = parseLead(await src.readExact(LEAD_SIZE, 'lead'));
  if (lead.signatureType !== 5) throw new FormatError(`unsupported signature type ${lead.signatureType} (only header-style signatures, type 5, exist since rpm 3)`);

  const sigIntro = await src.readExact(HEADER_INTRO_SIZE, 'signature header');
  const sigDims = parseHeaderIntro(sigIntro, 'signature header');
  const sigBody = await src.readExact(sigDims.bodySize, 'signature header');
  const signature = new Header(sigBody, sigDims.entries, 'signature header');
  const pad = (8 - (sigDims.bodySize % 8)) % 8;
  if (pad) await src.readExact(pad, 'signature padding');

  const headerStart = src.position;
  const intro = await src.readExact(HEADER_INTRO_SIZE, 'main header');
  const dims = parseHeaderIntro(intro, 'main header');
  const body = await src.readExact(dims.bodySize, 'main header');
  const header = new Header(body, dims.entries, 'main header');
  const headerBytes = Buffer.concat([intro, body]);
  const payloadStart = src.position;

  const declaredSize = signature.number(SigTag.LONGSIZE) ?? signature.number(SigTag.SIZE);
  if (declaredSize !== undefined && src.size !== undefined && headerStart + declaredSize > src.size) {
    throw new FormatError(`payload ends at byte ${src.size}, header says ${headerStart + declaredSize}`);
  }
  return {
    lead, signature, header, headerStart, payloadStart, headerBytes, declaredSize,
    headerSha256: createHash('sha256').update(headerBytes).digest('hex'),
  };
}
