/**
 * @module tar/write
 * Deterministic tar writer: the same entries and contents in, the same bytes out, on any host.
 *
 * Every header is a USTAR block ("ustar\0" "00") with numeric owners only (uname/gname empty)
 * and no atime/ctime. A PAX `x` header precedes an entry only when a field needs it:
 * `path`/`linkpath` (longer than 100 bytes or not ASCII), `uid`/`gid` (> 0o7777777), `size`
 * (> 8 GiB - 1), `mtime` (a millisecond fraction, or before 1970), `SCHILY.xattr.<name>` (raw
 * bytes). Records are sorted by key (byte order), as Go's writer does; the `x` header itself is
 * named `<dir>/PaxHeaders.0/<base>` (Go's rule: GNU tar's `%p` puts a PID there) with mode 0644,
 * owner 0:0, mtime 0. Directories are named with a trailing `/`; the root `.` is written `./`.
 * The archive ends with two zero blocks and no padding to a 10 KiB record (Go's and
 * containerd's output; GNU tar pads). Entry order is the caller's: `sortEntries` gives the
 * canonical one. The option `clampMtime` is SOURCE_DATE_EPOCH: mtime = min(mtime, clamp).
 *
 * The writer produces a Readable; `add` awaits the consumer (backpressure), so memory does not
 * grow with the content size. A small archive whose bodies are all in memory can be had as bytes
 * instead (`packTarSmall`, `tarBytes`): the same bytes, without a stream's machinery, which costs
 * more than an archive of a few files.
 */
import { Readable } from 'node:stream';
import { CairnError } from '../errors.js';
import { cleanPath, type TarEntryInit } from './entry.js';
import { BLOCK, encodeHeader, encodePax, encodePaxHeader, OCTAL_MAX, padding } from './header.js';

export interface TarWriterOptions {
  /** SOURCE_DATE_EPOCH: entries newer than this are written with this mtime. */
  clampMtime?: Date;
}

/** Content of a file entry: bytes in memory, or a stream of exactly `entry.size` bytes. */
export type TarBody = Readable | AsyncIterable<Uint8Array> | Uint8Array;

export interface TarWriter {
  /** The archive bytes. Read it while adding: `add` waits for the reader. */
  readonly stream: Readable;
  /**
   * Appends one entry. Calls are queued in order; each resolves once its bytes were handed to
   * `stream`. A file body must have exactly `entry.size` bytes ('size-mismatch' otherwise).
   * After any failure the writer is broken: `stream` is destroyed with the error and every later
   * call rejects with it.
   */
  add(entry: TarEntryInit, body?: TarBody): Promise<void>;
  /** Writes the footer and ends `stream`. */
  finish(): Promise<void>;
}

const FOOTER = Buffer.alloc(2 * BLOCK);
const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6' } as const;
const DEFAULT_MODE = { file: 0o644, hardlink: 0o644, symlink: 0o777, char: 0o644, block: 0o644, directory: 0o755, fifo: 0o644 };

/**
 * @example
 * const tar = createTarWriter({ clampMtime: new Date(0) });
 * const done = pipeline(tar.stream, createWriteStream('out.tar'));
 * await tar.add({ path: 'etc', type: 'directory' });
 * await tar.add({ path: 'etc/hostname', type: 'file' }, Buffer.from('cairn\n'));
 * await tar.finish();
 * await done;
 */
export function createTarWriter(options: TarWriterOptions = {}): TarWriter {
  return new Writer(options);
}

/** One entry of an archive and, for a file, its content. */
export interface TarInput {
  readonly entry: TarEntryInit;
  readonly body?: TarBody;
}

/** Writes a whole sequence of entries; errors destroy the returned stream. */
export function packTar(items: Iterable<TarInput> | AsyncIterable<TarInput>, options: TarWriterOptions = {}): Readable {
  const writer = createTarWriter(options);
  void (async () => {
    for await (const { entry, body } of items) await writer.add(entry, body);
    await writer.finish();
  })().catch((err: unknown) => {
    if (!writer.stream.destroyed) writer.stream.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return writer.stream;
}

class Writer implements TarWriter {
  readonly stream: Readable;
  #clamp: number | undefined;
  #queue: Promise<void> = Promise.resolve();
  #wakeReader: (() => void) | undefined;
  #failure: Error | undefined;
  #finished = false;

  constructor(options: TarWriterOptions) {
    this.#clamp = options.clampMtime?.getTime();
    this.stream = new Readable({
      read: () => this.#wake(),
      destroy: (err, cb) => {
        // Also called after a normal end (autoDestroy): no error then, and none built (an Error's
        // stack trace costs a small commit a good part of a millisecond).
        this.#failure ??= err ?? (this.#finished ? undefined : new CairnError('conflict', 'tar writer: output stream was closed before the archive ended'));
        this.#wake();
        cb(err);
      },
    });
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  async #push(chunk: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (chunk.length === 0) return;
    if (!this.stream.push(chunk)) await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    if (this.#failure) throw this.#failure;
  }

  add(entry: TarEntryInit, body?: TarBody): Promise<void> {
    return this.#enqueue(() => this.#add(entry, body));
  }

  finish(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#push(FOOTER);
      this.#finished = true;
      this.stream.push(null);
    });
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#failure) throw this.#failure;
      if (this.#finished) throw new CairnError('conflict', 'tar writer: add() or finish() after finish()');
      try {
        await step();
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (!this.#failure) {
          this.#failure = error;
          this.stream.destroy(error);
        }
        throw error;
      }
    });
    // The queue itself must never reject, or one failure would surface as unhandled twice.
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #add(init: TarEntryInit, body: TarBody | undefined): Promise<void> {
    const h = prepare(init, body, this.#clamp);
    for (const block of headerBlocks(h)) await this.#push(block);
    if (h.fields.typeflag === '0') await this.#body(h.name, h.size, body);
  }

  async #body(name: string, size: number, body: TarBody | undefined): Promise<void> {
    if (body === undefined || body instanceof Uint8Array) {
      checkBodySize(name, size, body);
      if (body) await this.#push(body);
    } else {
      let written = 0;
      try {
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
          written += chunk.length;
          if (written > size) throw mismatch(name, size);
          await this.#push(chunk);
        }
      } finally {
        if (body instanceof Readable && !body.readableEnded && !body.destroyed) body.destroy();
      }
      if (written !== size) throw mismatch(name, size);
    }
    await this.#push(Buffer.alloc(padding(size)));
  }
}

/**
 * The archive of `items` as bytes when it is small: bodies all in memory and, with one header
 * block per entry, at most `limit` bytes. Otherwise the `packTar` stream of all of them (the
 * entries read so far included). The same bytes either way.
 *
 * @example
 * const tar = await packTarSmall(walkedItems, 256 * 1024);
 * if (tar instanceof Uint8Array) console.log(`${tar.length} bytes`);
 */
export async function packTarSmall(items: Iterable<TarInput> | AsyncIterable<TarInput>, limit: number, options: TarWriterOptions = {}): Promise<Uint8Array | Readable> {
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  const held: InMemoryTarInput[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done === true) return tarBytes(held, options);
    const item = next.value;
    if (inMemory(item)) {
      held.push(item);
      size += BLOCK + (item.body?.length ?? 0);
      if (size <= limit) continue;
    }
    const readSoFar: TarInput[] = inMemory(item) ? held : [...held, item];
    async function* all(): AsyncGenerator<TarInput> {
      yield* readSoFar;
      for (let more = await iterator.next(); more.done !== true; more = await iterator.next()) yield more.value;
    }
    return packTar(all(), options);
  }
}

/** An item whose body (if any) is in memory. */
export interface InMemoryTarInput extends TarInput {
  readonly body?: Uint8Array;
}

function inMemory(item: TarInput): item is InMemoryTarInput {
  return item.body === undefined || item.body instanceof Uint8Array;
}

/**
 * A whole archive built in memory, in one call: the bytes `packTar` streams for the same items.
 * For small archives; a body must have exactly its entry's size.
 */
export function tarBytes(items: Iterable<InMemoryTarInput>, options: TarWriterOptions = {}): Buffer {
  const clamp = options.clampMtime?.getTime();
  const blocks: Uint8Array[] = [];
  for (const { entry, body } of items) {
    const h = prepare(entry, body, clamp);
    blocks.push(...headerBlocks(h));
    if (h.fields.typeflag !== '0') continue;
    checkBodySize(h.name, h.size, body);
    if (body) blocks.push(body);
    blocks.push(Buffer.alloc(padding(h.size)));
  }
  blocks.push(FOOTER);
  return Buffer.concat(blocks);
}

function mismatch(name: string, size: number): CairnError {
  return new CairnError('size-mismatch', `tar writer: ${name}: body is not ${size} bytes`, { path: name, size });
}

/** An in-memory body (or none) must be the entry's size. */
function checkBodySize(name: string, size: number, body: Uint8Array | undefined): void {
  if ((body?.length ?? 0) !== size) throw mismatch(name, size);
}

/** An entry's header block, after its PAX `x` header and records when it needs them. */
function headerBlocks(h: Prepared): Uint8Array[] {
  const header = encodeHeader(h.fields);
  if (h.pax.length === 0) return [header];
  const records = encodePax(h.pax);
  const paxHeader = encodePaxHeader(asciiField(paxHeaderName(h.name), 100), records.length);
  return [paxHeader, records, Buffer.alloc(padding(records.length)), header];
}

type PaxRecord = readonly [string, Uint8Array | string];

interface Prepared {
  name: string;
  size: number;
  fields: Parameters<typeof encodeHeader>[0];
  pax: PaxRecord[];
}

function invalid(message: string, data: Record<string, unknown>): CairnError {
  return new CairnError('invalid-argument', `tar writer: ${message}`, data);
}

function isUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** Validates an entry and decides every header field and PAX record, before any byte is written. */
function prepare(init: TarEntryInit, body: TarBody | undefined, clamp: number | undefined): Prepared {
  const { type } = init;
  const typeflag = TYPEFLAG[type];
  if (typeflag === undefined) throw invalid(`unknown entry type ${String(type)}`, { type });
  if (typeof init.path !== 'string' || init.path === '' || init.path.includes('\0')) {
    throw invalid(`bad entry path ${JSON.stringify(init.path)}`, { path: init.path });
  }
  const path = cleanPath(init.path);
  const name = path === '.' ? './' : type === 'directory' ? `${path}/` : path;
  const pax: PaxRecord[] = [];

  const mode = init.mode ?? DEFAULT_MODE[type];
  if (!isUint(mode) || mode > 0o7777) throw invalid(`${path}: mode ${mode} is not within 0o7777`, { path, mode });
  const ids = { uid: init.uid ?? 0, gid: init.gid ?? 0 };
  for (const [key, value] of Object.entries(ids)) {
    if (!isUint(value)) throw invalid(`${path}: ${key} ${value} is not a non-negative integer`, { path, [key]: value });
    if (value > OCTAL_MAX.id) pax.push([key, String(value)]);
  }

  let size = 0;
  if (type === 'file') {
    const bodySize = body instanceof Uint8Array ? body.length : undefined;
    size = init.size ?? bodySize ?? (body === undefined ? 0 : -1);
    if (!isUint(size)) throw invalid(`${path}: a streamed body needs entry.size`, { path });
    if (bodySize !== undefined && bodySize !== size) {
      throw new CairnError('size-mismatch', `tar writer: ${path}: body is ${bodySize} bytes, entry says ${size}`, {
        path,
        size,
      });
    }
    if (size > OCTAL_MAX.size) pax.push(['size', String(size)]);
  } else if ((init.size ?? 0) !== 0 || body !== undefined) {
    throw invalid(`${path}: a ${type} entry has no content`, { path, size: init.size });
  }

  let mtime = init.mtime === undefined ? 0 : typeof init.mtime === 'number' ? init.mtime : init.mtime.getTime();
  if (!Number.isSafeInteger(mtime)) throw invalid(`${path}: bad mtime`, { path });
  if (clamp !== undefined && mtime > clamp) mtime = clamp;
  const seconds = Math.floor(mtime / 1000);
  if (mtime % 1000 !== 0 || seconds < 0 || seconds > OCTAL_MAX.mtime) pax.push(['mtime', paxTime(mtime)]);

  let linkname = '';
  if (type === 'symlink' || type === 'hardlink') {
    if (typeof init.linkname !== 'string' || init.linkname.includes('\0')) {
      throw invalid(`${path}: a ${type} needs a linkname`, { path });
    }
    linkname = type === 'hardlink' ? cleanPath(init.linkname) : init.linkname;
    if (type === 'hardlink' && linkname === '.') throw invalid(`${path}: a hardlink needs a target entry`, { path });
  } else if (init.linkname !== undefined && init.linkname !== '') {
    throw invalid(`${path}: a ${type} has no linkname`, { path });
  }

  const devmajor = type === 'char' || type === 'block' ? (init.devmajor ?? 0) : 0;
  const devminor = type === 'char' || type === 'block' ? (init.devminor ?? 0) : 0;
  if (!isUint(devmajor) || !isUint(devminor) || devmajor > OCTAL_MAX.dev || devminor > OCTAL_MAX.dev) {
    throw invalid(`${path}: device numbers ${devmajor},${devminor} out of range`, { path });
  }

  const nameField = fitsField(name, 100);
  if (nameField === undefined) pax.push(['path', name]);
  const linkField = fitsField(linkname, 100);
  if (linkField === undefined) pax.push(['linkpath', linkname]);

  for (const [xname, value] of Object.entries(init.xattrs ?? {})) {
    if (xname === '' || xname.includes('=') || xname.includes('\0')) {
      throw invalid(`${path}: bad xattr name ${JSON.stringify(xname)}`, { path, xattr: xname });
    }
    pax.push([`SCHILY.xattr.${xname}`, value]);
  }
  pax.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));

  return {
    name: path,
    size,
    pax,
    fields: {
      name: nameField ?? asciiField(name, 100),
      mode,
      uid: ids.uid > OCTAL_MAX.id ? 0 : ids.uid,
      gid: ids.gid > OCTAL_MAX.id ? 0 : ids.gid,
      size: size > OCTAL_MAX.size ? 0 : size,
      mtime: seconds < 0 ? 0 : Math.min(seconds, OCTAL_MAX.mtime),
      typeflag,
      linkname: linkField ?? asciiField(linkname, 100),
      devmajor,
      devminor,
    },
  };
}

/** The bytes of `value` when it is ASCII and fits `width`; undefined when PAX must carry it. */
function fitsField(value: string, width: number): Buffer | undefined {
  if (value.length > width || !/^[\x01-\x7f]*$/.test(value)) return undefined;
  return Buffer.from(value, 'latin1');
}

/** A stand-in for readers that ignore PAX: the ASCII characters of `value`, cut to `width`. */
function asciiField(value: string, width: number): Buffer {
  return Buffer.from(value.replace(/[^\x01-\x7f]/g, '').slice(0, width), 'latin1');
}

function paxHeaderName(name: string): string {
  const trimmed = name.endsWith('/') ? name.slice(0, -1) : name;
  const slash = trimmed.lastIndexOf('/');
  const dir = slash === -1 ? '' : trimmed.slice(0, slash + 1);
  const base = slash === -1 ? trimmed : trimmed.slice(slash + 1);
  return `${dir}PaxHeaders.0/${base}`;
}

/** Milliseconds → PAX decimal seconds, shortest exact form: 1700000000.5, -1.25, 12. */
function paxTime(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  const frac = String(abs % 1000).padStart(3, '0').replace(/0+$/, '');
  return `${sign}${Math.floor(abs / 1000)}${frac === '' ? '' : `.${frac}`}`;
}
