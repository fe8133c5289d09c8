#!/usr/bin/env node
// `npm run build`, after tsc: man/man1/*.1 from the commands' oclif metadata (dist/lib/cli/manpage.js),
// laid out as man(1) searches a MANPATH entry. The folder is made anew each time, so a page never
// outlives its command.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';
import { manPages } from '../dist/lib/cli/manpage.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'man');
const pages = manPages(await Config.load(root));
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'man1'), { recursive: true });
for (const [name, text] of pages) writeFileSync(join(dir, 'man1', name), text);
