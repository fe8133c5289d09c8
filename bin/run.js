#!/usr/bin/env node
const args = process.argv.slice(2);

// `darkforge darkserver query` answers without loading oclif when it can (dist/lib/cli/fast-query.js).
const query = args[0] === 'darkserver' && args[1] === 'query' ? 2 : args[0] === 'darkserver:query' ? 1 : 0;
const answered = query > 0 && await (await import('../dist/lib/cli/fast-query.js')).fastQuery(args.slice(query));
if (!answered) {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}
