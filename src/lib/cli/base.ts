// Shared behaviour of darkforge commands: one-sentence errors on stderr with the contract's
// exit codes (1 not found / some inputs failed, 2 usage or input error), never a stack trace
// for a user error.
import { Command, Errors, Flags } from '@oclif/core';
import { ioMessage, UserError } from '../errors.js';
import { Store } from '../index/store.js';
import { resolveDbPath } from '../index/location.js';

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print machine-readable JSON on stdout.' }),
  };

  /** Name shown in front of error messages. */
  protected get label(): string {
    return this.id ? this.id.replace(/:/g, ' ') : 'darkforge';
  }

  protected note(message: string): void {
    process.stderr.write(`${this.label}: ${message}\n`);
  }

  protected fail(message: string, code = 1): void {
    this.note(message);
    if (Number(process.exitCode ?? 0) < code) process.exitCode = code;
  }

  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    if (err instanceof UserError) {
      this.fail(err.message, err.exitCode);
      return;
    }
    if (err.oclif?.exit !== undefined || err instanceof Errors.CLIError) {
      // Flag and argument parsing errors from oclif: keep its text, drop the decoration.
      const text = err.message.replace(/\n\s*See more help with --help\s*$/i, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
      this.fail(`${text} (see --help)`, 2);
      return;
    }
    const io = err as NodeJS.ErrnoException;
    if (io.syscall && io.code) {
      // Filesystem trouble the user can fix (full disk, permissions, read-only): say where and what.
      this.fail(`${io.path ?? io.syscall}: ${ioMessage(io)}`, 1);
      return;
    }
    if (process.env.DARKFORGE_DEBUG) throw err;
    this.fail(`internal error: ${err.message} (set DARKFORGE_DEBUG=1 for details)`, 1);
  }
}

export const dbFlag = Flags.string({
  description: 'Index database file [default: $DARKFORGE_DB, else $XDG_DATA_HOME/darkforge/buildids.sqlite]',
  helpValue: 'FILE',
});

export function openStore(flag: string | undefined, opts: { mustExist?: boolean } = {}): Store {
  return new Store(resolveDbPath(flag), opts);
}
