#!/usr/bin/env node
const args = process.argv.slice(2);

// `darkforge darkserver query|index` answer without loading oclif when they can
// (dist/lib/cli/fast-path.js).
const [command, rest] = args[0] === 'darkserver' ? [args[1], args.slice(2)]
  : args[0] === 'darkserver:query' || args[0] === 'darkserver:index' ? [args[0].slice(11), args.slice(1)] : [];
const answered = (command === 'query' || command === 'index')
  && await (await import('../dist/lib/cli/fast-path.js')).fastRun(command, rest);
if (!answered) await (await import('../dist/lib/cli/entry.js')).runEntry(undefined, args, import.meta.url);
