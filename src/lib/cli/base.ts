// Shared behaviour of darkforge commands: one-sentence errors on stderr with the contract's
// exit codes (1 not found / some inputs failed, 2 usage or input error), never a stack trace
// for a user error.
import { Command, Errors, Flags } from '@oclif/core';
import { UserError } from '../errors.js';
import { invokedCommand } from './invoked.js';
import { disableColour, fail, note, prepareColour, printJson, reportError, wantsNoColour } from './output.js';

export { openStore } from './open-store.js';

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print machine-readable JSON on stdout.' }),
    'no-color': Flags.boolean({ description: 'No colour in messages, even on a terminal (as NO_COLOR=1 does).', helpGroup: 'GLOBAL' }),
  };

  protected override async init(): Promise<void> {
    // Before parsing: a usage error is a message too.
    if (wantsNoColour(this.argv)) disableColour();
    await prepareColour();
    await super.init();
  }

  /** Name shown in front of error messages. */
  protected get label(): string {
    return this.id ? this.id.replace(/:/g, ' ') : 'darkforge';
  }

  protected note(message: string): void {
    note(this.label, message);
  }

  protected fail(message: string, code = 1): void {
    fail(this.label, message, code);
  }

  protected printJson(value: unknown): void {
    printJson(value);
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    if (!(err instanceof UserError) && (err.oclif?.exit !== undefined || err instanceof Errors.CLIError)) {
      // Flag and argument parsing errors from oclif: keep its text, drop the decoration.
      const text = err.message.replace(/\n\s*See more help with --help\s*$/i, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
      this.fail(`${text} (see "${invokedCommand(this.id ?? '', this.config.bin)} --help")`, 2);
      return;
    }
    // User errors, filesystem errors and bugs: shared with the `darkserver query` fast path.
    if (!reportError(this.label, err)) throw err;
  }
}

export const dbFlag = Flags.string({
  description: 'Index database file [default: $DARKFORGE_DB, else $XDG_DATA_HOME/darkforge/buildids.sqlite]',
  helpValue: 'FILE',
});
