/**
 * @module tar/read
 * Streaming tar reader: `tarEntries(stream)` yields each entry with its content as a Readable,
 * in archive order, holding at most one input chunk plus one header in memory.
 *
 * Why our own header parser and not tar-stream: layer indexes need the byte offset of every
 * entry's content in the uncompressed stream (design §3; the union view reads single files at
 * that offset). tar-stream hides the sizes of the PAX and GNU extended headers it consumes, so
 * offsets could only be guessed. The parser is small (header.ts), and owning it also lets us
 * match Go's archive/tar on the quirks real layers have (see below), which is what the images
 * we read were written and read with.
 *
 * Accepted formats: USTAR, PAX (local `x` and global `g` records), GNU (`L`/`K` long names,
 * base-256 numbers), V7, and Go <= 1.7's GNU headers that carry a USTAR prefix. Rejected with
 * 'unsupported': sparse files (GNU `S`, PAX `GNU.sparse.*`), other type flags, names that are
 * not UTF-8. Malformed input fails with 'invalid-archive' naming the input and the byte offset.
 *
 * Quirks, decided:
 * - A missing end-of-archive footer (umoci writes none, truncated tars lose it) ends the archive
 *   cleanly at a header boundary. EOF inside a header or inside content is an error.
 * - One zero block followed by a non-zero block is an error (as in Go); bytes after the footer
 *   (GNU tar's record padding) are read and ignored, so a hasher upstream sees the whole stream.
 * - Links, devices, fifos and directories never carry data: their header size is ignored, as
 *   Go's reader does, and their `size` is 0.
 * - Duplicate paths are all reported, in order; "the last one wins" is the applier's rule.
 */
import { Readable } from 'node:stream';
import { CairnError } from '../errors.js';
import { ByteSource } from './byte-source.js';
import { cleanPath, type TarEntry, type TarEntryType } from './entry.js';
import { archiveError, BLOCK, decodeHeader, isZeroBlock, padding, parsePax, type PaxRecords, type RawHeader } from './header.js';

export interface TarItem {
  entry: TarEntry;
  /**
   * The entry's content (`entry.size` bytes; empty for non-files). Read it before asking the
   * iterator for the next entry: advancing skips whatever was not read and destroys the body if
   * it had not been read to its end (a late read then fails with ERR_STREAM_PREMATURE_CLOSE).
   * Not reading it at all is fine: it is drained for you.
   */
  body: Readable;
  /**
   * The whole content in one buffer, read without the stream machinery (for a small entry a
   * stream costs more than its bytes: measured ~50 µs a file). The buffer is a view of the
   * decoder's chunk when the content lies within one, else a copy: the caller keeps it only
   * as long as it needs it. Use it instead of `body`, before asking for the next entry.
   */
  content(): Promise<Buffer>;
}

export interface ReadTarOptions {
  /** Names the input in error messages and `data.what` ("layer sha256:…", a file name). */
  what: string;
}

/** PAX/GNU extended headers larger than this are refused, as Go does (a hostile size). */
const MAX_EXTENDED = 1 << 20;

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Iterates over the entries of an uncompressed tar stream. The stream is read to its end when
 * the loop completes (so a DigestStream before it sees every byte); breaking out of the loop
 * early stops reading and releases (destroys) the input.
 *
 * @example
 * for await (const { entry, body } of tarEntries(stream, { what: 'layer.tar' })) {
 *   if (entry.type === 'file') await pipeline(body, createWriteStream(dest(entry.path)));
 * }
 */
export async function* tarEntries(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions,
): AsyncGenerator<TarItem, void, undefined> {
  const { what } = options;
  const src = new ByteSource(source);
  const globals: PaxRecords = new Map();
  let body: EntryBody | undefined;
  let completed = false;
  try {
    for (;;) {
      const entry = await readEntryHeader(src, what, globals);
      if (entry === null) break;
      const current = new EntryBody(src, entry, what);
      body = current;
      yield { entry, body: current, content: () => current.readAll() };
      await body.finish();
      body = undefined;
    }
    await src.drain();
    completed = true;
  } finally {
    if (!completed) {
      await body?.abandon();
      await src.close();
    }
  }
}

/** Calls `onEntry` for each entry in order, awaiting it; the body contract of `tarEntries` holds. */
export async function readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions & { onEntry: (entry: TarEntry, body: Readable) => void | Promise<void> },
): Promise<void> {
  for await (const { entry, body } of tarEntries(source, options)) await options.onEntry(entry, body);
}

/** The entries of a tar stream without their content. */
export async function listTar(source: AsyncIterable<Uint8Array>, options: ReadTarOptions): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  for await (const { entry } of tarEntries(source, options)) entries.push(entry);
  return entries;
}

function truncated(what: string, offset: number, inside: string): CairnError {
  return archiveError(what, offset, new Error(`unexpected end of archive inside ${inside}`));
}

/**
 * Reads header blocks up to and including the next entry's own header: extended headers are
 * folded into it, the footer returns null, and so does a clean EOF at a header boundary.
 */
async function readEntryHeader(src: ByteSource, what: string, globals: PaxRecords): Promise<TarEntry | null> {
  const headerOffset = src.position;
  let local: PaxRecords | undefined;
  let longName: Uint8Array | undefined;
  let longLink: Uint8Array | undefined;
  let extended = false;
  for (;;) {
    const at = src.position;
    const block = await src.readExact(BLOCK);
    if (block.length === 0 && !extended) return null; // no footer: the archive just ends
    if (block.length < BLOCK) throw truncated(what, at, extended ? 'an extended header' : 'a header');
    if (isZeroBlock(block)) {
      if (extended) throw archiveError(what, at, new Error('extended header not followed by an entry'));
      const second = await src.readExact(BLOCK);
      // A footer cut short is still a footer; a zero block followed by data is not.
      if (!isZeroBlock(second)) throw archiveError(what, at, new Error('zero block followed by a header'));
      return null;
    }
    let raw: RawHeader;
    try {
      raw = decodeHeader(block);
    } catch (err) {
      throw archiveError(what, at, err);
    }
    if ('xgLK'.includes(raw.typeflag)) {
      const data = await readExtended(src, raw, what, at);
      extended = true;
      try {
        if (raw.typeflag === 'x') local = new Map([...(local ?? []), ...parsePax(data)]);
        else if (raw.typeflag === 'g') for (const [k, v] of parsePax(data)) globals.set(k, v);
        else if (raw.typeflag === 'L') longName = nulTerminated(data);
        else longLink = nulTerminated(data);
      } catch (err) {
        throw archiveError(what, at, err);
      }
      continue;
    }
    return buildEntry(raw, { local, globals, longName, longLink }, { what, at, headerOffset, offset: src.position });
  }
}

async function readExtended(src: ByteSource, raw: RawHeader, what: string, at: number): Promise<Buffer> {
  if (raw.size > MAX_EXTENDED) {
    throw archiveError(what, at, new Error(`extended header of ${raw.size} bytes (limit ${MAX_EXTENDED})`));
  }
  const data = await src.readExact(raw.size);
  if (data.length < raw.size) throw truncated(what, at, 'an extended header');
  const pad = padding(raw.size);
  if ((await src.skip(pad)) < pad) throw truncated(what, at, 'an extended header');
  return data;
}

function nulTerminated(data: Buffer): Buffer {
  const nul = data.indexOf(0);
  return nul === -1 ? data : data.subarray(0, nul);
}

interface Extensions {
  local: PaxRecords | undefined;
  globals: PaxRecords;
  longName: Uint8Array | undefined;
  longLink: Uint8Array | undefined;
}

interface Where {
  what: string;
  at: number;
  headerOffset: number;
  offset: number;
}

/** PAX keys a global header may not set for every later entry (they name one member). */
const PER_ENTRY_KEYS = new Set(['path', 'linkpath', 'size']);

function buildEntry(raw: RawHeader, ext: Extensions, where: Where): TarEntry {
  const { what, at } = where;
  const fail = (message: string): CairnError => archiveError(what, at, new Error(message));
  const pax: PaxRecords = new Map();
  for (const [k, v] of ext.globals) if (!PER_ENTRY_KEYS.has(k)) pax.set(k, v);
  for (const [k, v] of ext.local ?? []) pax.set(k, v);
  for (const key of pax.keys()) {
    if (key.startsWith('GNU.sparse.')) {
      throw new CairnError('unsupported', `${what}: sparse tar entry at byte ${at} is not supported`, { what, offset: at });
    }
  }
  // POSIX: an empty value cancels the record, so the header field applies again.
  const text = (key: string): string | undefined => {
    const v = pax.get(key);
    return v === undefined || v.length === 0 ? undefined : v.toString('utf8');
  };
  const decimal = (key: string): number | undefined => {
    const v = text(key);
    if (v === undefined) return undefined;
    if (!/^[0-9]{1,16}$/.test(v) || Number(v) > Number.MAX_SAFE_INTEGER) throw fail(`bad PAX ${key} "${v}"`);
    return Number(v);
  };

  const rawName = pax.get('path')?.length ? (pax.get('path') as Buffer) : (ext.longName ?? joinPrefix(raw));
  const name = decodeName(rawName, what, at);
  const type = entryType(raw.typeflag, name, what, at);
  const entry: TarEntry = {
    path: cleanPath(name),
    type,
    mode: raw.mode & 0o7777,
    uid: decimal('uid') ?? raw.uid,
    gid: decimal('gid') ?? raw.gid,
    mtime: new Date(paxTime(text('mtime'), fail) ?? raw.mtime * 1000),
    size: type === 'file' ? (decimal('size') ?? raw.size) : 0,
    xattrs: xattrsOf(pax),
    offset: where.offset,
    headerOffset: where.headerOffset,
  };
  if (entry.uid < 0 || entry.gid < 0 || entry.size < 0) throw fail('negative uid, gid or size');
  const uname = text('uname') ?? Buffer.from(raw.uname).toString('utf8');
  const gname = text('gname') ?? Buffer.from(raw.gname).toString('utf8');
  if (uname !== '') entry.uname = uname;
  if (gname !== '') entry.gname = gname;
  if (type === 'symlink' || type === 'hardlink') {
    const rawLink = pax.get('linkpath')?.length ? (pax.get('linkpath') as Buffer) : (ext.longLink ?? raw.linkname);
    const link = decodeName(rawLink, what, at);
    entry.linkname = type === 'hardlink' ? cleanPath(link) : link;
  }
  if (type === 'char' || type === 'block') {
    entry.devmajor = raw.devmajor;
    entry.devminor = raw.devminor;
  }
  return entry;
}

function joinPrefix(raw: RawHeader): Uint8Array {
  if (raw.prefix.length === 0) return raw.name;
  return Buffer.concat([raw.prefix, Buffer.from('/'), raw.name]);
}

function decodeName(bytes: Uint8Array, what: string, at: number): string {
  try {
    const name = UTF8.decode(bytes);
    if (name.includes('\0')) throw new Error('NUL in name');
    return name;
  } catch {
    throw new CairnError(
      'unsupported',
      `${what}: entry name at byte ${at} is not valid UTF-8 (non-UTF-8 names are not supported)`,
      { what, offset: at },
    );
  }
}

function entryType(flag: string, name: string, what: string, at: number): TarEntryType {
  switch (flag) {
    case '0':
    case '7': // contiguous file: a regular file everywhere that matters
      return 'file';
    case '\0': // V7 regular file; a trailing slash made it a directory before typeflag '5'
      return name.endsWith('/') ? 'directory' : 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    case 'S':
      throw new CairnError('unsupported', `${what}: sparse tar entry at byte ${at} is not supported`, { what, offset: at });
    default:
      throw new CairnError(
        'unsupported',
        `${what}: tar entry type ${JSON.stringify(flag)} at byte ${at} is not supported`,
        { what, offset: at, typeflag: flag },
      );
  }
}

/** PAX `mtime`: decimal seconds with an optional fraction, possibly negative → milliseconds. */
function paxTime(value: string | undefined, fail: (m: string) => Error): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(-?)([0-9]{1,15})(?:\.([0-9]*))?$/.exec(value);
  if (m === null) throw fail(`bad PAX mtime "${value}"`);
  const ms = Number(m[2]) * 1000 + Number((m[3] ?? '').slice(0, 3).padEnd(3, '0'));
  return m[1] === '-' ? -ms : ms;
}

/** `SCHILY.xattr.<name>=<bytes>` (GNU tar, Go); bsdtar's `LIBARCHIVE.xattr.<%-name>=<base64>` too. */
function xattrsOf(pax: PaxRecords): Record<string, Buffer> {
  const xattrs: Record<string, Buffer> = {};
  for (const [key, value] of pax) {
    if (key.startsWith('LIBARCHIVE.xattr.')) {
      let name: string;
      try {
        name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      } catch {
        continue; // a name we cannot decode is not worth failing the layer for
      }
      xattrs[name] ??= Buffer.from(value.toString('latin1'), 'base64');
    }
  }
  // SCHILY wins over LIBARCHIVE when both are present (bsdtar writes both, SCHILY is exact).
  for (const [key, value] of pax) {
    if (key.startsWith('SCHILY.xattr.')) xattrs[key.slice('SCHILY.xattr.'.length)] = Buffer.from(value);
  }
  return xattrs;
}

/**
 * The content of one entry, pulled from the shared ByteSource on demand. Only one party reads
 * the source at a time: the body while the consumer holds it, then `finish()`.
 */
class EntryBody extends Readable {
  #src: ByteSource;
  #remaining: number;
  #size: number;
  #what: string;
  #offset: number;
  #inflight: Promise<void> | undefined;
  #closing = false;

  constructor(src: ByteSource, entry: TarEntry, what: string) {
    super();
    this.#src = src;
    this.#size = entry.size;
    this.#remaining = entry.size;
    this.#what = what;
    this.#offset = entry.offset;
    if (entry.size === 0) this.push(null);
  }

  override _read(hint: number): void {
    if (this.#closing || this.#remaining === 0) return;
    this.#inflight = this.#pump(hint);
  }

  async #pump(hint: number): Promise<void> {
    try {
      const chunk = await this.#src.readSome(Math.min(this.#remaining, Math.max(hint, 64 * 1024)));
      if (chunk.length === 0) throw truncated(this.#what, this.#offset, 'entry content');
      this.#remaining -= chunk.length;
      this.push(chunk);
      if (this.#remaining === 0) this.push(null);
    } catch (err) {
      this.destroy(archiveError(this.#what, this.#offset, err));
    }
  }

  /** All of the content at once, straight from the source (see `TarItem.content`). */
  async readAll(): Promise<Buffer> {
    if (this.#inflight !== undefined || this.#remaining !== this.#size) {
      throw new Error(`${this.#what}: the content of the entry at byte ${this.#offset} is already being read as a stream`);
    }
    if (this.#size === 0) return Buffer.alloc(0);
    const data = await this.#src.readExact(this.#size);
    this.#remaining -= data.length;
    if (this.#remaining > 0) throw truncated(this.#what, this.#offset, 'entry content');
    this.push(null);
    return data;
  }

  /** Skips what the consumer did not read, and the padding; the source is then at a header. */
  async finish(): Promise<void> {
    this.#closing = true;
    await this.#inflight;
    if (this.#remaining > 0) {
      if (!this.destroyed) this.destroy();
      this.#remaining -= await this.#src.skip(this.#remaining);
      if (this.#remaining > 0) throw truncated(this.#what, this.#offset, 'entry content');
    }
    // Padding cut off at the very end of the input loses nothing: accept it like a missing footer.
    await this.#src.skip(padding(this.#size));
  }

  /** The iteration ended early (break or error): stop reading for good. */
  async abandon(): Promise<void> {
    this.#closing = true;
    await this.#inflight;
    if (this.#remaining > 0 && !this.destroyed) this.destroy();
  }
}
