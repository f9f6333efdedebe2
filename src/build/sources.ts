/**
 * @module build/sources
 * Where COPY and ADD read from: the build context on disk (with `.dockerignore` applied) or an
 * image's file tree (`COPY --from=stage|image`, read from layer indexes through `UnionView`,
 * nothing unpacked). Both are a `SourceTree`; the copy planner (build/copy) does not know which.
 *
 * Paths are relative, slash-separated and cleaned (`''` is the root). Every path a tree is
 * asked about is resolved inside the tree: a symlink never leads out of the context (absolute
 * targets restart at its root, `..` stops there), as docker resolves COPY sources.
 *
 * Source patterns: `*`, `?`, `[...]` and `\` per path component (Go's `filepath.Match`, as
 * docker, BuildKit and buildah match them): `**` is no different from `*` there, one component.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CairnError, errnoCode } from '../errors.js';
import { ScopedResolver } from '../layer/scoped-path.js';
import { splitDev } from '../sys/mknod.js';
import type { TarEntryType } from '../tar/index.js';
import type { UnionStat, UnionView } from '../union/index.js';
import type { IgnoreMatcher } from './dockerignore.js';
import { hashFile } from '../digest/file.js';
import { typeOfStats } from '../layer/entry-meta.js';
import { ContextDigests, type FileIdentity } from './context-digests.js';

/** What the copy planner needs to know about one path. */
export interface SourceStat {
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Date;
  readonly size: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** A content digest when the tree already knows it (layer indexes do). */
  readonly sha256?: string;
  /**
   * On disk: the stat identity (`dev:ino:size:mtimeNs:ctimeNs`; any write changes the ctime),
   * which the memo's fingerprint and the saved content digests (build/context-digests) key on.
   */
  readonly identity?: FileIdentity;
}

export interface SourceTree {
  /** For messages: `build context`, `stage builder`, `image busybox`. */
  readonly label: string;
  /** Does not follow a symlink in the last component. Undefined when missing. */
  lstat(rel: string): Promise<SourceStat | undefined>;
  /** `rel` with every symlink resolved inside the tree (missing tails taken literally). */
  resolve(rel: string): Promise<string>;
  /** Names in a directory, byte order. */
  readdir(rel: string): Promise<string[]>;
  /** A file's content. */
  open(rel: string): Promise<Readable>;
  /** A file's sha256 (hex), when the tree knows a cheaper way than reading it through `open`. */
  digest?(rel: string, stat: SourceStat): Promise<string>;
  /** `.dockerignore`: whether the path may not be read. */
  excluded(rel: string): boolean;
  /** Whether an excluded directory may still hold paths that are not. */
  descendExcluded(rel: string): boolean;
}

const join = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);
const compareBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * The build context: a directory on disk and its `.dockerignore`. Path resolutions are
 * remembered for the tree's life (one build: the context is not expected to change under it),
 * and file digests come from `ContextDigests` when their stat identity is unchanged.
 */
export class DiskTree implements SourceTree {
  readonly label = 'build context';
  readonly root: string;
  readonly #ignore: IgnoreMatcher | undefined;
  readonly #resolver: ScopedResolver;
  readonly #digests: ContextDigests;

  constructor(root: string, ignore?: IgnoreMatcher, digests: ContextDigests = ContextDigests.ephemeral()) {
    this.root = path.resolve(root);
    this.#ignore = ignore && !ignore.empty ? ignore : undefined;
    this.#resolver = new ScopedResolver(this.root);
    this.#digests = digests;
  }

  /** The content digests this tree uses (to save them after the build). */
  get digests(): ContextDigests {
    return this.#digests;
  }

  async lstat(rel: string): Promise<SourceStat | undefined> {
    // Parents are resolved inside the root first: a symlinked parent cannot lead out.
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : await this.#resolver.resolve(rel.slice(0, slash));
    const abs = path.join(this.root, parent, rel.slice(slash + 1));
    try {
      // Nanosecond times: two writes within a millisecond still differ.
      const st = await lstat(abs, { bigint: true });
      const type = typeOfStats(st);
      if (!type) return undefined;
      const dev = type === 'char' || type === 'block' ? splitDev(Number(st.rdev)) : undefined;
      const size = type === 'file' ? Number(st.size) : 0;
      return {
        type,
        mode: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtime: new Date(Number(st.mtimeMs)),
        size,
        ...(type === 'symlink' ? { linkname: await readlink(abs) } : {}),
        ...(dev ? { devmajor: dev.major, devminor: dev.minor } : {}),
        identity: { key: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, ctimeMs: Number(st.ctimeMs) },
      };
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  resolve(rel: string): Promise<string> {
    return this.#resolver.resolve(rel);
  }

  async readdir(rel: string): Promise<string[]> {
    const names = await readdir(path.join(this.root, await this.resolve(rel)));
    return names.sort(compareBytes);
  }

  async open(rel: string): Promise<Readable> {
    return createReadStream(path.join(this.root, await this.resolve(rel)));
  }

  async digest(rel: string, stat: SourceStat): Promise<string> {
    const read = async (): Promise<string> => (await hashFile(path.join(this.root, await this.resolve(rel)), stat.size)).slice('sha256:'.length);
    return stat.identity ? this.#digests.digest(rel, stat.identity, read) : read();
  }

  excluded(rel: string): boolean {
    return this.#ignore?.excludes(rel) ?? false;
  }

  descendExcluded(rel: string): boolean {
    return this.#ignore?.ignoredDirMayHaveExceptions(rel) ?? false;
  }
}

function statOfUnion(st: UnionStat): SourceStat {
  return {
    type: st.type,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    mtime: st.mtime,
    size: st.type === 'file' ? st.size : 0,
    ...(st.linkname !== undefined ? { linkname: st.linkname } : {}),
    ...(st.devmajor !== undefined ? { devmajor: st.devmajor, devminor: st.devminor ?? 0 } : {}),
    ...(st.sha256 !== undefined ? { sha256: st.sha256 } : {}),
  };
}

function missing(err: unknown): boolean {
  const errno = (err as { data?: { errno?: string } }).data?.errno;
  return err instanceof CairnError && (errno === 'ENOENT' || errno === 'ENOTDIR');
}

/** An image's files (`COPY --from`), read from its layers through a `UnionView`. */
export class ImageTree implements SourceTree {
  readonly label: string;
  readonly #view: UnionView;

  constructor(view: UnionView, label: string) {
    this.#view = view;
    this.label = label;
  }

  async lstat(rel: string): Promise<SourceStat | undefined> {
    try {
      return statOfUnion(this.#view.lstat(`/${rel}`));
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
  }

  async resolve(rel: string): Promise<string> {
    if (rel === '') return '';
    try {
      return this.#view.realpath(`/${rel}`);
    } catch (err) {
      if (!missing(err)) throw err;
      // A missing tail: resolve what exists, keep the rest as written.
      const slash = rel.lastIndexOf('/');
      if (slash < 0) return rel;
      return join(await this.resolve(rel.slice(0, slash)), rel.slice(slash + 1));
    }
  }

  async readdir(rel: string): Promise<string[]> {
    return this.#view.readdir(`/${rel}`);
  }

  open(rel: string): Promise<Readable> {
    return this.#view.createReadStream(`/${rel}`);
  }

  excluded(): boolean {
    return false;
  }

  descendExcluded(): boolean {
    return true;
  }
}

/** Whether a COPY source names several paths (docker's `containsWildcards`). */
export function hasWildcards(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** `filepath.Match` for one component. */
function componentRegex(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\' && i + 1 < pattern.length) {
      re += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new CairnError('invalid-argument', `syntax error in pattern "${pattern}"`, { pattern });
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('^') || body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\(?!\])/g, '\\\\')}]`;
      i = end;
    } else re += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

/** Unescapes `\x` in a pattern without wildcards (a literal path). */
export function unescapePattern(pattern: string): string {
  return pattern.replace(/\\(.)/g, '$1');
}

/**
 * The paths of `tree` that `pattern` (relative, cleaned, with wildcards) matches, sorted, each
 * not excluded by `.dockerignore`. Symlinked directories are followed while matching.
 */
export async function globTree(tree: SourceTree, pattern: string): Promise<string[]> {
  const parts = pattern.split('/');
  const out = new Set<string>();
  const step = async (dir: string, i: number): Promise<void> => {
    if (i === parts.length) {
      if (dir !== '') out.add(dir);
      return;
    }
    const part = parts[i] as string;
    if (!hasWildcards(part)) {
      const child = join(dir, unescapePattern(part));
      if (i === parts.length - 1 ? (await tree.lstat(await parentResolved(tree, child))) !== undefined : await isDir(tree, child)) await step(child, i + 1);
      return;
    }
    const re = componentRegex(part);
    for (const name of await safeReaddir(tree, dir)) {
      if (!re.test(name)) continue;
      const child = join(dir, name);
      if (i === parts.length - 1 || (await isDir(tree, child))) await step(child, i + 1);
    }
  };
  await step('', 0);
  return [...out].filter((p) => !tree.excluded(p) || tree.descendExcluded(p)).sort(compareBytes);
}

async function parentResolved(tree: SourceTree, rel: string): Promise<string> {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? rel : join(await tree.resolve(rel.slice(0, slash)), rel.slice(slash + 1));
}

async function safeReaddir(tree: SourceTree, dir: string): Promise<string[]> {
  try {
    return await tree.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR' || missing(err)) return [];
    throw err;
  }
}

async function isDir(tree: SourceTree, rel: string): Promise<boolean> {
  const st = await tree.lstat(await tree.resolve(rel));
  return st?.type === 'directory';
}

/** An entry below a copied source (paths relative to the source). */
export interface WalkedSource {
  readonly rel: string;
  /** The path in the tree (resolved parents). */
  readonly treePath: string;
  readonly stat: SourceStat;
}

/**
 * Every path under the directory `dir` of `tree` (not following symlinks), depth first in byte
 * order, leaving out what `.dockerignore` (or `exclude`, matched relative to `dir`) excludes; an
 * excluded directory is walked when an exception may keep something under it, and shows up
 * only when something under it does.
 */
export async function walkSource(tree: SourceTree, dir: string, exclude?: IgnoreMatcher): Promise<WalkedSource[]>;
/** With `limit`: undefined as soon as more than `limit` paths were seen. */
export async function walkSource(tree: SourceTree, dir: string, exclude: IgnoreMatcher | undefined, limit: number): Promise<WalkedSource[] | undefined>;
export async function walkSource(tree: SourceTree, dir: string, exclude?: IgnoreMatcher, limit?: number): Promise<WalkedSource[] | undefined> {
  const out: WalkedSource[] = [];
  let seen = 0;
  const over = (): boolean => limit !== undefined && ++seen > limit;
  const excludedBy = (treePath: string, rel: string): boolean => tree.excluded(treePath) || (exclude?.excludes(rel) ?? false);
  const descend = (treePath: string, rel: string): boolean =>
    (!tree.excluded(treePath) || tree.descendExcluded(treePath)) && (!(exclude?.excludes(rel) ?? false) || exclude!.ignoredDirMayHaveExceptions(rel));
  const visit = async (treeDir: string, relDir: string): Promise<boolean> => {
    let kept = false;
    for (const name of await tree.readdir(treeDir)) {
      if (over()) throw TOO_MANY;
      const treePath = join(treeDir, name);
      const rel = join(relDir, name);
      const stat = await tree.lstat(treePath);
      if (!stat) continue;
      const excluded = excludedBy(treePath, rel);
      if (stat.type === 'directory') {
        if (excluded && !descend(treePath, rel)) continue;
        const at = out.length;
        out.push({ rel, treePath, stat });
        const inner = await visit(treePath, rel);
        if (excluded && !inner) out.splice(at, out.length - at);
        else kept = true;
        continue;
      }
      if (excluded) continue;
      out.push({ rel, treePath, stat });
      kept = true;
    }
    return kept;
  };
  try {
    await visit(dir, '');
  } catch (err) {
    if (err === TOO_MANY) return undefined;
    throw err;
  }
  return out;
}

const TOO_MANY = new Error('too many paths');

/** A readable of a string or bytes (heredoc sources). */
export function bytesStream(data: Uint8Array): Readable {
  return Readable.from([Buffer.from(data)]);
}
