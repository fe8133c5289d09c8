// `darkserver serve` as a child process on a free loopback port, for tests: started, waited for
// (the "listening on URL" line), its stderr kept, stopped with a signal and its exit awaited.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './paths.ts';

export interface Served {
  url: string;
  child: ChildProcess;
  stderr(): string;
  /** Send `signal` (default SIGTERM) and wait for the exit; its code (or 128 + signal). */
  stop(signal?: NodeJS.Signals): Promise<number>;
  exited: Promise<number>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) try { c.kill('SIGKILL'); } catch { /* gone */ } });

/** Start `darkserver serve ARGS --port 0`; `wrap` runs it through another program (e.g. unshare). */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}, wrap: string[] = []): Promise<Served> {
  const cmd = [...wrap, process.execPath, join(ROOT, 'bin', 'darkserver.js'), 'serve', '--port', '0', ...args];
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', DEBUGINFOD_URLS: '', ...env } });
  live.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => { err += s; });
  const exited = new Promise<number>((resolve) => child.once('exit', (code, sig) => {
    live.delete(child);
    resolve(code ?? 128 + (sig === 'SIGKILL' ? 9 : sig === 'SIGTERM' ? 15 : sig === 'SIGINT' ? 2 : 0));
  }));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`darkserver serve did not start within 20 s:\n${err}`)), 20_000);
    const check = (): void => {
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`darkserver serve exited (${code}) before listening:\n${err}`)); });
  });
  return {
    url, child, exited,
    stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
