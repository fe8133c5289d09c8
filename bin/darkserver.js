#!/usr/bin/env node
// `darkserver X` is `darkforge darkserver X`.
const args = ['darkserver', ...process.argv.slice(2)];

// `darkserver query` and `darkserver index` answer without loading oclif when they can
// (dist/lib/cli/fast-path.js).
const fast = args[1] === 'query' || args[1] === 'index';
const answered = fast && await (await import('../dist/lib/cli/fast-path.js')).fastRun(args[1], args.slice(2));
if (!answered) {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url, args });
}
