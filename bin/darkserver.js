#!/usr/bin/env node
// `darkserver X` is `darkforge darkserver X`.
const args = ['darkserver', ...process.argv.slice(2)];

// `darkserver query` answers without loading oclif when it can (dist/lib/cli/fast-query.js).
const answered = args[1] === 'query' && await (await import('../dist/lib/cli/fast-query.js')).fastQuery(args.slice(2));
if (!answered) {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url, args });
}
