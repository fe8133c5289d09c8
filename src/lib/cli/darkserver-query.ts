// `darkserver query`: the whole command after argument parsing. The oclif command
// (commands/darkserver/query.ts) and the fast path that skips oclif (fast-path.ts) both run this,
// so their output is the same byte for byte. Errors are thrown (UserError: one sentence and an exit
// code); "not found" inputs are reported here and raise the exit code to 1.
import { UserError } from '../errors.js';
import { formatCoreLines, formatPlain, parseBuildId, queryBuildIds, queryCore, queryFile, queryPackage, queryRpm, splitIds, type QueryAnswer } from '../index/query.js';
import { openStore } from './open-store.js';
import { fail, printJson } from './output.js';

/** The parsed command line of `darkserver query`. */
export interface QueryRequest {
  /** Build-id arguments as given (each may hold a comma or space separated list). */
  ids: string[];
  db?: string;
  json?: boolean;
  rpm?: string;
  file?: string;
  package?: string;
  elf?: string;
  /** A core dump: a path (plain, or zstd/xz/lz4 as systemd-coredump stores them) or "-" for standard input. */
  core?: string;
}

export const QUERY_LABEL = 'darkserver query';

export async function runQuery(req: QueryRequest, label = QUERY_LABEL): Promise<void> {
  const { ids } = req;
  const modes = [ids.length > 0, req.rpm, req.file, req.package, req.elf, req.core].filter(Boolean).length;
  if (modes !== 1) throw new UserError('give build-ids, or one of --rpm NVRA, --file PATH, --package NAME, --elf FILE, --core FILE', 2);
  // The ELF file reader loads only for --elf.
  const idList = ids.length
    ? splitIds(ids).map(parseBuildId)
    : req.elf ? [await (await import('../elf/file.js')).buildIdOfFile(req.elf)] : [];
  const store = await openStore(req.db, { mustExist: true });
  if (req.core) {
    let core: Awaited<ReturnType<typeof queryCore>>;
    try {
      // A compressed core or standard input becomes a private temporary file for the time of the query.
      const { openCoreInput } = await import('../elf/core-input.js');
      const input = await openCoreInput(req.core);
      try {
        core = await queryCore(store, input.path, input.name);
      } finally {
        await input.cleanup();
      }
    } finally {
      await store.close();
    }
    if (req.json) printJson(core.modules);
    else for (const m of core.modules) for (const line of formatCoreLines(m)) process.stdout.write(`${line}\n`);
    for (const m of core.missing) fail(label, m.message, 1);
    return;
  }
  if (req.package) {
    let pkg: Awaited<ReturnType<typeof queryPackage>>;
    try {
      pkg = await queryPackage(store, req.package);
    } finally {
      await store.close();
    }
    if (req.json) printJson(pkg.results);
    else for (const r of pkg.results) process.stdout.write(`${r.rpm}\t${r.urls.join(' ')}\n`);
    for (const m of pkg.missing) fail(label, m.message, 1);
    return;
  }
  let answer: QueryAnswer;
  try {
    answer = await (req.rpm ? queryRpm(store, req.rpm) : req.file ? queryFile(store, req.file) : queryBuildIds(store, idList));
  } finally {
    await store.close();
  }
  if (req.json) printJson(answer.results);
  else for (const r of answer.results) process.stdout.write(`${formatPlain(r)}\n`);
  for (const m of answer.missing) fail(label, m.message, 1);
}
