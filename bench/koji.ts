// Koji import cost in bytes: the test suite's fake hub (real XML-RPC, a file server honouring
// Range) serves the corpus; `darkserver import` fetches every build header-first, and the hub's
// request log says how many file bytes actually went over the wire.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildsFromRpmDir, startFakeKoji } from '../test/helpers/fake-koji.ts';
import { DARKSERVER, log, nowMs } from './util.ts';

export interface KojiResult { ms: number; builds: number; rpms: number; bytesServed: number; corpusBytes: number; fileRequests: number; indexed: number; headerOnly: number }

export async function kojiImport(rpms: string[], corpusBytes: number, work: string, label: string): Promise<KojiResult> {
  const builds = buildsFromRpmDir(rpms);
  const hub = await startFakeKoji({ builds });
  const dir = mkdtempSync(join(work, 'koji-'));
  try {
    const s = nowMs();
    const r = await execa(process.execPath, [
      DARKSERVER, 'import', '--json', '--db', join(dir, 'index.sqlite'), '--hub', hub.hub, '--topurl', hub.topurl,
      ...builds.map((b) => String(b.id)),
    ], { reject: false, env: { NO_COLOR: '1', DARKFORGE_DEBUG: '' } });
    const ms = nowMs() - s;
    if (r.exitCode !== 0) throw new Error(`darkserver import exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    const sum = JSON.parse(r.stdout) as { rpms: { indexed: number; headerOnly: number } };
    const files = hub.requests().filter((l) => l.method === 'GET' && l.path.startsWith('/kojifiles/'));
    const res: KojiResult = {
      ms, builds: builds.length, rpms: rpms.length, bytesServed: hub.bytesServed(), corpusBytes,
      fileRequests: files.length, indexed: sum.rpms.indexed, headerOnly: sum.rpms.headerOnly,
    };
    log(`koji import ${label}: ${res.bytesServed} of ${corpusBytes} bytes in ${res.fileRequests} requests, ${(ms / 1000).toFixed(2)} s`);
    return res;
  } finally {
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
