// Shared by the stand-in executables: argv parsing in the style of optparse/argparse, the
// DF_STANDIN_* switches, and tiny ISO files. Plain JS, no dependencies.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { machine } from 'node:os';
import { basename, dirname } from 'node:path';

/** One JSON line per run in $DF_STANDIN_LOG: which tool, its argv and its cwd. */
export function record(tool) {
  const file = process.env.DF_STANDIN_LOG;
  if (!file) return;
  appendFileSync(file, JSON.stringify({ tool, argv: process.argv.slice(2), cwd: process.cwd(), pid: process.pid }) + '\n');
}

/** uname -m as the tool would see it; the setarch stand-in sets DF_STANDIN_MACHINE for its child. */
export function hostMachine() {
  return process.env.DF_STANDIN_MACHINE || machine();
}

/** Print a usage error the way optparse/argparse do, and exit 2. */
export function usageError(prog, usage, message) {
  process.stderr.write(`${usage}\n${prog}: error: ${message}\n`);
  process.exit(2);
}

/**
 * Parse argv against spec: { '-c': { dest, value: true }, '--config': {...}, '--force': { dest } }.
 * `value: 'append'` collects repeats. Accepts `--opt=value` and `--opt value`.
 */
export function parse(argv, spec, prog, usage) {
  const opts = {};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline;
    if (arg.startsWith('--') && arg.includes('=')) {
      inline = arg.slice(arg.indexOf('=') + 1);
      arg = arg.slice(0, arg.indexOf('='));
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const o = spec[arg];
    if (!o) usageError(prog, usage, `no such option: ${arg}`);
    if (!o.value) {
      opts[o.dest] = true;
      continue;
    }
    let v = inline;
    if (v === undefined) {
      if (i + 1 >= argv.length) usageError(prog, usage, `${arg} option requires an argument`);
      v = argv[++i];
    }
    if (o.value === 'append') (opts[o.dest] ??= []).push(v);
    else opts[o.dest] = v;
  }
  return { opts, positional };
}

export function progress(tool, lines) {
  for (const line of lines) {
    process.stdout.write(`${tool}: ${line}\n`);
    process.stderr.write(`${tool}: DEBUG ${line}\n`);
  }
}

/**
 * DF_STANDIN_SLEEP (seconds) gives a test time to cancel. DF_STANDIN_FAIL fails the build after
 * a partial file in the working directory (what a tool leaves when it dies mid-build):
 * `1` or any exit code exits with it; a signal name (SIGKILL, SIGSEGV, …) kills the tool with it.
 */
export async function work(tool) {
  const secs = Number(process.env.DF_STANDIN_SLEEP || 0);
  if (secs > 0) await new Promise((r) => setTimeout(r, secs * 1000));
  const fail = process.env.DF_STANDIN_FAIL;
  if (!fail || fail === '0') return;
  writeFileSync(`${process.cwd()}/${tool}-partial.tmp`, 'half of a build\n');
  if (/^SIG[A-Z0-9]+$/.test(fail)) {
    process.stderr.write(`${tool}: dying from ${fail} (DF_STANDIN_FAIL=${fail})\n`);
    process.kill(process.pid, fail);
    await new Promise((r) => setTimeout(r, 10_000));
  }
  process.stderr.write(`${tool}: ERROR: stand-in failure requested (DF_STANDIN_FAIL=${fail})\n`);
  process.exit(/^\d+$/.test(fail) ? Number(fail) : 1);
}

/** A small file with an ISO 9660 primary volume descriptor ("CD001" at offset 32769). */
export function writeIso(path, volid = 'STANDIN') {
  const buf = Buffer.alloc(32768 + 2 * 2048);
  const pvd = 32768;
  buf[pvd] = 1;
  buf.write('CD001', pvd + 1, 'latin1');
  buf[pvd + 6] = 1;
  buf.write(volid.slice(0, 32).padEnd(32, ' '), pvd + 40, 'latin1');
  const term = pvd + 2048;
  buf[term] = 255;
  buf.write('CD001', term + 1, 'latin1');
  buf[term + 6] = 1;
  writeFile(path, buf);
}

export function writeFile(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

export function writeLog(path, tool, lines) {
  writeFile(path, lines.map((l) => `${new Date().toISOString()} ${tool}: ${l}\n`).join(''));
}

export { basename };
