/**
 * @module cli/context
 * What a command receives: its streams and environment (injected, so tests run the CLI in
 * process and capture its output), and the command interface itself.
 */
import type { Readable, Writable } from 'node:stream';
import type { OptionSpecs, ParseResult } from './args.js';
import { Store } from '../store/store.js';
import { defaultStorePath } from '../store/paths.js';

export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
  readonly stdin: Readable & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * True when the streams are this process's own descriptors 0–2 (the `cairn` command), so a
   * child process can inherit them and a terminal stays a terminal (`run -it`, `exec -it`).
   * Tests that run the CLI in process pass their own streams and leave this unset.
   */
  readonly processStdio?: boolean;
}

export interface Command<S extends OptionSpecs = OptionSpecs> {
  readonly usage: string;
  readonly summary: string;
  readonly options: S;
  /** For commands that run another command: options end at this positional. */
  readonly stopAfterPositionals?: number;
  run(io: CliIO, args: ParseResult<S & { store: { type: 'string'; description: string } }>): Promise<number>;
}

/** Declares a command with its option types inferred. */
export function defineCommand<S extends OptionSpecs>(command: Command<S>): Command<S> {
  return command;
}

export function openStore(io: CliIO, storeFlag: string | undefined): Promise<Store> {
  return Store.open(storeFlag ?? defaultStorePath(io.env));
}

export function print(stream: CliIO['stdout'], text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}
