import { Args, Flags } from '@oclif/core';
import { BaseCommand, dbFlag, openStore } from '../../lib/cli/base.js';
import { formatBytes } from '../../lib/cli/format.js';
import { closingLine, queuedLine, summaryLine, workerLine } from '../../lib/cli/import-summary.js';
import { interruptible } from '../../lib/cli/interrupt.js';
import { netFlags, netOptions } from '../../lib/cli/net-flags.js';
import { progressBar, type Progress } from '../../lib/cli/progress.js';
import { UserError } from '../../lib/errors.js';
import type { ImportProgress, ImportSummary } from '../../lib/import/importer.js';
import type { Store } from '../../lib/store/port.js';
import { parseSince } from '../../lib/import/since.js';
import { releaseClaims } from '../../lib/import/queue.js';
import { databaseError } from '../../lib/index/db-errors.js';
import { resolveInstance, type KojiInstance } from '../../lib/koji/instances.js';

export default class DarkserverImport extends BaseCommand {
  static override summary = 'Index Koji builds by build id or N-V-R, or walk a range of build ids.';
  static override description = `Each RPM of a COMPLETE build (source RPMs excepted) is fetched header-first with HTTP Range `
    + `requests; its payload is streamed only when the header cannot account for every ELF file. `
    + `Everything fetched is checked against Koji's payloadhash and size. The work is a queue in the `
    + `index database: an interrupted import resumes where it stopped (run "darkserver import" with no `
    + `arguments to finish the queue of every instance), and nothing is indexed twice. --follow keeps running and `
    + `imports every build Koji completes from now (or --since) on, going on after a restart where it stopped. `
    + `Exit 0 only when every requested build was imported and no failed work remains. Import workers: --queue only looks the builds up and queues their RPMs; `
    + `"darkserver import --worker" processes, on this machine or (with a PostgreSQL --db) on any number of machines, `
    + `take the queued work of every instance until none is left, each RPM under a lease (DARKFORGE_LEASE_SECONDS, `
    + `default 120) that is taken over when its worker dies or is cut off; "darkserver jobs" shows who holds what. `
    + `"--worker --follow" keeps taking work as it is queued, until stopped (a service).`;
  static override examples = [
    '<%= config.bin %> darkserver import 2191547',
    '<%= config.bin %> darkserver import bash-5.2.15-3.fc38 --jobs 8',
    '<%= config.bin %> darkserver import --instance ppc --from 400000 --to 400500',
    '<%= config.bin %> darkserver import --follow --poll 120',
    '<%= config.bin %> darkserver import --retry-failed',
    '<%= config.bin %> darkserver import --hub https://koji.example.org/kojihub --topurl https://koji.example.org/kojifiles 42',
    '<%= config.bin %> darkserver import --queue --from 2440000 --to 2440500 --db postgresql://me@db.example.org/darkforge',
    '<%= config.bin %> darkserver import --worker --jobs 8 --db postgresql://me@db.example.org/darkforge',
    '<%= config.bin %> darkserver import --follow --queue --db postgresql://me@db.example.org/darkforge',
    '<%= config.bin %> darkserver import --worker --follow --poll 10',
  ];
  static override strict = false;
  static override args = { build: Args.string({ description: 'Koji build id or N-V-R (several allowed)', ignoreStdin: true }) };
  static override flags = {
    db: dbFlag,
    instance: Flags.string({ char: 'i', description: 'Koji profile name (config/*.conf, /etc/koji.conf[.d], ~/.koji/config) [default: koji]', helpValue: 'NAME' }),
    config: Flags.string({ char: 'c', description: 'One instance file (a Koji profile, or darkproducer\'s [darkserver] file).', helpValue: 'FILE', exclusive: ['hub'] }),
    hub: Flags.string({ description: 'Koji hub XML-RPC URL, instead of a profile.', helpValue: 'URL' }),
    topurl: Flags.string({ description: 'Koji package store URL (with --hub).', helpValue: 'URL', dependsOn: ['hub'] }),
    from: Flags.integer({ description: 'Walk Koji build ids from this one (darkproducer mode).', min: 1, helpValue: 'ID' }),
    to: Flags.integer({ description: 'Last build id of the walk [default: until 50 ids in a row do not exist].', min: 1, helpValue: 'ID', dependsOn: ['from'] }),
    jobs: Flags.integer({ char: 'j', description: 'RPMs fetched at once.', default: 4, min: 1, max: 64 }),
    full: Flags.boolean({ description: 'Always stream the payload.' }),
    'retry-failed': Flags.boolean({ description: 'Put failed builds and RPMs back on the queue first: of every instance, unless one is named.' }),
    'wait-building': Flags.integer({ description: 'Keep re-checking BUILDING builds for this many seconds.', default: 0, min: 0, helpValue: 'SECONDS' }),
    follow: Flags.boolean({ description: 'Keep running: import every build Koji completes from now (or --since) on; a restart goes on where it stopped. With --worker: keep taking queued work, pass after pass, until stopped.' }),
    poll: Flags.integer({ description: 'With --follow: seconds between two looks at Koji [default: 60]; with --worker --follow, at an empty queue [default: 10].', min: 1, helpValue: 'SECONDS', dependsOn: ['follow'] }),
    since: Flags.string({ description: 'With --follow: start at this Koji event id or date (YYYY-MM-DD[ HH:MM[:SS]], local time unless Z or ±HH:MM).', helpValue: 'EVENT|DATE', dependsOn: ['follow'] }),
    queue: Flags.boolean({ description: 'Look the builds up in Koji and queue their RPMs for import workers (--worker); fetch nothing. With --follow: a producer that keeps queuing what Koji completes.', exclusive: ['worker'] }),
    worker: Flags.boolean({ description: 'Take queued work of every instance in the database (hubs as recorded there) until none is left (with --follow: keep taking it until stopped); with --jobs, --full, --retry-failed, --wait-building, --timeout.' }),
    ...netFlags,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(DarkserverImport);
    if (flags.worker) {
      const given = [argv.length ? 'BUILD' : '', ...(['from', 'to', 'instance', 'config', 'hub', 'topurl'] as const).filter((f) => flags[f] !== undefined).map((f) => `--${f}`)]
        .filter(Boolean);
      if (given.length) {
        throw new UserError(`--worker takes the queued work of every Koji instance in the database, with the hub recorded there: it takes no ${given.join(', ')} `
          + '(queue builds with "darkserver import --queue BUILD…" or "--queue --from ID")', 2);
      }
      if (flags.follow && (flags.since !== undefined || flags['wait-building'])) {
        throw new UserError('--worker --follow keeps taking queued work and asks Koji about BUILDING builds at every pass: it takes no --since nor --wait-building', 2);
      }
      return flags.follow ? this.workOn({ ...flags, poll: flags.poll ?? 10 }) : this.work(flags);
    }
    if (flags.queue && !argv.length && flags.from === undefined && !flags.follow) throw new UserError('--queue needs builds to queue: BUILD… or --from ID (or --follow)', 2);
    if (flags.from !== undefined && flags.to !== undefined && flags.to < flags.from) {
      throw new UserError(`--to ${flags.to} is below --from ${flags.from}`, 2);
    }
    if (flags.follow && (argv.length || flags.from !== undefined || flags['wait-building'])) {
      throw new UserError(`--follow imports what Koji completes from now on; it takes no build, --from nor --wait-building`, 2);
    }
    const since = flags.since === undefined ? undefined : parseSince(flags.since);
    const named = flags.instance !== undefined || flags.config !== undefined || flags.hub !== undefined;
    // Neither builds nor an instance named: the queue of every instance, each with its own hub
    // (the default profile is then needed only if the queue holds work of it).
    const everyInstance = !named && !argv.length && flags.from === undefined && !flags.follow;
    const instance = everyInstance ? undefined : resolveInstance({ instance: flags.instance, config: flags.config, hub: flags.hub, topurl: flags.topurl });
    if (flags.follow && instance) {
      const net = netOptions(this.label, flags);
      const { runFollow } = await import('../../lib/cli/darkserver-import-follow.js');
      const store = await openStore(flags.db);
      try {
        await runFollow(store, {
          instance, jobs: flags.jobs, full: flags.full, retryFailed: flags['retry-failed'], net, since, pollS: flags.poll ?? 60, json: flags.json, queueOnly: flags.queue,
        }, this.label);
      } finally {
        await store.close();
      }
      return;
    }
    const { importBuilds, resumeAll } = await import('../../lib/import/importer.js');
    const sum = await this.onQueue(flags.db, flags.json, 'darkserver import', (store, bar, onProgress) => {
      const common = {
        jobs: flags.jobs, full: flags.full, retryFailed: flags['retry-failed'], waitBuildingMs: flags['wait-building'] * 1000,
        net: this.netAbove(flags, bar), onProgress, onError: (subject: string, message: string) => bar.above(() => this.fail(`${subject}: ${message}`, 1)),
      };
      return instance
        ? importBuilds(store, { ...common, instance, builds: argv as string[], from: flags.from, to: flags.to, queueOnly: flags.queue })
        : resumeAll(store, { ...common, profile: profileNamed });
    });
    const line = sum.queued ? queuedLine(sum, sum.queued) : summaryLine(sum);
    if (flags.json) this.printJson(sum);
    else if (line) process.stdout.write(`${line}\n`);
    const closing = closingLine(sum);
    if (closing) this.fail(closing, 1);
    else if (!sum.complete && Number(process.exitCode ?? 0) < 1) process.exitCode = 1;
  }

  /** Network options whose lines about servers that are down go above the progress bar on a terminal, not into it. */
  private netAbove(flags: Parameters<typeof netOptions>[1], bar: Progress): ReturnType<typeof netOptions> {
    return netOptions(this.label, flags, (line) => bar.above(() => this.note(line)));
  }

  /** --worker: the queue of every instance, until no work is left (lib/import/worker.ts). */
  private async work(flags: WorkerFlags): Promise<void> {
    const { drainQueue } = await import('../../lib/import/worker.js');
    const sum = await this.onQueue(flags.db, flags.json, 'darkserver import --worker', (store, bar, onProgress) => drainQueue(store, {
      jobs: flags.jobs, full: flags.full, retryFailed: flags['retry-failed'], waitBuildingMs: flags['wait-building'] * 1000, net: this.netAbove(flags, bar),
      onProgress, onError: (subject, message) => bar.above(() => this.fail(`${subject}: ${message}`, 1)), onNote: (line) => bar.above(() => this.note(line)),
    }));
    if (flags.json) this.printJson(sum);
    else process.stdout.write(`${workerLine(sum)}\n`);
    if (!sum.complete) this.fail('not every build this worker worked on was imported (see "darkserver jobs"; --retry-failed tries failed ones again)', 1);
  }

  /** --worker --follow: pass after pass over the queue until stopped (lib/cli/darkserver-import-worker.ts). */
  private async workOn(flags: WorkerFlags & { poll: number }): Promise<void> {
    const { runWorkerFollow } = await import('../../lib/cli/darkserver-import-worker.js');
    const store = await openStore(flags.db);
    try {
      await runWorkerFollow(store, {
        jobs: flags.jobs, full: flags.full, retryFailed: flags['retry-failed'], net: netOptions(this.label, flags),
        pollS: flags.poll, json: flags.json,
      }, this.label);
    } finally {
      await store.close();
    }
  }

  /**
   * `go` on the store, with a progress bar on a terminal. A signal, or a failure of the database
   * itself, puts this process's claimed RPMs back on the queue; `again` is the command that finishes.
   */
  private async onQueue<T>(db: string | undefined, json: boolean, again: string,
    go: (store: Store, bar: Progress, onProgress: (p: ImportProgress) => void) => Promise<T>): Promise<T> {
    const store = await openStore(db);
    const bar = progressBar(!json, '{bar} {value}/{total} RPMs | {builds} builds | {fetched} fetched | {rate}/s');
    const started = Date.now();
    let seen: ImportProgress | undefined;
    const onProgress = (p: ImportProgress): void => {
      seen = p;
      bar.update(p.rpmsDone, p.rpmsTotal, {
        builds: p.builds, fetched: formatBytes(p.bytes), rate: formatBytes(Math.round(p.bytes / Math.max(0.001, (Date.now() - started) / 1000))),
      });
    };
    try {
      return await interruptible(go(store, bar, onProgress), async (signal) => {
        bar.stop();
        const back = await releaseClaims(store) ?? 0;
        return `interrupted by ${signal}: ${seen?.rpmsDone ?? 0} of ${seen?.rpmsTotal ?? 0} RPMs done, ${back} in progress put back on the queue; `
          + `run "${again}" again to finish`;
      });
    } catch (e) {
      const dbError = databaseError(e);
      if (dbError) await releaseClaims(store);
      throw dbError ?? e;
    } finally {
      bar.stop();
      await store.close();
    }
  }
}

/** The Koji profile of that name, if there is one (else the hub recorded with the queue is used). */
function profileNamed(name: string): KojiInstance | undefined {
  try {
    return resolveInstance({ instance: name });
  } catch (e) {
    if (e instanceof UserError) return undefined;
    throw e;
  }
}

interface WorkerFlags {
  db?: string;
  json: boolean;
  jobs: number;
  full: boolean;
  'retry-failed': boolean;
  'wait-building': number;
  timeout?: string;
  insecure: boolean;
}
