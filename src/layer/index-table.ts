/**
 * @module layer/index-table
 * Decoding the layer index encoding of `./layer-index.ts`, in two depths:
 *
 * - `IndexTable.read(bytes)` scans the whole encoding once (validating it) into columns (typed
 *   arrays, one shared buffer of path bytes) without building an object or a string per entry;
 *   `entry(i)` then decodes one entry when it is wanted, and the table finds paths by binary
 *   search in the order of `comparePaths` (`sorted`, `find`, `lowerBound`). An image diff that
 *   only needs the few paths the upper layers touch reads a 6,662-entry index this way instead of
 *   decoding all of it (spec-notes/changesets.md).
 * - `decodeLayerIndex(bytes)` is every entry decoded: the same scan, then `entry(i)` for all.
 *
 * Keys: a path compares as its UTF-8 bytes with `/` taken as 0x00, which is `comparePaths`'
 * component-wise order (`a/b` before `a-b`; a directory right before its contents). Browser-safe
 * like `./layer-index.ts`.
 */
import type { Digest } from '../digest/digest.js';
import { CairnError } from '../errors.js';
import type { TarEntryType } from '../tar/entry.js';
import {
  encodeLayerIndex,
  FLAG_LINK,
  FLAG_XATTRS,
  MAGIC,
  Reader,
  TYPES,
  fromUtf8,
  paddedSize,
  toDigest,
  utf8,
  type LayerIndex,
  type LayerIndexEntry,
} from './layer-index.js';

const TYPE_FILE = TYPES.indexOf('file');
const TYPE_CHAR = TYPES.indexOf('char');
const TYPE_BLOCK = TYPES.indexOf('block');
const TYPE_DIRECTORY = TYPES.indexOf('directory');
const SLASH = 0x2f;
const DOT = 0x2e;
const W = 0x77;
const H = 0x68;

/** `nameFlags`: the path is `.`, the archive root itself. */
export const NAME_ROOT = 1;
/** `nameFlags`: the path climbs out of the root (`..`, `../x`); the applier clamps it. */
export const NAME_CLIMBS = 2;
/** `nameFlags`: the last component starts with `.wh.` (an OCI whiteout, valid or not). */
export const NAME_WHITEOUT = 4;

/** The key byte of a path byte: `/` sorts before every other byte. */
const keyByte = (b: number): number => (b === SLASH ? 0 : b);

/** The key of a path (see the module comment). */
export function pathKey(path: string): Uint8Array {
  const bytes = utf8(path);
  return keyOf(bytes, bytes.length);
}

/** The key of the first `length` bytes of a path, and one more key byte `last` when given. */
export function keyOf(bytes: Uint8Array, length: number, last?: number): Uint8Array {
  const key = new Uint8Array(last === undefined ? length : length + 1);
  for (let k = 0; k < length; k++) key[k] = keyByte(bytes[k] as number);
  if (last !== undefined) key[length] = last;
  return key;
}

/** A growable byte buffer for the paths of every entry, back to back. */
class Arena {
  buf: Uint8Array;
  len = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(Math.max(size, 1 << 12));
  }

  /** Appends `shared` bytes copied from `from`, then `length` bytes of `source` at `at`; returns the start. */
  append(from: number, shared: number, source: Uint8Array, at: number, length: number): number {
    const need = this.len + shared + length;
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    const start = this.len;
    const buf = this.buf;
    buf.copyWithin(start, from, from + shared);
    // Suffixes are short: a loop beats making a view to `set` from.
    for (let k = 0, to = start + shared; k < length; k++) buf[to + k] = source[at + k] as number;
    this.len = need;
    return start;
  }
}

/** A decoded-on-demand layer index (see the module comment). */
export class IndexTable {
  readonly diffId: Digest;
  /** Uncompressed tar size in bytes. */
  readonly size: number;
  /** Number of entries, in archive order (indexes 0 … count-1). */
  readonly count: number;
  readonly #bytes: Uint8Array;
  readonly #arena: Uint8Array;
  readonly #pathStart: Uint32Array;
  readonly #pathEnd: Uint32Array;
  /** The entry's first byte: type code and flags. */
  readonly #head: Uint8Array;
  readonly #numbers: Float64Array; // mode, uid, gid, mtime, offset, size per entry
  /** Where the entry's fields after the offset start (size, digest, devices, link, xattrs). */
  readonly #tail: Uint32Array;
  /** Bytes each path shares with the one before it in archive order (the front coding's). */
  readonly #shared: Uint32Array;
  /** Entries that sort before the entry just before them in archive order (1) or not (0). */
  readonly #outOfOrder: Uint8Array;
  /** Per entry: NAME_ROOT, NAME_CLIMBS, NAME_WHITEOUT (see `nameFlags`). */
  readonly #nameFlags: Uint8Array;
  /** Whether archive order is already key order (then `sorted` is the identity). */
  readonly #inOrder: boolean;
  #sorted: Uint32Array | undefined;

  private constructor(bytes: Uint8Array) {
    const r = new Reader(bytes);
    for (const b of MAGIC) {
      if (r.byte() !== b) throw new CairnError('invalid-document', 'layer index: bad magic or unknown version', {});
    }
    this.#bytes = r.buf;
    this.diffId = toDigest(r.bytes(32));
    this.size = r.varint();
    const count = r.varint();
    // Every entry takes at least 7 bytes: a count beyond that is damage, not a reason to allocate.
    if (count > bytes.length) r.fail('entry count beyond the data');
    this.count = count;
    // Paths take about as many bytes as the whole encoding (front coding saves what the rest costs).
    const arena = new Arena(bytes.length * 2);
    const pathStart = new Uint32Array(count);
    const pathEnd = new Uint32Array(count);
    const head = new Uint8Array(count);
    const numbers = new Float64Array(count * 6);
    const tail = new Uint32Array(count);
    const sharedBytes = new Uint32Array(count);
    const outOfOrder = new Uint8Array(count);
    const nameFlags = new Uint8Array(count);
    let prevStart = 0;
    let prevLen = 0;
    let prevMtime = 0;
    let prevEnd = 0;
    let inOrder = true;
    for (let i = 0; i < count; i++) {
      const h = r.byte();
      const code = h & 0x07;
      if (code >= TYPES.length) throw new CairnError('invalid-document', `layer index: bad entry type ${code}`, {});
      head[i] = h;
      const shared = r.varint();
      const suffixLength = r.varint();
      const suffixAt = r.pos;
      r.skip(suffixLength);
      if (shared > prevLen) throw new CairnError('invalid-document', 'layer index: bad path prefix', {});
      const start = arena.append(prevStart, shared, r.buf, suffixAt, suffixLength);
      const len = shared + suffixLength;
      // Front coding gives the order for free: the first byte after the shared prefix decides
      // (equal to, or a prefix of, the previous path: out of order too).
      if (
        i > 0 &&
        (shared === len || (shared < prevLen && keyByte(arena.buf[prevStart + shared] as number) >= keyByte(r.buf[suffixAt] as number)))
      ) {
        outOfOrder[i] = 1;
        inOrder = false;
      }
      sharedBytes[i] = shared;
      pathStart[i] = start;
      pathEnd[i] = start + len;
      // What the union's lazy lower (`src/union/lower-stack.ts`) asks of every entry, found
      // here where the path bytes are at hand rather than in another pass over all entries.
      const path = arena.buf;
      let flags = 0;
      if (path[start] === DOT && (len === 1 || path[start + 1] === DOT)) {
        if (len === 1) flags = NAME_ROOT;
        else if (len === 2 || path[start + 2] === SLASH) flags = NAME_CLIMBS;
      }
      let base = start + len;
      while (base > start && path[base - 1] !== SLASH) base--;
      if (start + len - base > 3 && path[base] === DOT && path[base + 1] === W && path[base + 2] === H && path[base + 3] === DOT) {
        flags |= NAME_WHITEOUT;
      }
      nameFlags[i] = flags;
      prevStart = start;
      prevLen = len;
      const n = i * 6;
      numbers[n] = r.varint();
      numbers[n + 1] = r.varint();
      numbers[n + 2] = r.varint();
      const mtime = prevMtime + r.zigzag();
      prevMtime = mtime;
      numbers[n + 3] = mtime;
      const offset = prevEnd + r.zigzag();
      numbers[n + 4] = offset;
      tail[i] = r.pos;
      let fileSize = 0;
      if (code === TYPE_FILE) {
        fileSize = r.varint();
        r.skip(32);
      }
      numbers[n + 5] = fileSize;
      prevEnd = offset + paddedSize(fileSize);
      if (code === TYPE_CHAR || code === TYPE_BLOCK) {
        r.varint();
        r.varint();
      }
      if (h & FLAG_LINK) r.skip(r.varint());
      if (h & FLAG_XATTRS) {
        const xattrs = r.varint();
        for (let j = 0; j < xattrs; j++) {
          r.skip(r.varint());
          r.skip(r.varint());
        }
      }
    }
    if (r.pos !== r.buf.length) throw new CairnError('invalid-document', 'layer index: trailing bytes', {});
    this.#arena = arena.buf;
    this.#pathStart = pathStart;
    this.#pathEnd = pathEnd;
    this.#head = head;
    this.#numbers = numbers;
    this.#tail = tail;
    this.#shared = sharedBytes;
    this.#outOfOrder = outOfOrder;
    this.#nameFlags = nameFlags;
    this.#inOrder = inOrder;
  }

  /**
   * Scans an encoded index (validating its structure: malformed input fails with
   * 'invalid-document'; invalid UTF-8 in a name fails when that name is decoded).
   *
   * @example
   * const table = IndexTable.read(store.layerIndexes.get(diffId) as Uint8Array);
   * const i = table.find(pathKey('etc/passwd')); // -1 when absent
   */
  static read(bytes: Uint8Array): IndexTable {
    return new IndexTable(bytes);
  }

  /** The table of a decoded index (for indexes built in memory, and tests). */
  static of(index: LayerIndex): IndexTable {
    return new IndexTable(encodeLayerIndex(index));
  }

  type(i: number): TarEntryType {
    return TYPES[(this.#head[i] as number) & 0x07] as TarEntryType;
  }

  /** Whether entry `i` is a directory (cheaper than comparing `type(i)`). */
  isDirectory(i: number): boolean {
    return ((this.#head[i] as number) & 0x07) === TYPE_DIRECTORY;
  }

  /** What entry `i`'s path is: NAME_ROOT, NAME_CLIMBS, NAME_WHITEOUT bits (0 for a plain path). */
  nameFlags(i: number): number {
    return this.#nameFlags[i] as number;
  }

  /** The path bytes of entry `i` (a view: do not keep it across tables). */
  pathBytes(i: number): Uint8Array {
    return this.#arena.subarray(this.#pathStart[i], this.#pathEnd[i]);
  }

  path(i: number): string {
    return fromUtf8(this.pathBytes(i));
  }

  /** The length of entry `i`'s path in bytes. */
  pathLength(i: number): number {
    return (this.#pathEnd[i] as number) - (this.#pathStart[i] as number);
  }

  /** Bytes `from` … `to` of entry `i`'s path, as a string (a name, say). */
  pathText(i: number, from: number, to: number): string {
    const start = this.#pathStart[i] as number;
    return fromUtf8(this.#arena.subarray(start + from, start + to));
  }

  /** Whether entry `i`'s path holds `bytes` at byte `at`. */
  hasBytesAt(i: number, bytes: Uint8Array, at: number): boolean {
    const start = (this.#pathStart[i] as number) + at;
    if (at < 0 || start + bytes.length > (this.#pathEnd[i] as number)) return false;
    for (let k = 0; k < bytes.length; k++) if (this.#arena[start + k] !== bytes[k]) return false;
    return true;
  }

  /** The position of the last `/` of entry `i`'s path, or -1. */
  lastSlash(i: number): number {
    const start = this.#pathStart[i] as number;
    for (let k = (this.#pathEnd[i] as number) - 1; k >= start; k--) if (this.#arena[k] === SLASH) return k - start;
    return -1;
  }

  /** The position of the first `/` of entry `i`'s path at or after `from` (its length if none). */
  slashFrom(i: number, from: number): number {
    const start = this.#pathStart[i] as number;
    const end = this.#pathEnd[i] as number;
    const at = this.#arena.indexOf(SLASH, start + from);
    return at === -1 || at >= end ? end - start : at - start;
  }

  /** Where entry `j`'s path is relative to entry `i`'s: the same path, below it (`i/…`), or neither. */
  relation(i: number, j: number): 'same' | 'below' | undefined {
    const arena = this.#arena;
    const si = this.#pathStart[i] as number;
    const sj = this.#pathStart[j] as number;
    const li = (this.#pathEnd[i] as number) - si;
    const lj = (this.#pathEnd[j] as number) - sj;
    if (lj < li) return undefined;
    if (j === i + 1) {
      // Neighbours in the archive: the front coding says how much they share.
      if ((this.#shared[j] as number) < li) return undefined;
    } else {
      for (let k = 0; k < li; k++) if (arena[si + k] !== arena[sj + k]) return undefined;
    }
    if (lj === li) return 'same';
    return arena[sj + li] === SLASH ? 'below' : undefined;
  }

  /** Entry `i`, decoded. Xattr values are copies. */
  entry(i: number): LayerIndexEntry {
    const n = i * 6;
    const type = this.type(i);
    const h = this.#head[i] as number;
    const out: { -readonly [K in keyof LayerIndexEntry]: LayerIndexEntry[K] } = {
      path: this.path(i),
      type,
      mode: this.#numbers[n] as number,
      uid: this.#numbers[n + 1] as number,
      gid: this.#numbers[n + 2] as number,
      mtime: this.#numbers[n + 3] as number,
      size: this.#numbers[n + 5] as number,
      offset: this.#numbers[n + 4] as number,
    };
    const r = new Reader(this.#bytes, this.#tail[i]);
    if (type === 'file') {
      r.varint();
      out.sha256 = toDigest(r.bytes(32));
    }
    if (type === 'char' || type === 'block') {
      out.devmajor = r.varint();
      out.devminor = r.varint();
    }
    if (h & FLAG_LINK) out.linkname = fromUtf8(r.lengthPrefixed());
    if (h & FLAG_XATTRS) {
      const xattrs: Record<string, Uint8Array> = {};
      const count = r.varint();
      for (let j = 0; j < count; j++) {
        const name = fromUtf8(r.lengthPrefixed());
        xattrs[name] = r.lengthPrefixed().slice();
      }
      out.xattrs = xattrs;
    }
    return out;
  }

  /** Every entry decoded: the `LayerIndex`. */
  toIndex(): LayerIndex {
    const entries: LayerIndexEntry[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) entries[i] = this.entry(i);
    return { diffId: this.diffId, size: this.size, entries };
  }

  /** Entry indexes in key order (equal paths in archive order). Computed once. */
  get sorted(): Uint32Array {
    if (this.#sorted) return this.#sorted;
    const order = new Uint32Array(this.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    // Archives are nearly always sorted, if by another rule (Go's tar writers sort by the plain
    // bytes: `a.b` before `a/c`): an entry out of place is moved where a binary search of the
    // sorted part puts it, which costs little when few are.
    if (!this.#inOrder) {
      // A local: this loop runs once per table, cold, where each private field access costs.
      const outOfOrder = this.#outOfOrder;
      for (let p = 1; p < order.length; p++) {
        const entry = p; // order[p] is still p: nothing after p has moved yet
        // In order after its archive predecessor, which is the largest so far: in place.
        if (outOfOrder[p] === 0 && order[p - 1] === p - 1) continue;
        if (this.#compareEntries(order[p - 1] as number, entry) <= 0) continue;
        // Its place is nearly always just before the few entries that came too early (after
        // `a.b`, Go's order puts all of `a/`): gallop back from the end, then bisect.
        let hi = p - 1;
        let lo = 0;
        for (let step = 1; hi - step >= 0; step *= 2) {
          const at = hi - step;
          if (this.#compareEntries(order[at] as number, entry) <= 0) {
            lo = at + 1;
            break;
          }
          hi = at;
        }
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (this.#compareEntries(order[mid] as number, entry) <= 0) lo = mid + 1;
          else hi = mid;
        }
        order.copyWithin(lo + 1, lo, p);
        order[lo] = entry;
      }
    }
    this.#sorted = order;
    return order;
  }

  #compareEntries(a: number, b: number): number {
    const arena = this.#arena;
    const sa = this.#pathStart[a] as number;
    const sb = this.#pathStart[b] as number;
    const la = (this.#pathEnd[a] as number) - sa;
    const lb = (this.#pathEnd[b] as number) - sb;
    const n = Math.min(la, lb);
    // The shared prefix first, byte for byte (no key mapping: equal bytes have equal keys).
    let k = 0;
    while (k < n && arena[sa + k] === arena[sb + k]) k++;
    if (k === n) return la - lb;
    return keyByte(arena[sa + k] as number) - keyByte(arena[sb + k] as number);
  }

  /** Compares entry `i`'s key with `key`: negative when the entry sorts first. */
  compare(i: number, key: Uint8Array): number {
    const arena = this.#arena;
    const start = this.#pathStart[i] as number;
    const len = (this.#pathEnd[i] as number) - start;
    const n = Math.min(len, key.length);
    for (let k = 0; k < n; k++) {
      const x = keyByte(arena[start + k] as number);
      const y = key[k] as number;
      if (x !== y) return x - y;
    }
    return len - key.length;
  }

  /**
   * The first position of `order` (by default `sorted`; any subsequence of it will do) in
   * `from` … `to` whose entry's key is not below `key` (`to` if none).
   */
  lowerBound(key: Uint8Array, from = 0, to?: number, order: Uint32Array = this.sorted): number {
    let lo = from;
    let hi = to ?? order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(order[mid] as number, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entry whose path has `key`, or -1 (the last in archive order when there are several). */
  find(key: Uint8Array): number {
    const order = this.sorted;
    let pos = this.lowerBound(key);
    let found = -1;
    while (pos < this.count && this.compare(order[pos] as number, key) === 0) found = order[pos++] as number;
    return found;
  }
}

/**
 * Decodes `encodeLayerIndex` output. Malformed input fails with 'invalid-document'. Xattr
 * values are copies (the input buffer may be reused by the caller).
 *
 * @example
 * const index = decodeLayerIndex(store.layerIndexes.get(diffId) as Uint8Array);
 */
export function decodeLayerIndex(bytes: Uint8Array): LayerIndex {
  return IndexTable.read(bytes).toIndex();
}
