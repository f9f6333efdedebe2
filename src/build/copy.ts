/**
 * @module build/copy
 * COPY and ADD: sources → one layer tar, written straight from the sources (no container, no
 * staging copy), with docker's semantics:
 *
 * - A source is a path in the tree (context or `--from` image) or a pattern (`*`, `?`, `[…]`,
 *   `**`); `..` may not leave the context. A pattern matching nothing is fine while something
 *   else matches; nothing at all is an error, as is a missing plain path. What `.dockerignore`
 *   excludes does not exist for COPY.
 * - A directory source copies its contents (not itself) into the destination; a file goes to
 *   `dest` itself, or into it when `dest` ends in `/` (or is `.`) or is an existing directory
 *   of the image. Several sources need a directory destination. A symlink named as a source
 *   is followed (inside the tree); symlinks below a copied directory are copied as symlinks.
 * - Relative destinations are relative to WORKDIR. Missing parent directories are created
 *   (0755, owned like the files); existing ones are resolved through the image's symlinks
 *   (`/bin/x` with `bin -> usr/bin` is written as `usr/bin/x`) and left as they are.
 * - Owners are 0:0, or `--chown` (names looked up in the image's /etc/passwd and /etc/group;
 *   `--chown=u` means u:u as docker); modes and mtimes are the source's, or `--chmod`.
 * - ADD extracts a local tar (plain, gzip, bzip2, xz, zstd) into `dest`, keeping
 *   the archive's owners; URLs are refused (no network).
 * - `--parents` keeps each source's path (after a `/./` pivot, if any) below `dest`;
 *   `--exclude` patterns drop paths, matched relative to the source.
 *
 * The cache key of a context COPY uses `hashSources` (paths, types, modes, link targets and
 * sha256 of every file, not times); a `--from` COPY uses the source image's ID instead.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CairnError } from '../errors.js';
import { createReadStream } from 'node:fs';
import { createHash } from '../sys/crypto.js';
import { hashStream } from '../digest/file.js';
import type { TarBody, TarEntryInit } from '../tar/index.js';
import type { UnionView } from '../union/index.js';
import { cleanSlashPath, type IgnoreMatcher } from './dockerignore.js';
import { parseChmod, placeDir, resolveChown } from './image-paths.js';
import { globTree, hasWildcards, unescapePattern, walkSource, type SourceStat, type SourceTree, type WalkedSource } from './sources.js';

export interface CopySpec {
  readonly keyword: 'COPY' | 'ADD';
  /** Sources after expansion. */
  readonly sources: readonly string[];
  /** Heredoc sources (`COPY <<EOF /x`), their bodies already expanded. */
  readonly contents: readonly { readonly name: string; readonly data: Uint8Array }[];
  /** The destination after expansion, as written (relative to `workdir` unless absolute). */
  readonly dest: string;
  readonly workdir: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly exclude?: IgnoreMatcher;
  readonly parents: boolean;
  /** The tree is the build context (paths may not leave it). */
  readonly fromContext: boolean;
  /** ADD: extract local tar archives (not with `--unpack=false`). */
  readonly extract?: boolean;
}

/** One matched source. */
export interface CollectedSource {
  /** The path in the tree, symlinks resolved. */
  readonly path: string;
  /** The name a file keeps under a directory destination (the last component as written). */
  readonly name: string;
  readonly stat: SourceStat;
  /** Directory contents, relative to the source. */
  readonly entries?: readonly WalkedSource[];
  /** `--parents`: the directory part kept below `dest`. */
  readonly keep?: string;
  /** ADD: a tar archive to extract. */
  readonly archive?: boolean;
}

const join = (dir: string, name: string): string => (dir === '' ? name : name === '' ? dir : `${dir}/${name}`);
const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const dirname = (p: string): string => (p.lastIndexOf('/') < 0 ? '' : p.slice(0, p.lastIndexOf('/')));

function fail(spec: CopySpec, message: string, data: Record<string, unknown> = {}): CairnError {
  return new CairnError('not-found', `${spec.keyword} failed: ${message}`, data);
}

/** A source as written → its tree path (relative, cleaned) and the `--parents` pivot. */
function sourcePath(spec: CopySpec, source: string): { path: string; pivot: string } {
  let text = source;
  let pivot = '';
  const at = text.indexOf('/./');
  if (spec.parents && at >= 0) {
    pivot = cleanSlashPath(text.slice(0, at).replace(/^\/+/, ''));
    if (pivot === '.') pivot = '';
    text = `${text.slice(0, at)}/${text.slice(at + 3)}`;
  }
  let cleaned = cleanSlashPath(text.startsWith('/') ? text : `./${text}`);
  if (cleaned.startsWith('/')) cleaned = cleaned.replace(/^\/+/, '');
  if (cleaned === '..' || cleaned.startsWith('../')) {
    if (spec.fromContext) {
      throw new CairnError('invalid-argument', `${spec.keyword} failed: forbidden path outside the build context: ${source}`, { source });
    }
    cleaned = cleanSlashPath(`/${cleaned}`).replace(/^\/+/, '');
  }
  return { path: cleaned === '.' ? '' : cleaned, pivot };
}

async function isArchive(tree: SourceTree, rel: string): Promise<boolean> {
  const { decompressArchive } = await import('../tar/index.js');
  const input = await tree.open(rel);
  try {
    const { stream } = await decompressArchive(input, { what: rel });
    const head: Buffer[] = [];
    let length = 0;
    for await (const chunk of stream) {
      head.push(Buffer.from(chunk as Uint8Array));
      length += (chunk as Uint8Array).length;
      if (length >= 512) break;
    }
    stream.destroy();
    return isTarHeader(Buffer.concat(head).subarray(0, 512));
  } catch (err) {
    if (err instanceof CairnError && err.code === 'unsupported') throw err;
    return false;
  } finally {
    input.destroy();
  }
}

/** A valid first tar header: its checksum adds up (USTAR, GNU or v7; the name may be empty). */
function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = parseInt(block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum === stored;
}

/**
 * Matches and walks the sources of a COPY/ADD (no image needed): what the step reads.
 *
 * @throws CairnError 'not-found' (missing source, nothing matched), 'invalid-argument' (a
 *   path outside the context, a URL in ADD).
 */
export async function collectSources(tree: SourceTree, spec: CopySpec): Promise<CollectedSource[]> {
  const out: CollectedSource[] = [];
  for (const source of spec.sources) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) || source.startsWith('git@')) {
      if (spec.keyword === 'ADD') {
        throw new CairnError('unsupported', `ADD ${source}: remote sources (URLs, git) are not supported: cairn builds without network; download the file into the context and COPY it`, { source });
      }
      throw new CairnError('invalid-argument', `COPY ${source}: source can't be a URL for COPY`, { source });
    }
    const { path: rel, pivot } = sourcePath(spec, source);
    let matches: string[];
    if (hasWildcards(rel)) {
      matches = await globTree(tree, rel);
    } else {
      const literal = unescapePattern(rel);
      matches = [literal];
    }
    for (const match of matches) {
      const resolved = await tree.resolve(match);
      const stat = await tree.lstat(resolved);
      const hidden = match !== '' && tree.excluded(match) && !(stat?.type === 'directory' && tree.descendExcluded(match));
      if (!stat || hidden) {
        if (hasWildcards(rel)) continue;
        throw fail(spec, `file not found in ${tree.label}${tree.label === 'build context' ? ' or excluded by .dockerignore' : ''}: stat ${source}: file does not exist`, { source });
      }
      const name = match === '' ? '' : basename(match);
      const keep = spec.parents ? (pivot === '' ? match : match === pivot ? '' : match.startsWith(`${pivot}/`) ? match.slice(pivot.length + 1) : match) : undefined;
      if (spec.exclude && match !== '' && spec.exclude.excludes(hasWildcards(rel) ? match : name)) continue;
      if (stat.type === 'directory') {
        const entries = await walkSource(tree, resolved, spec.exclude);
        if (match !== '' && tree.excluded(match) && entries.length === 0) continue;
        out.push({ path: resolved, name, stat, entries, ...(keep !== undefined ? { keep } : {}) });
      } else {
        const archive = spec.extract === true && spec.fromContext && stat.type === 'file' && (await isArchive(tree, resolved));
        out.push({ path: resolved, name, stat, ...(keep !== undefined ? { keep: dirname(keep) } : {}), ...(archive ? { archive } : {}) });
      }
    }
  }
  if (out.length === 0 && spec.contents.length === 0) {
    throw fail(spec, 'no source files were specified', { sources: spec.sources });
  }
  return out;
}

/**
 * The content digest of what a step reads (for the cache key) and docker's `file:`/`dir:`/
 * `multi:` source hash (for `created_by`).
 */
export async function hashSources(tree: SourceTree, collected: readonly CollectedSource[], spec: CopySpec): Promise<{ inputs: string; sourceHash: string }> {
  const lineOf = async (p: string, rel: string, st: SourceStat): Promise<string> => {
    let content = '';
    if (st.type === 'file') {
      content = (st.sha256 ?? (tree.digest ? await tree.digest(p, st) : await hashStream(await tree.open(p)))).replace(/^sha256:/, '');
    }
    return JSON.stringify([rel, st.type, st.type === 'symlink' ? 0 : st.mode, st.linkname ?? '', content]);
  };
  const hashes: string[] = [];
  const all = createHash('sha256');
  for (const source of collected) {
    const lines: string[] = [await lineOf(source.path, '', source.stat)];
    for (const entry of source.entries ?? []) lines.push(await lineOf(entry.treePath, entry.rel, entry.stat));
    const digest = createHash('sha256').update(lines.join('\n')).digest('hex');
    const contentOnly = source.stat.type === 'file' ? JSON.parse(lines[0] as string)[4] as string : digest;
    hashes.push(`${source.stat.type === 'directory' ? 'dir' : 'file'}:${contentOnly}`);
    all.update(`${source.name}\0${source.keep ?? ''}\0${source.archive ? 'x' : ''}\0${digest}\n`);
  }
  for (const c of spec.contents) {
    const digest = createHash('sha256').update(c.data).digest('hex');
    hashes.push(`file:${digest}`);
    all.update(`<<${c.name}\0${digest}\n`);
  }
  const sourceHash = hashes.length === 1 ? (hashes[0] as string) : `multi:${createHash('sha256').update(hashes.join(',')).digest('hex')}`;
  return { inputs: all.digest('hex'), sourceHash };
}

interface LayerItem {
  entry: TarEntryInit;
  open?: () => Promise<Readable>;
}

export interface CopyLayerOptions {
  /** mtime of directories the step creates and of heredoc files (build time or SOURCE_DATE_EPOCH). */
  readonly now: Date;
  /** Scratch space for ADD extraction. */
  readonly tmpDir: string;
}

/**
 * The layer of a COPY/ADD over `image` (the step's parent), as a deterministic tar
 * (entries sorted; later sources win over earlier ones at the same path). Call `cleanup` after
 * the tar has been consumed (ADD extraction dirs).
 */
export async function copyLayer(
  tree: SourceTree,
  collected: readonly CollectedSource[],
  spec: CopySpec,
  image: UnionView,
  options: CopyLayerOptions,
): Promise<{ items: AsyncIterable<{ entry: TarEntryInit; body?: TarBody }>; cleanup: () => Promise<void> }> {
  const owner = (await resolveChown(spec.chown, image)) ?? { uid: 0, gid: 0 };
  const chmod = parseChmod(spec.chmod);
  const destText = spec.dest;
  const destAbs = cleanSlashPath(destText.startsWith('/') ? destText : `${spec.workdir || '/'}/${destText}`);
  const destParts = destAbs.split('/').filter((p) => p !== '');
  const destLooksDir = destText.endsWith('/') || destText === '.' || destText.endsWith('/.') || destParts.length === 0;
  let destIsDir = destLooksDir;
  if (!destIsDir) {
    try {
      destIsDir = image.stat(`/${destParts.join('/')}`).type === 'directory';
    } catch {
      destIsDir = false;
    }
  }
  const count = collected.length + spec.contents.length;
  if (count > 1 && !destIsDir) {
    throw new CairnError('invalid-argument', `When using ${spec.keyword} with more than one source file, the destination must be a directory and end with a /`, { dest: destText });
  }

  const items = new Map<string, LayerItem>();
  const cleanups: (() => Promise<void>)[] = [];
  const dirEntry = (p: string): TarEntryInit => ({ path: p, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: options.now });
  const placed = new Map<string, string>();
  /** The image path of the directory `parts` (created as needed), memoised. */
  const ensureDir = (parts: readonly string[]): string => {
    const key = parts.join('/');
    const known = placed.get(key);
    if (known !== undefined) return known;
    const { base, missing } = placeDir(image, parts);
    let at = base;
    for (const part of missing) {
      at = join(at, part);
      if (!items.has(at)) items.set(at, { entry: dirEntry(at) });
    }
    placed.set(key, at);
    return at;
  };
  const modeOf = (st: SourceStat): number => (chmod !== undefined && st.type !== 'symlink' ? chmod : st.mode);
  const add = (at: string, st: SourceStat, open?: () => Promise<Readable>, keepOwner = false): void => {
    const entry: TarEntryInit = {
      path: at,
      type: st.type,
      mode: modeOf(st),
      uid: keepOwner ? st.uid : owner.uid,
      gid: keepOwner ? st.gid : owner.gid,
      mtime: st.mtime,
      ...(st.type === 'file' ? { size: st.size } : {}),
      ...(st.linkname !== undefined ? { linkname: st.linkname } : {}),
      ...(st.devmajor !== undefined ? { devmajor: st.devmajor, devminor: st.devminor ?? 0 } : {}),
    };
    items.delete(at);
    items.set(at, { entry, ...(open && st.type === 'file' ? { open } : {}) });
  };

  for (const source of collected) {
    const keepParts = (source.keep ?? '').split('/').filter((p) => p !== '');
    if (source.stat.type === 'directory') {
      const root = ensureDir([...destParts, ...keepParts]);
      for (const entry of source.entries ?? []) {
        add(join(root, entry.rel), entry.stat, () => tree.open(entry.treePath));
      }
      continue;
    }
    if (source.archive) {
      const root = ensureDir([...destParts, ...keepParts]);
      const staging = await mkdtemp(path.join(options.tmpDir, 'build-add-'));
      cleanups.push(() => rm(staging, { recursive: true, force: true }));
      const { decompressArchive } = await import('../tar/index.js');
      const { applyLayer } = await import('../layer/apply.js');
      const { stream } = await decompressArchive(await tree.open(source.path), { what: `ADD ${source.name}` });
      await applyLayer(staging, stream, { what: `ADD ${source.name}` });
      const { walkTree } = await import('../layer/walk.js');
      for await (const { entry, source: file } of walkTree(staging, { root: false, xattrs: true })) {
        const at = join(root, entry.path);
        items.delete(at);
        items.set(at, { entry: { ...entry, path: at }, ...(file && entry.type === 'file' ? { open: async () => createReadStream(file) } : {}) });
      }
      continue;
    }
    if (destIsDir) {
      const dir = ensureDir([...destParts, ...keepParts]);
      add(join(dir, source.name), source.stat, () => tree.open(source.path));
    } else {
      const dir = ensureDir(destParts.slice(0, -1));
      add(join(dir, destParts[destParts.length - 1] as string), source.stat, () => tree.open(source.path));
    }
  }
  for (const content of spec.contents) {
    const dir = destIsDir ? ensureDir(destParts) : ensureDir(destParts.slice(0, -1));
    const name = destIsDir ? content.name : (destParts[destParts.length - 1] as string);
    const data = Buffer.from(content.data);
    const at = join(dir, name);
    items.delete(at);
    items.set(at, { entry: { path: at, type: 'file', mode: chmod ?? 0o644, uid: owner.uid, gid: owner.gid, mtime: options.now, size: data.length }, open: async () => (await import('./sources.js')).bytesStream(data) });
  }

  const { sortEntries } = await import('../tar/index.js');
  const sorted = sortEntries([...items.values()].map((item) => ({ ...item, path: item.entry.path })));
  async function* generate(): AsyncGenerator<{ entry: TarEntryInit; body?: TarBody }> {
    for (const item of sorted) yield item.open ? { entry: item.entry, body: await item.open() } : { entry: item.entry };
  }
  return {
    items: generate(),
    cleanup: async () => {
      for (const c of cleanups) await c();
    },
  };
}
