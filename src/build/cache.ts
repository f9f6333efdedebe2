/**
 * @module build/cache
 * The build cache (design §8): step key → the image that step produced. Records live in the
 * meta database's `buildCache` section; each pins its image with `gcRoots`, so gc keeps the
 * step images (and their layers) as long as the record exists.
 *
 * A key is the sha256 of a canonical JSON of: the parent image (its config digest, or the
 * scratch platform), the instruction after expansion as the history shows it (which holds the
 * `|N K=v` build args in scope for RUN), the content digest of the step's inputs (COPY/ADD:
 * the context files after `.dockerignore`, sorted paths + type + mode + link target + sha256
 * of the bytes; `--from`: the source image's config digest), and what else changes the
 * result (the SOURCE_DATE_EPOCH of a reproducible build, `--chown`/`--chmod`, RUN's network).
 * File times are not in the key (docker's rule), so a `touch` does not rebuild.
 *
 * LevelDB admits one process at a time and costs ~0.09 s to import and open, so a build reads
 * through one `CacheSession`: lookups go first to `cairn/cache/build-index.json`, a copy of the
 * records written beside them (same lock, same moment), so a build where every step hits never
 * loads LevelDB (nor takes a lock); a key the copy lacks is looked up in the database, opened
 * once and closed before the first step that runs anything. New records are written at the end
 * in one more open, to both. The database is the truth (gc reads its `gcRoots`); the copy is
 * only a faster way to find a record, and a record found there whose blobs are gone is a miss.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from '../sys/crypto.js';
import type { Digest } from '../digest/index.js';
import type { Meta } from '../store/meta.js';
import type { StorePaths } from '../store/paths.js';
import type { Store } from '../store/store.js';

export const CACHE_VERSION = 1;

/** What a cache record holds. */
export interface CacheRecord {
  readonly v: typeof CACHE_VERSION;
  /** The step's image: manifest and config (image ID) digests. */
  readonly manifest: Digest;
  readonly config: Digest;
  readonly manifestSize: number;
  /** gc keeps these (store/gc reads `gcRoots` from every build-cache record). */
  readonly gcRoots: readonly Digest[];
  readonly createdBy: string;
  /** When the record was written (ISO). */
  readonly at: string;
}

/** The index copy keeps the newest records only (the database keeps them all). */
export const INDEX_LIMIT = 20_000;

function trimmed(index: ReadonlyMap<string, CacheRecord>): [string, CacheRecord][] {
  const entries = [...index];
  if (entries.length <= INDEX_LIMIT) return entries;
  return entries.sort(([, a], [, b]) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, INDEX_LIMIT);
}

/** The parts of a step key. */
export interface StepKeyParts {
  readonly parent: string;
  readonly step: string;
  readonly inputs?: string;
  readonly extra?: Readonly<Record<string, string | number | boolean | null | undefined>>;
}

/** The key of a step: sha256 of its parts as canonical JSON. */
export function stepKey(parts: StepKeyParts): string {
  const extra = Object.fromEntries(Object.entries(parts.extra ?? {}).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const text = JSON.stringify([CACHE_VERSION, parts.parent, parts.step, parts.inputs ?? null, extra]);
  return createHash('sha256').update(text).digest('hex');
}

/** `cairn/cache/build-index.json`: key → record, the copy lookups try first. */
export function indexCopyPath(paths: StorePaths): string {
  return path.join(paths.cache, 'build-index.json');
}

/** The index copy's records (none when it is missing or damaged: the database answers then). */
export async function readIndexCopy(paths: StorePaths): Promise<Map<string, CacheRecord>> {
  const out = new Map<string, CacheRecord>();
  let text: string;
  try {
    text = await readFile(indexCopyPath(paths), 'utf8');
  } catch {
    return out;
  }
  try {
    const doc = JSON.parse(text) as { v?: unknown; records?: Record<string, unknown> };
    if (doc.v !== CACHE_VERSION || typeof doc.records !== 'object' || doc.records === null) return out;
    for (const [key, value] of Object.entries(doc.records)) if (isRecord(value)) out.set(key, value);
  } catch {
    // A damaged copy is no copy.
  }
  return out;
}

/** Replaces the index copy (call under the store lock, with the database's records). */
export async function writeIndexCopy(paths: StorePaths, index: ReadonlyMap<string, CacheRecord>): Promise<void> {
  const { writeFileAtomic } = await import('../sys/atomic.js');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(paths.cache, { recursive: true });
  await writeFileAtomic(indexCopyPath(paths), `${JSON.stringify({ v: CACHE_VERSION, records: Object.fromEntries(trimmed(index)) })}\n`);
}

/** Whether a database or index-copy value is a record of this version. */
export function isRecord(value: unknown): value is CacheRecord {
  const r = value as Partial<CacheRecord> | null;
  return typeof r === 'object' && r !== null && r.v === CACHE_VERSION && typeof r.manifest === 'string' && typeof r.config === 'string';
}

/** Deletes the records under `keys`, from the database and its index copy (call under the store lock, as `withMeta` is). */
export async function removeCacheRecords(paths: StorePaths, meta: Meta, keys: readonly string[]): Promise<void> {
  for (const key of keys) await meta.buildCache.del(key);
  const copy = await readIndexCopy(paths);
  for (const key of keys) copy.delete(key);
  await writeIndexCopy(paths, copy);
}

/**
 * One build's access to the cache: lookups share one meta open, new records are written in one
 * batch by `flush`.
 */
export class CacheSession {
  readonly #store: Store;
  readonly #pending = new Map<string, CacheRecord>();
  /** The open in flight or done (undefined when closed). */
  #opening: Promise<Meta> | undefined;
  #close: (() => void) | undefined;
  #closed: Promise<unknown> | undefined;
  /** How many times the database was opened (a cached rebuild opens it once). */
  opens = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  #index: Promise<Map<string, CacheRecord>> | undefined;

  #open(): Promise<Meta> {
    if (this.#opening) return this.#opening;
    let ready!: (meta: Meta) => void;
    let failed!: (err: unknown) => void;
    this.#opening = new Promise<Meta>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    this.opens++;
    this.#closed = this.#store
      .withMeta(
        (meta) =>
          new Promise<void>((resolve) => {
            this.#close = resolve;
            ready(meta);
          }),
      )
      .catch((err: unknown) => failed(err));
    return this.#opening;
  }

  /**
   * The record for `key`: a pending one, else the index copy's, else the database's (opened
   * on the first such lookup). Undefined when there is none.
   */
  async get(key: string): Promise<CacheRecord | undefined> {
    const pending = this.#pending.get(key);
    if (pending) return pending;
    this.#index ??= readIndexCopy(this.#store.paths);
    const copied = (await this.#index).get(key);
    if (copied) return copied;
    const meta = await this.#open();
    const value = await meta.buildCache.get(key);
    return isRecord(value) ? value : undefined;
  }

  /** Queues a record; written by `flush`. */
  put(key: string, record: CacheRecord): void {
    this.#pending.set(key, record);
  }

  /** Closes the read session (the store lock is released with it), after an open in flight. */
  async release(): Promise<void> {
    const opening = this.#opening;
    if (!opening) return;
    this.#opening = undefined;
    try {
      await opening;
    } catch {
      // it never opened: nothing to close
    }
    const close = this.#close;
    const closed = this.#closed;
    this.#close = undefined;
    this.#closed = undefined;
    close?.();
    await closed;
  }

  /**
   * Writes the queued records (one database open) and their copies in the index file (under
   * the same store lock, so concurrent builds do not lose each other's entries), and ends the
   * session.
   */
  async flush(): Promise<void> {
    if (this.#pending.size === 0) return this.release();
    const meta = await this.#open();
    for (const [key, record] of this.#pending) await meta.buildCache.put(key, record);
    const index = await readIndexCopy(this.#store.paths);
    for (const [key, record] of this.#pending) index.set(key, record);
    await writeIndexCopy(this.#store.paths, index);
    this.#index = Promise.resolve(index);
    this.#pending.clear();
    await this.release();
  }
}
