/**
 * @module build/context
 * The build context: a directory, or a tar (plain, gzip, bzip2, xz or zstd) read from a stream
 * (`cairn build -`), extracted safely (layer/apply: nothing lands outside the temporary
 * directory) into the store's tmp area and removed afterwards. Also finds the Dockerfile and
 * the ignore file: `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's
 * `.dockerignore` (BuildKit's rule). The Dockerfile and `.dockerignore` are always readable by
 * the builder itself, whatever `.dockerignore` says; COPY sees only what it lets through.
 */
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CairnError, errnoCode } from '../errors.js';
import { IgnoreMatcher, readDockerignore } from './dockerignore.js';
import { ContextDigests } from './context-digests.js';
import { DiskTree } from './sources.js';
import type { StorePaths } from '../store/paths.js';

export interface ContextSource {
  /** A context directory. */
  readonly contextDir?: string;
  /** A tar of the context (plain, gzip, bzip2, xz or zstd). */
  readonly contextTar?: Readable;
  /**
   * The Dockerfile: its text, or a path (relative to the current directory for a directory
   * context, inside the archive for a tar context). Default: `Dockerfile` in the context.
   */
  readonly dockerfile?: string | { readonly text: string | Uint8Array; readonly name?: string };
}

export interface LoadedContext {
  readonly tree: DiskTree;
  readonly root: string;
  /** The Dockerfile's bytes and the name errors use (`Dockerfile`). */
  readonly dockerfile: { readonly text: Uint8Array; readonly name: string };
  /** The ignore patterns in effect (for tests and `--progress` output). */
  readonly ignorePatterns: readonly string[];
  /**
   * Ends the context's use: saves the file digests hashed meanwhile (a directory context), or
   * removes the extracted copy (a tar context).
   */
  dispose(): Promise<void>;
}

async function readIfFile(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
}

async function extractTar(tar: Readable, tmpDir: string): Promise<string> {
  await mkdir(tmpDir, { recursive: true });
  const dir = await mkdtemp(path.join(tmpDir, 'build-context-'));
  try {
    const { decompressArchive } = await import('../tar/index.js');
    const { applyLayer } = await import('../layer/apply.js');
    const { stream } = await decompressArchive(tar, { what: 'the build context archive' });
    await applyLayer(dir, stream, { what: 'the build context archive' });
    return dir;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Opens the context: extracts a tar context under `paths.tmp`, reads the Dockerfile and the
 * ignore file; a directory context's file digests are remembered under `paths.cache`.
 *
 * @throws CairnError 'not-found' (no context directory, no Dockerfile), 'invalid-argument'
 *   (both or neither of a directory and a tar; a malformed ignore pattern).
 */
export async function loadContext(source: ContextSource, paths: Pick<StorePaths, 'tmp' | 'cache'>, cwd: string = process.cwd()): Promise<LoadedContext> {
  if ((source.contextDir === undefined) === (source.contextTar === undefined)) {
    throw new CairnError('invalid-argument', 'build: give exactly one context, a directory or a tar stream', {});
  }
  let root: string;
  let dispose = async (): Promise<void> => undefined;
  let digests: ContextDigests | undefined;
  if (source.contextDir !== undefined) {
    root = path.resolve(cwd, source.contextDir);
    let isDir = false;
    try {
      isDir = (await stat(root)).isDirectory();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    if (!isDir) throw new CairnError('not-found', `build context ${source.contextDir}: no such directory`, { path: root });
    digests = ContextDigests.of(paths.cache, root);
    const saving = digests;
    dispose = () => saving.save();
  } else {
    root = await extractTar(source.contextTar as Readable, paths.tmp);
    const extracted = root;
    dispose = () => rm(extracted, { recursive: true, force: true });
  }
  try {
    let dockerfile: { text: Uint8Array; name: string };
    let dockerfilePath: string | undefined;
    const spec = source.dockerfile;
    if (spec !== undefined && typeof spec !== 'string') {
      dockerfile = { text: typeof spec.text === 'string' ? Buffer.from(spec.text) : spec.text, name: spec.name ?? 'Dockerfile' };
    } else {
      let candidates: string[];
      if (spec === undefined) candidates = [path.join(root, 'Dockerfile'), path.join(root, 'dockerfile')];
      else if (source.contextTar !== undefined) candidates = [path.join(root, await resolveInContext(root, spec))];
      else candidates = [path.resolve(cwd, spec)];
      let found: Buffer | undefined;
      for (const candidate of candidates) {
        found = await readIfFile(candidate);
        if (found) {
          dockerfilePath = candidate;
          break;
        }
      }
      if (!found) {
        throw new CairnError('not-found', `cannot read the Dockerfile ${spec ?? path.join(source.contextDir ?? '.', 'Dockerfile')}: no such file`, { path: candidates[0] });
      }
      dockerfile = { text: found, name: path.basename(dockerfilePath as string) };
    }
    const specific = dockerfilePath ? await readIfFile(`${dockerfilePath}.dockerignore`) : undefined;
    const ignoreText = specific ?? (await readIfFile(path.join(root, '.dockerignore')));
    const ignorePatterns = ignoreText ? readDockerignore(ignoreText.toString('utf8')) : [];
    const tree = new DiskTree(root, IgnoreMatcher.from(ignorePatterns), digests);
    return { tree, root, dockerfile, ignorePatterns, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

async function resolveInContext(root: string, rel: string): Promise<string> {
  const { resolveInRoot } = await import('../layer/scoped-path.js');
  return resolveInRoot(root, rel.replace(/^\/+/, ''));
}
