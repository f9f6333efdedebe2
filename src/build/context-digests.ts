/**
 * @module build/context-digests
 * Content digests of a context directory's files, remembered between builds, so a rebuild
 * does not read every unchanged file again to compute its cache keys (git's index does the
 * same for `git status`). An entry is keyed by the file's path and its stat identity:
 * device, inode, size, and mtime and ctime in nanoseconds. Any write to a file changes its
 * ctime (and a `touch -m`/`utimes` that restores the mtime changes it too), so a changed file
 * never matches its old entry.
 *
 * Racy entries: a file written in the same clock tick as it was hashed could change again
 * without its ctime moving. As git does with "racily clean" entries, a digest is trusted only
 * when the file's ctime is older than the moment its hashing started by `RACY_MARGIN_MS`;
 * otherwise it is hashed again (and re-recorded, so the next build trusts it).
 *
 * One JSON file per context directory under `cairn/cache/build-digests/`, read once per build
 * and replaced (atomically) after it when something was hashed; concurrent builds of one
 * context may lose each other's new entries, never correctness.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from '../sys/crypto.js';

export const DIGESTS_VERSION = 1;
/** Coarse kernel clocks tick every 1-10 ms; a second of margin leaves room for clock steps. */
export const RACY_MARGIN_MS = 1000;
/** Beyond this many entries, a save keeps only those this build used. */
export const DIGESTS_LIMIT = 200_000;

/** A file's stat identity: `dev:ino:size:mtimeNs:ctimeNs` and ctime in ms (for the racy check). */
export interface FileIdentity {
  readonly key: string;
  readonly ctimeMs: number;
}

/** Reads and hashes the file: its sha256 in hex. */
export type FileHasher = () => Promise<string>;

interface Entry {
  readonly key: string;
  readonly sha256: string;
  /** Wall-clock ms when its hashing started. */
  readonly hashedAt: number;
}

type EntryTuple = [key: string, sha256: string, hashedAt: number];

async function readEntries(file: string, root: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  try {
    const doc = JSON.parse(await readFile(file, 'utf8')) as { v?: unknown; root?: unknown; files?: Record<string, EntryTuple> };
    if (doc.v === DIGESTS_VERSION && doc.root === root && typeof doc.files === 'object' && doc.files !== null) {
      for (const [rel, t] of Object.entries(doc.files)) {
        if (Array.isArray(t) && typeof t[0] === 'string' && typeof t[1] === 'string' && typeof t[2] === 'number') entries.set(rel, { key: t[0], sha256: t[1], hashedAt: t[2] });
      }
    }
  } catch {
    // Missing or damaged: everything is hashed again.
  }
  return entries;
}

export class ContextDigests {
  readonly #file: string | undefined;
  readonly #root: string;
  readonly #now: () => number;
  /** Read on the first lookup (a build that hashes nothing never reads the file). */
  #entries: Promise<Map<string, Entry>> | undefined;
  readonly #used = new Set<string>();
  #dirty = false;
  /** Files read and hashed by this instance (the rest came from the saved entries). */
  hashed = 0;

  private constructor(file: string | undefined, root: string, now: () => number) {
    this.#file = file;
    this.#root = root;
    this.#now = now;
  }

  /** No saved entries and nothing saved (a tar context: its inodes are new every time). */
  static ephemeral(): ContextDigests {
    return new ContextDigests(undefined, '', Date.now);
  }

  /** The saved digests of the context directory `root`, kept under `cacheDir` (read lazily). */
  static of(cacheDir: string, root: string, now: () => number = Date.now): ContextDigests {
    return new ContextDigests(path.join(cacheDir, 'build-digests', `${createHash('sha256').update(root).digest('hex')}.json`), root, now);
  }

  #load(): Promise<Map<string, Entry>> {
    this.#entries ??= this.#file ? readEntries(this.#file, this.#root) : Promise.resolve(new Map());
    return this.#entries;
  }

  /** The sha256 (hex) of the file at `rel`, from the saved entry when it still holds, else `hash()`. */
  async digest(rel: string, identity: FileIdentity, hash: FileHasher): Promise<string> {
    const entries = await this.#load();
    this.#used.add(rel);
    const entry = entries.get(rel);
    if (entry && entry.key === identity.key && identity.ctimeMs < entry.hashedAt - RACY_MARGIN_MS) return entry.sha256;
    const hashedAt = this.#now();
    const sha256 = await hash();
    this.hashed++;
    entries.set(rel, { key: identity.key, sha256, hashedAt });
    this.#dirty = true;
    return sha256;
  }

  /** Writes the entries when something was hashed (nothing for an ephemeral instance). */
  async save(): Promise<void> {
    if (!this.#file || !this.#dirty) return;
    const entries = await this.#load();
    const keep = entries.size > DIGESTS_LIMIT ? [...entries].filter(([rel]) => this.#used.has(rel)) : [...entries];
    const files: Record<string, EntryTuple> = {};
    for (const [rel, e] of keep) files[rel] = [e.key, e.sha256, e.hashedAt];
    const { mkdir } = await import('node:fs/promises');
    const { writeFileAtomic } = await import('../sys/atomic.js');
    await mkdir(path.dirname(this.#file), { recursive: true });
    await writeFileAtomic(this.#file, JSON.stringify({ v: DIGESTS_VERSION, root: this.#root, files }));
    this.#dirty = false;
  }
}
