/**
 * @module layer/scoped-path
 * Resolving a path inside a root the way containerd/continuity's `fs.RootPath` does (design §4),
 * one component at a time with `lstat`/`readlink`, because Node has no
 * `openat2(RESOLVE_IN_ROOT)`:
 *
 * - symlinks are followed, but an absolute target restarts at the root, not at the host's `/`;
 * - `..` at the root stays at the root, and `..` applies to the path resolved so far (a link
 *   `hello -> /sym/../baz` with `sym -> /foo/bar` gives `foo/baz`, not `baz`);
 * - a component that does not exist (or sits under a non-directory) is taken literally;
 * - more than 255 links followed is an error ("too many links"), so loops end.
 *
 * The result is relative to the root (`''` is the root itself) and names no symlink in any of
 * its existing components, so joining it to the root and creating something there never
 * leaves the root (as long as no one else changes the tree meanwhile: the applier is the only
 * writer of the directories it applies to).
 *
 * `ScopedResolver` caches directory resolutions for one layer application; the applier tells it
 * about every change that could alter one (a symlink created, anything removed). It also skips
 * the `lstat` of a component the applier knows to be a real directory (one it made or already
 * checked), and lets the applier finish pending work on a path before the disk is asked about
 * it (files and links may still be in the making on the file worker).
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';

/** The most symlinks one resolution follows (continuity's limit). */
export const MAX_LINKS = 255;

export interface ResolverOptions {
  /**
   * Whether `rel` is known to be a real directory reached through real directories now: its
   * `lstat` is skipped. Knowing wrongly would let a symlink be taken for a directory.
   */
  isKnownDirectory?: (rel: string) => boolean;
  /** Called before the disk is asked about `rel`: anything pending there must land first. */
  beforeLookup?: (rel: string) => Promise<void>;
}

/** The two lookups a walk makes. */
interface Lookups {
  lstat(abs: string): Promise<Stats> | Stats;
  readlink(abs: string): Promise<string> | string;
}

// Arrow functions: naming `lstat` here would load node:fs/promises when this module loads.
const THREAD_POOL: Lookups = { lstat: (abs) => lstat(abs), readlink: (abs) => readlink(abs) };
/**
 * For the one-off resolution of a short path (a file read on every container start): a
 * synchronous lstat costs less than a thread-pool round trip, and the walk does not load
 * node:fs/promises (~3 ms) for it.
 */
const SYNCHRONOUS: Lookups = { lstat: lstatSync, readlink: (abs) => readlinkSync(abs) };

export interface ResolveOptions {
  /** Look up with synchronous calls (see SYNCHRONOUS). Default false. */
  synchronous?: boolean;
}

interface Walk {
  /** Resolved components so far. */
  resolved: string[];
  /** Paths (relative to the root) whose state the result depends on: links followed, missing names. */
  deps: string[];
  links: number;
}

function tooManyLinks(root: string, rel: string): CairnError {
  return new CairnError('invalid-archive', `resolving "${rel}" in ${root}: too many links (more than ${MAX_LINKS} symlinks followed)`, {
    root,
    path: rel,
  });
}

/** Resolves the components in `pending` (next first) on top of `walk`, in place. */
async function walkComponents(
  root: string,
  walk: Walk,
  pending: string[],
  original: string,
  lookup: ResolverOptions = {},
  disk: Lookups = THREAD_POOL,
): Promise<void> {
  // A stack: the next component is at the end.
  const stack = pending.reverse();
  while (stack.length > 0) {
    const part = stack.pop() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      // At the root this is a no-op: `..` never climbs out. What it leaves stays a dependency
      // (were it replaced by a symlink, `..` would lead elsewhere).
      if (walk.resolved.length > 0) walk.deps.push(walk.resolved.join('/'));
      walk.resolved.pop();
      continue;
    }
    walk.resolved.push(part);
    const rel = walk.resolved.join('/');
    if (lookup.isKnownDirectory?.(rel) === true) continue;
    await lookup.beforeLookup?.(rel);
    const abs = path.join(root, rel);
    let isLink: boolean;
    try {
      isLink = (await disk.lstat(abs)).isSymbolicLink();
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      walk.deps.push(rel); // taken literally; depends on it staying absent
      continue;
    }
    if (!isLink) continue;
    if (++walk.links > MAX_LINKS) throw tooManyLinks(root, original);
    walk.deps.push(rel);
    const target = await disk.readlink(abs);
    walk.resolved.pop();
    if (target.startsWith('/')) walk.resolved.length = 0;
    const parts = target.split('/');
    for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i] as string);
  }
}

/**
 * Resolves `rel` inside `root` (see the module comment). Returns the resolved path relative to
 * `root`, `''` for the root itself.
 *
 * @throws CairnError 'invalid-archive' ("too many links") for symlink loops.
 * @example
 * // root/fs/a/d -> /b
 * await resolveInRoot(root, 'fs/a/d/c/data') // 'b/c/data'
 */
export async function resolveInRoot(root: string, rel: string, options: ResolveOptions = {}): Promise<string> {
  const walk: Walk = { resolved: [], deps: [], links: 0 };
  await walkComponents(root, walk, rel.split('/'), rel, {}, options.synchronous ? SYNCHRONOUS : THREAD_POOL);
  return walk.resolved.join('/');
}

/** `resolveInRoot` as an absolute path (continuity's `RootPath`). */
export async function rootPath(root: string, rel: string, options: ResolveOptions = {}): Promise<string> {
  const resolved = await resolveInRoot(root, rel, options);
  return resolved === '' ? root : path.join(root, resolved);
}

interface CacheEntry {
  resolved: string;
  deps: string[];
}

function under(candidate: string, changed: string): boolean {
  return changed === '' || candidate === changed || candidate.startsWith(`${changed}/`);
}


/**
 * Resolves directory paths of one layer's entries, remembering each (the entries of a layer
 * share few parents). A cached result stays valid until something it depends on changes:
 * call `changed(p)` after creating a symlink at `p` or removing anything at `p`.
 */
export class ScopedResolver {
  readonly root: string;
  readonly #cache = new Map<string, CacheEntry>();
  /** Every path some cached entry depends on, with all its ancestors: `changed` skips the rest. */
  readonly #watched = new Set<string>();
  readonly #o: ResolverOptions;

  constructor(root: string, options: ResolverOptions = {}) {
    this.root = root;
    this.#o = options;
  }

  /** The resolution of the cleaned relative path `rel` (`''` or `.` = the root). */
  async resolve(rel: string): Promise<string> {
    return (await this.#resolve(rel === '.' ? '' : rel)).resolved;
  }

  async #resolve(rel: string): Promise<CacheEntry> {
    if (rel === '') return { resolved: '', deps: [] };
    const hit = this.#cache.get(rel);
    if (hit) return hit;
    const slash = rel.lastIndexOf('/');
    const parent = await this.#resolve(slash === -1 ? '' : rel.slice(0, slash));
    const walk: Walk = {
      resolved: parent.resolved === '' ? [] : parent.resolved.split('/'),
      deps: [...parent.deps],
      links: 0,
    };
    await walkComponents(this.root, walk, [rel.slice(slash + 1)], rel, this.#o);
    const entry = { resolved: walk.resolved.join('/'), deps: walk.deps };
    this.#cache.set(rel, entry);
    for (const p of [entry.resolved, ...walk.deps]) {
      for (let q = p; q !== '' && !this.#watched.has(q); q = q.slice(0, Math.max(0, q.lastIndexOf('/')))) this.#watched.add(q);
    }
    return entry;
  }

  /** Forgets every resolution that went through, into or under `changed` (relative to the root). */
  changed(changed: string): void {
    if (changed === '') {
      this.#cache.clear();
      this.#watched.clear();
      return;
    }
    if (!this.#watched.has(changed)) return; // no cached resolution went through or under it
    for (const [key, entry] of this.#cache) {
      if (under(entry.resolved, changed) || entry.deps.some((d) => under(d, changed))) this.#cache.delete(key);
    }
  }
}
