/**
 * @module runtime/logs
 * A container's output as JSON lines, one per line of output, the way docker's json-file driver
 * writes them: `{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.123Z"}`.
 *
 * The writer splits each stream at newlines on bytes (so a UTF-8 character cut between two
 * reads is decoded whole), emits a partial line when 16 KiB pile up without a newline (docker's
 * limit) and the remainder when the stream ends. Readers parse only complete lines: a line the
 * writer was killed in the middle of is never returned.
 *
 * `followLogs` reads the file and, with `follow`, keeps waiting for more until the container
 * has exited (its supervisor writes the last lines before it records the exit).
 */
import { close, openSync, watch, write, type FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { delay } from './proc.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  stream: LogStream;
  /** RFC 3339 with milliseconds, UTC. */
  time: string;
  /** The text, with its newline when it had one. */
  log: string;
}

const MAX_PARTIAL = 16 * 1024;
const NL = 0x0a;

/**
 * Appends JSON lines for one container's streams to its log file. The file is opened at the
 * first line: a container that prints nothing (`run --rm IMAGE true`) costs no file stream, no
 * open and no unlink, and readers take a missing log as an empty one.
 */
export class LogWriter {
  readonly #file: string;
  #out: LogFile | undefined;
  readonly #pending: Record<LogStream, Buffer[]> = { stdout: [], stderr: [] };
  #closed: Promise<void> | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  /** Feeds a chunk of `stream`'s output. */
  write(stream: LogStream, chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(NL, start); nl >= 0; nl = chunk.indexOf(NL, start)) {
      this.#emit(stream, [...this.#pending[stream], chunk.subarray(start, nl + 1)]);
      this.#pending[stream] = [];
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#pending[stream].push(chunk.subarray(start));
      if (this.#pending[stream].reduce((n, b) => n + b.length, 0) >= MAX_PARTIAL) this.flush(stream);
    }
  }

  /** Writes out what `stream` has without a newline yet (at its end). */
  flush(stream: LogStream): void {
    if (this.#pending[stream].length === 0) return;
    this.#emit(stream, this.#pending[stream]);
    this.#pending[stream] = [];
  }

  #emit(stream: LogStream, parts: Buffer[]): void {
    const line: LogLine = { log: Buffer.concat(parts).toString('utf8'), stream, time: new Date().toISOString() };
    this.#out ??= new LogFile(this.#file);
    this.#out.append(`${JSON.stringify(line)}\n`);
  }

  /** Flushes both streams and closes the file (resolves once it is written). */
  close(): Promise<void> {
    this.#closed ??= (() => {
      this.flush('stdout');
      this.flush('stderr');
      return this.#out?.close() ?? Promise.resolve();
    })();
    return this.#closed;
  }
}

/**
 * The log file, appended to in order, one write in flight at a time, with the callback fs calls
 * Node loads at its start: an fs.WriteStream loads node:stream and node:fs/promises, ~4 ms of a
 * short `run` that prints. A write that fails (a full disk) drops the rest: the supervisor goes
 * on, and the lines are lost, as they were with the stream.
 */
class LogFile {
  readonly #path: string;
  /** Opened at the first line; null once writing has failed. */
  #fd: number | null | undefined;
  readonly #queue: Buffer[] = [];
  #writing = false;
  #idle: (() => void)[] = [];

  constructor(path: string) {
    this.#path = path;
  }

  append(text: string): void {
    if (this.#fd === null) return;
    this.#queue.push(Buffer.from(text));
    this.#next();
  }

  #next(): void {
    if (this.#writing) return;
    const bytes = this.#queue.shift();
    if (bytes === undefined || this.#fd === null) {
      this.#queue.length = 0;
      for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    try {
      this.#fd ??= openSync(this.#path, 'a');
    } catch {
      this.#fd = null;
      this.#next();
      return;
    }
    const fd = this.#fd;
    this.#writing = true;
    const rest = (from: number): void => {
      write(fd, bytes, from, bytes.length - from, null, (err, written) => {
        if (!err && from + written < bytes.length) return rest(from + written);
        if (err) {
          this.#fd = null;
          close(fd, () => undefined);
        }
        this.#writing = false;
        this.#next();
      });
    };
    rest(0);
  }

  /** Resolves once every line appended so far is written and the file is closed. */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#idle.push(resolve);
      this.#next();
    }).then(
      () =>
        new Promise<void>((resolve) => {
          const fd = this.#fd;
          this.#fd = null;
          if (typeof fd === 'number') close(fd, () => resolve());
          else resolve();
        }),
    );
  }
}

export interface FollowOptions {
  /** Keep reading until the container has exited. */
  follow?: boolean;
  /** Only lines at or after this time. */
  since?: Date;
  /** Only the last N lines of what is already written (then everything new, when following). */
  tail?: number;
  /** Consulted at the end of the file when following: true stops (after one last read). */
  finished?: () => Promise<boolean>;
  /** Stops following early. */
  signal?: AbortSignal;
}

function parseLine(text: string): LogLine | null {
  try {
    const v = JSON.parse(text) as Partial<LogLine>;
    if (typeof v.log !== 'string' || (v.stream !== 'stdout' && v.stream !== 'stderr') || typeof v.time !== 'string') return null;
    return { log: v.log, stream: v.stream, time: v.time };
  } catch {
    return null;
  }
}

/**
 * The lines of a log file written by `LogWriter`.
 *
 * @example
 * for await (const line of readLogFile(paths.log, { follow: true, finished })) process.stdout.write(line.log);
 */
export async function* readLogFile(file: string, opts: FollowOptions = {}): AsyncGenerator<LogLine> {
  const since = opts.since?.getTime();
  let offset = 0;
  let partial = Buffer.alloc(0);
  // With `tail`, what is already written is read whole first and only its end is returned.
  let backlog: LogLine[] | null = opts.tail !== undefined ? [] : null;
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  try {
    for (;;) {
      const chunk = await readFrom(file, offset);
      offset += chunk.length;
      // Cut at the last newline byte: a line (and any UTF-8 character) is decoded only when whole.
      const bytes = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
      const cut = bytes.lastIndexOf(NL);
      partial = Buffer.from(bytes.subarray(cut + 1));
      const lines: LogLine[] = [];
      for (const raw of cut < 0 ? [] : bytes.subarray(0, cut).toString('utf8').split('\n')) {
        const line = raw === '' ? null : parseLine(raw);
        if (line && (since === undefined || Date.parse(line.time) >= since)) lines.push(line);
      }
      if (backlog) {
        backlog.push(...lines);
        if (backlog.length > (opts.tail ?? 0)) backlog.splice(0, backlog.length - (opts.tail ?? 0));
        if (chunk.length > 0) continue;
        yield* backlog;
        backlog = null;
      } else {
        yield* lines;
      }
      if (chunk.length > 0) continue;
      if (!opts.follow || opts.signal?.aborted) return;
      if (opts.finished && (await opts.finished())) {
        // The supervisor wrote its last lines before recording the exit: one more read gets them.
        if ((await readFrom(file, offset)).length === 0) return;
        continue;
      }
      if (!watcher) {
        try {
          watcher = watch(file, () => wake?.());
          watcher.on('error', () => undefined);
        } catch {
          // no file yet, or no inotify: polling alone
        }
      }
      await Promise.race([delay(250), new Promise<void>((resolve) => (wake = resolve))]);
    }
  } finally {
    watcher?.close();
  }
}

async function readFrom(file: string, offset: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return Buffer.alloc(0);
    throw err;
  }
  try {
    const { size } = await handle.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
    const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
