#!/usr/bin/env node
// `darkserver X` is `darkforge darkserver X`.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url, args: ['darkserver', ...process.argv.slice(2)] });
