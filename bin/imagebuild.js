#!/usr/bin/env node
// `imagebuild X` is `darkforge imagebuild X`.
await (await import('../dist/lib/cli/entry.js')).runEntry('imagebuild', process.argv.slice(2), import.meta.url);
