// elfutils' debuginfod protocol: /buildid/ID/debuginfo, /buildid/ID/executable,
// /buildid/ID/source/ABSOLUTE/PATH and /buildid/ID/section/NAME, as libdebuginfod (and so gdb,
// eu-stack, systemd-coredump, valgrind, perf) asks for them.
import { findSection, SHT_NOBITS } from '../elf/sections.js';
import type { FindKind } from '../find/cache.js';
import type { Artifact, Artifacts } from './artifacts.js';
import { HttpError } from './http-error.js';
import { FileReply, headerValue } from './reply.js';
import { sourcePathOf } from './source-path.js';
import type { UpstreamContext } from './upstream.js';

export const ARTIFACT_TYPES = ['debuginfo', 'executable', 'source', 'section'] as const;
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

/** The build-id of a request: 8-64 hex digits (lowercased), as the index stores them. */
export function requestBuildId(raw: string): string {
  const id = raw.toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(id)) throw new HttpError(400, `not a build-id: expected 8 to 64 hex digits`);
  return id;
}

export function artifactType(raw: string): ArtifactType {
  if ((ARTIFACT_TYPES as readonly string[]).includes(raw)) return raw as ArtifactType;
  throw new HttpError(400, `unknown artifact type (expected ${ARTIFACT_TYPES.join(', ')})`);
}

/** A section name: one path segment, percent-decoded, with no NUL or slash. */
function sectionName(suffix: string): string {
  let name: string;
  try {
    name = decodeURIComponent(suffix.replace(/^\/+/, ''));
  } catch {
    throw new HttpError(400, 'the section name is not validly percent-encoded');
  }
  if (!name || name.length > 256 || /[\0/]/.test(name)) throw new HttpError(400, 'expected /buildid/ID/section/NAME with one section name');
  return name;
}

function fileReply(a: Artifact, extra: Record<string, string> = {}): FileReply {
  const headers: Record<string, string> = { ...extra };
  if (a.file && !headers['X-DEBUGINFOD-FILE']) headers['X-DEBUGINFOD-FILE'] = headerValue(a.file);
  if (a.archive) headers['X-DEBUGINFOD-ARCHIVE'] = headerValue(a.archive);
  return { kind: 'file', artifact: a, headers };
}

export async function buildIdRoute(artifacts: Artifacts, rawId: string, rawType: string, suffix: string, ctx: UpstreamContext): Promise<FileReply> {
  const buildId = requestBuildId(rawId);
  const type = artifactType(rawType);
  if (type === 'source') {
    if (!suffix) throw new HttpError(400, 'expected /buildid/ID/source/ABSOLUTE/PATH');
    const sourcePath = sourcePathOf(suffix);
    return fileReply(await artifacts.obtain({ kind: 'source', buildId, sourcePath }, ctx), { 'X-DEBUGINFOD-FILE': headerValue(sourcePath) });
  }
  if (type === 'section') return sectionReply(artifacts, buildId, sectionName(suffix), ctx);
  if (suffix && suffix !== '/') throw new HttpError(400, `/buildid/ID/${type} takes no path after it`);
  return fileReply(await artifacts.obtain({ kind: type, buildId }, ctx));
}

/** The section from the debuginfo file, else from the executable (a stripped debuginfo has only NOBITS there). */
async function sectionReply(artifacts: Artifacts, buildId: string, name: string, ctx: UpstreamContext): Promise<FileReply> {
  let failure: HttpError | undefined;
  for (const kind of ['debuginfo', 'executable'] as FindKind[]) {
    let a: Artifact;
    try {
      a = await artifacts.obtain({ kind, buildId }, ctx);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      if (e.status !== 404) failure ??= e;
      continue;
    }
    try {
      const s = await findSection(a.fh, a.size, name);
      if (s && s.type !== SHT_NOBITS) {
        const r = fileReply(a, { 'X-DEBUGINFOD-FILE': headerValue(`${a.file ?? kind}:${name}`) });
        return { ...r, start: s.offset, length: s.size };
      }
    } catch (e) {
      await a.release();
      throw e;
    }
    await a.release();
  }
  throw failure ?? new HttpError(404, `${buildId}: no section ${name} with contents in its debuginfo or executable`);
}
