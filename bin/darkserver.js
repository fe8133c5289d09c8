#!/usr/bin/env node
// `darkserver X` is `darkforge darkserver X`.
const argv = process.argv.slice(2);

// `darkserver query` and `darkserver index` answer without loading oclif when they can
// (dist/lib/cli/fast-path.js).
const fast = argv[0] === 'query' || argv[0] === 'index';
const answered = fast && await (await import('../dist/lib/cli/fast-path.js')).fastRun(argv[0], argv.slice(1));
if (!answered) await (await import('../dist/lib/cli/entry.js')).runEntry('darkserver', argv, import.meta.url);
