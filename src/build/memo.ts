/**
 * @module build/memo
 * The rebuild shortcut: when nothing a build depends on changed since the last build with the
 * same identity (context directory, Dockerfile, tags, build args, target, timestamp), that
 * build's result is the answer — without parsing the Dockerfile or loading the builder. "Nothing changed" means: the Dockerfile's and the ignore file's bytes,
 * the metadata of every context path `.dockerignore` lets through (type, mode, size, mtime,
 * ctime and inode: any write changes ctime), every store image it named by tag still at the
 * same digest, its result still in the store and already carrying every tag.
 *
 * Anything else (a changed file, a moved tag, a context of more than `MEMO_MAX_ENTRIES`
 * paths, a tar context, `--no-cache`) falls through to the step-by-step build, which is the
 * truth. The memo is written after every successful build: the cache records then point at
 * what it made, so a rebuild of the same inputs would hit at every step and end with the same
 * image; it keeps the log such a rebuild prints (`cachedRendition`) to replay. One small file
 * per identity under `cairn/cache/build-memo/`, replaced each time.
 *
 * It reads the store with plain file calls (index.json, blob paths), not through `Store`, so
 * the CLI can ask it before loading the store module at all.
 */

const REF_NAME = 'org.opencontainers.image.ref.name';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from '../sys/crypto.js';
import type { Digest } from '../digest/index.js';
import type { Descriptor } from '../oci/types.js';
import type { StorePaths } from '../store/paths.js';
import type { LoadedContext } from './context.js';
import type { BuildEvent } from './output.js';
import { walkSource } from './sources.js';

export const MEMO_VERSION = 1;
/** Contexts with more paths than this are not fingerprinted (the walk would cost more than it saves). */
export const MEMO_MAX_ENTRIES = 5000;

/** What makes two builds the same build. */
export interface MemoIdentity {
  readonly contextRoot: string;
  /** Where the Dockerfile came from (a path, or `stdin`/`text`). */
  readonly dockerfile: string;
  readonly tags: readonly string[];
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly timestamp?: string;
  readonly platform: string;
}

export interface MemoRecord {
  readonly v: typeof MEMO_VERSION;
  readonly fingerprint: string;
  readonly id: Digest;
  readonly descriptor: Descriptor;
  /** Store images named by tag (`name:tag` → the index.json entry's digest). */
  readonly refs: Readonly<Record<string, Digest>>;
  readonly events: readonly BuildEvent[];
  readonly unusedArgs: readonly string[];
  /** Instruction steps (all of which a rebuild takes from the cache). */
  readonly steps: number;
}

/** Where the memos live: removing it forgets them all (the build cache lost records they rely on). */
export function memoDir(paths: StorePaths): string {
  return path.join(paths.cache, 'build-memo');
}

function memoPath(paths: StorePaths, identity: MemoIdentity): string {
  const key = createHash('sha256')
    .update(JSON.stringify([MEMO_VERSION, identity.contextRoot, identity.dockerfile, [...identity.tags].sort(), Object.entries(identity.buildArgs).sort(), identity.target ?? null, identity.timestamp ?? null, identity.platform]))
    .digest('hex');
  return path.join(memoDir(paths), `${key}.json`);
}

async function hasBlob(paths: StorePaths, digest: string): Promise<boolean> {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex || !/^[a-z0-9]+$/.test(algorithm) || !/^[0-9a-f]+$/.test(hex)) return false;
  try {
    return (await stat(path.join(paths.blobs, algorithm, hex))).isFile();
  } catch {
    return false;
  }
}

/** index.json's entries (only digests and ref names are read), or none. */
async function indexEntries(paths: StorePaths): Promise<{ digest: string; annotations?: Record<string, string> }[]> {
  try {
    const doc = JSON.parse(await readFile(paths.index, 'utf8')) as { manifests?: unknown };
    return Array.isArray(doc.manifests) ? (doc.manifests as { digest: string; annotations?: Record<string, string> }[]) : [];
  } catch {
    return [];
  }
}

/** The fingerprint of what a build reads from its context, or undefined when it is too big. */
export async function fingerprint(context: LoadedContext): Promise<string | undefined> {
  const hash = createHash('sha256');
  hash.update(context.dockerfile.text).update('\0').update(JSON.stringify(context.ignorePatterns)).update('\0');
  const entries = await walkSource(context.tree, '', undefined, MEMO_MAX_ENTRIES);
  if (!entries) return undefined;
  for (const e of entries) {
    const st = e.stat;
    hash.update(`${JSON.stringify([e.rel, st.type, st.mode, st.size, st.mtime.getTime(), st.identity?.key ?? '', st.linkname ?? ''])}\n`);
  }
  return hash.digest('hex');
}

/**
 * The memo's answer for this build, or undefined when it has none (or it no longer holds).
 * `print` gives the context's fingerprint (asked last, only when everything else holds).
 */
export async function recall(paths: StorePaths, identity: MemoIdentity, print: () => Promise<string | undefined>): Promise<MemoRecord | undefined> {
  let record: MemoRecord;
  try {
    record = JSON.parse(await readFile(memoPath(paths, identity), 'utf8')) as MemoRecord;
  } catch {
    return undefined;
  }
  if (record.v !== MEMO_VERSION) return undefined;
  const manifests = await indexEntries(paths);
  const named = (ref: string, digest: string): boolean => manifests.some((d) => d.digest === digest && d.annotations?.[REF_NAME] === ref);
  for (const [ref, digest] of Object.entries(record.refs)) if (!named(ref, digest)) return undefined;
  for (const tag of identity.tags) if (!named(tag, record.descriptor.digest)) return undefined;
  if (identity.tags.length === 0 && !manifests.some((d) => d.digest === record.descriptor.digest)) return undefined;
  if (!(await hasBlob(paths, record.descriptor.digest)) || !(await hasBlob(paths, record.id))) return undefined;
  if ((await print()) !== record.fingerprint) return undefined;
  return record;
}

/** Saves a fully cached build's result and log (replacing the identity's previous one). */
export async function remember(paths: StorePaths, identity: MemoIdentity, record: MemoRecord): Promise<void> {
  const file = memoPath(paths, identity);
  await mkdir(path.dirname(file), { recursive: true });
  const { writeFileAtomic } = await import('../sys/atomic.js');
  await writeFileAtomic(file, `${JSON.stringify(record)}\n`);
}
