/**
 * @module layer/layer-index
 * The layer index (design §3): the ordered list of a layer's tar entries with their metadata,
 * content sha256 and content offset in the uncompressed tar, and its compact binary encoding
 * (stored as one file per diffID: `src/store/layer-indexes.ts`) and JSON form (for `--json` output and debugging). The
 * decoder is `./index-table.ts` (`decodeLayerIndex`, and `IndexTable` for lookups without
 * decoding every entry).
 *
 * Browser-safe: no Node imports (only Uint8Array, DataView, TextEncoder/TextDecoder), so the
 * inspection core can decode indexes in a browser. Building an index needs a stream of the
 * layer and a hasher: see `./index-build.ts`.
 *
 * Encoding (version 1), all integers unsigned LEB128 varints unless said otherwise:
 * ```
 * "CLX" 0x01                      magic + version
 * diffID                          32 raw bytes (sha256)
 * size, count                     uncompressed tar size, number of entries
 * per entry:
 *   u8 type | flags               low 3 bits: type code; 0x08 linkname, 0x10 xattrs
 *   shared, suffixLen, suffix     path front-coded against the previous path (UTF-8 bytes)
 *   mode, uid, gid
 *   zigzag(mtime - previous mtime)   milliseconds
 *   zigzag(offset - previous end)    previous end = previous offset + size rounded up to 512
 *   file:  size, 32 raw bytes sha256
 *   char/block: devmajor, devminor
 *   linkname (0x08): len, UTF-8 bytes
 *   xattrs (0x10): count, then (nameLen, name, valueLen, value) each
 * ```
 * Front coding, deltas and raw digests keep it near 60 bytes an entry, of which the 32-byte
 * sha256 is most: measured numbers are in spec-notes/layer-index-and-union.md.
 */
import { digestHex, isDigest, type Digest } from '../digest/digest.js';
import { CairnError } from '../errors.js';
import type { TarEntryType } from '../tar/entry.js';
import { metadataFromJSON, metadataToJSON, type EntryMetadata, type EntryMetadataJSON } from './entry-meta.js';

/** One tar entry of a layer, as the index keeps it. */
export interface LayerIndexEntry extends EntryMetadata<TarEntryType> {
  /** Cleaned, relative path (`tar/entry.ts` rules); whiteouts (`.wh.*`) are kept as they are. */
  readonly path: string;
  /** sha256 of the content, for files. */
  readonly sha256?: Digest;
  /** Byte offset of the content in the uncompressed tar. */
  readonly offset: number;
}

export interface LayerIndex {
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
  /** Uncompressed tar size in bytes. */
  readonly size: number;
  /** In archive order, duplicates included ("the last one wins" is the applier's rule). */
  readonly entries: readonly LayerIndexEntry[];
}

/** The JSON form: xattr values in base64, mtime as an ISO string. */
export interface LayerIndexJSON {
  readonly diffId: string;
  readonly size: number;
  readonly entries: readonly LayerIndexEntryJSON[];
}

export interface LayerIndexEntryJSON extends EntryMetadataJSON<TarEntryType> {
  readonly path: string;
  readonly sha256?: string;
  readonly offset: number;
}

// The encoding's constants and string helpers are shared with the decoder (`./index-table.ts`).
export const MAGIC = [0x43, 0x4c, 0x58, 0x01]; // "CLX" v1
/** Type codes: the position in this list. */
export const TYPES: readonly TarEntryType[] = ['file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo'];
export const FLAG_LINK = 0x08;
export const FLAG_XATTRS = 0x10;
const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });

/** Tar content is padded to 512-byte blocks. */
export function paddedSize(size: number): number {
  return Math.ceil(size / 512) * 512;
}

class Writer {
  #buf = new Uint8Array(1 << 16);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }

  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
    this.#reserve(8);
    let n = value;
    while (n >= 0x80) {
      this.#buf[this.#len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#len++] = n;
  }

  zigzag(value: number): void {
    this.varint(value < 0 ? -value * 2 - 1 : value * 2);
  }

  bytes(data: Uint8Array): void {
    this.#reserve(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
  }

  lengthPrefixed(data: Uint8Array): void {
    this.varint(data.length);
    this.bytes(data);
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** Reads the encoding's primitives; malformed input fails with 'invalid-document'. */
export class Reader {
  pos = 0;
  readonly buf: Uint8Array;

  constructor(buf: Uint8Array, pos = 0) {
    // A plain view: element access and `subarray` on a Node Buffer cost more, cold.
    this.buf = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
  }

  fail(why: string): never {
    throw new CairnError('invalid-document', `layer index: ${why} at byte ${this.pos}`, { offset: this.pos });
  }

  byte(): number {
    if (this.pos >= this.buf.length) this.fail('unexpected end');
    return this.buf[this.pos++] as number;
  }

  varint(): number {
    const b = this.buf[this.pos];
    if (b !== undefined && b < 0x80) {
      this.pos++;
      return b; // most fields fit in one byte
    }
    return this.#longVarint();
  }

  #longVarint(): number {
    // Locals, not `this.byte()` per byte: a layer's scan reads tens of thousands of these while
    // its code is still cold, where every call and field access counts.
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos];
      if (b === undefined) {
        this.pos = pos;
        this.fail('unexpected end');
      }
      pos++;
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 56) {
        this.pos = pos;
        this.fail('varint too long');
      }
    }
    this.pos = pos;
    if (!Number.isSafeInteger(value)) this.fail('integer out of range');
    return value;
  }

  zigzag(): number {
    const v = this.varint();
    return v % 2 === 1 ? -(v + 1) / 2 : v / 2;
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) this.fail('unexpected end');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    if (this.pos + n > this.buf.length) this.fail('unexpected end');
    this.pos += n;
  }

  lengthPrefixed(): Uint8Array {
    return this.bytes(this.varint());
  }
}

function hexValue(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57; // '0'-'9', 'a'-'f' (digests are lowercase)
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = hexValue(hex.charCodeAt(2 * i)) * 16 + hexValue(hex.charCodeAt(2 * i + 1));
  return out;
}

/** UTF-8 bytes of a string; plain ASCII (nearly every path) without TextEncoder's per-call cost. */
export function utf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return UTF8_ENCODER.encode(text);
    out[i] = c;
  }
  return out;
}

/** The string of UTF-8 bytes (fatal on invalid UTF-8), ASCII without TextDecoder. */
export function fromUtf8(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] as number) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii || bytes.length > 4096) return UTF8_DECODER.decode(bytes);
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b];
  return s;
}

function sha256Bytes(digest: Digest, what: string): Uint8Array {
  if (!digest.startsWith('sha256:')) {
    throw new CairnError('unsupported', `layer index: ${what} is not a sha256 digest`, { digest });
  }
  return hexToBytes(digestHex(digest));
}

export function toDigest(bytes: Uint8Array): Digest {
  return `sha256:${bytesToHex(bytes)}` as Digest;
}

function sharedPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * The compact binary form of an index (see the module comment).
 *
 * @example
 * await store.layerIndexes.put(index.diffId, encodeLayerIndex(index));
 */
export function encodeLayerIndex(index: LayerIndex): Uint8Array {
  const w = new Writer();
  for (const b of MAGIC) w.byte(b);
  w.bytes(sha256Bytes(index.diffId, 'the diffID'));
  w.varint(index.size);
  w.varint(index.entries.length);
  let prevPath: Uint8Array = new Uint8Array(0);
  let prevMtime = 0;
  let prevEnd = 0;
  for (const e of index.entries) {
    const code = TYPES.indexOf(e.type);
    if (code < 0) throw new RangeError(`unknown entry type ${String(e.type)}`);
    const xattrNames = e.xattrs ? Object.keys(e.xattrs) : [];
    w.byte(code | (e.linkname !== undefined ? FLAG_LINK : 0) | (xattrNames.length > 0 ? FLAG_XATTRS : 0));
    const path = utf8(e.path);
    const shared = sharedPrefix(prevPath, path);
    w.varint(shared);
    w.lengthPrefixed(path.subarray(shared));
    prevPath = path;
    w.varint(e.mode);
    w.varint(e.uid);
    w.varint(e.gid);
    w.zigzag(e.mtime - prevMtime);
    prevMtime = e.mtime;
    w.zigzag(e.offset - prevEnd);
    prevEnd = e.offset + paddedSize(e.size);
    if (e.type === 'file') {
      w.varint(e.size);
      if (e.sha256 === undefined) throw new RangeError(`file ${e.path} has no sha256`);
      w.bytes(sha256Bytes(e.sha256, `the content digest of ${e.path}`));
    }
    if (e.type === 'char' || e.type === 'block') {
      w.varint(e.devmajor ?? 0);
      w.varint(e.devminor ?? 0);
    }
    if (e.linkname !== undefined) w.lengthPrefixed(utf8(e.linkname));
    if (xattrNames.length > 0) {
      w.varint(xattrNames.length);
      for (const name of xattrNames) {
        w.lengthPrefixed(utf8(name));
        w.lengthPrefixed(e.xattrs?.[name] ?? new Uint8Array(0));
      }
    }
  }
  return w.result();
}

/** The JSON form (xattrs base64, mtime ISO 8601). */
export function layerIndexToJSON(index: LayerIndex): LayerIndexJSON {
  return {
    diffId: index.diffId,
    size: index.size,
    entries: index.entries.map((e) => ({
      path: e.path,
      ...metadataToJSON(e),
      ...(e.sha256 !== undefined ? { sha256: e.sha256 } : {}),
      offset: e.offset,
    })),
  };
}

/** Parses the JSON form back (validating digests). */
export function layerIndexFromJSON(json: LayerIndexJSON): LayerIndex {
  const digest = (value: string, what: string): Digest => {
    if (!isDigest(value)) throw new CairnError('invalid-document', `layer index: ${what} is not a digest`, { value });
    return value;
  };
  return {
    diffId: digest(json.diffId, 'diffId'),
    size: json.size,
    entries: json.entries.map((e) => ({
      path: e.path,
      ...metadataFromJSON(e),
      ...(e.sha256 !== undefined ? { sha256: digest(e.sha256, `sha256 of ${e.path}`) } : {}),
      offset: e.offset,
    })),
  };
}
