#!/usr/bin/env node
// `npm run demo`: index the bundled sample RPMs into a scratch database, then answer the
// question of a crash: which package build holds this build-id? Prints each command it runs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const samples = relative(process.cwd(), join(root, 'test', 'fixtures', 'rpms')) || '.';
const db = join(mkdtempSync(join(tmpdir(), 'darkforge-demo-')), 'buildids.sqlite');
const bin = join(root, 'bin', 'darkserver.js');

function darkserver(args, { show = true, capture = false } = {}) {
  if (show) process.stdout.write(`\n$ darkserver ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [bin, ...args, '--db', db], { stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout;
}

process.stdout.write(`darkforge demo — index database: ${db}\n`);
darkserver(['index', samples]);
const rows = JSON.parse(darkserver(['query', '--json', '--rpm', 'df-debug-1.0-1.x86_64'], { show: false, capture: true }));
const exe = rows.find((r) => r.type === 'executable') ?? rows[0];
process.stdout.write(`\nA crash in ${exe.elf} reports build-id ${exe.buildid}. Which builds hold it?`);
darkserver(['query', exe.buildid]);
darkserver(['query', '--json', exe.buildid]);
darkserver(['stats']);
