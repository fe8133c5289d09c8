#!/usr/bin/env node
// `imagebuild X` is `darkforge imagebuild X`.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url, args: ['imagebuild', ...process.argv.slice(2)] });
