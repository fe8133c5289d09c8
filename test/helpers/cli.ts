import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './paths.ts';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run one of the built entry points (npm test builds dist/ first). Standard input is empty, or
 * `input` (bytes through a pipe), or `stdinFd` (an open file, as `< FILE` gives it).
 */
export function run(bin: 'darkserver' | 'run' | 'imagebuild', args: string[], env: NodeJS.ProcessEnv = {},
  opts: { input?: Buffer | string; stdinFd?: number } = {}): Run {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', `${bin}.js`), ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', DARKFORGE_DEBUG: '', ...env },
    maxBuffer: 64 << 20,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.stdinFd !== undefined ? { stdio: [opts.stdinFd, 'pipe', 'pipe'] } : {}),
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const made: string[] = [];
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

/** A scratch folder, removed when the test process exits. */
export function tempDir(prefix = 'darkforge-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
