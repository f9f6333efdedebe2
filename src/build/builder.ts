/**
 * @module build/builder
 * `build`: a Dockerfile and a context → an image in the store (design §8). The Dockerfile is
 * parsed (build/parser), the stages the target needs are ordered (build/stages), each is run
 * step by step with the cache (build/stage), and the target's image is tagged (all in
 * build/pipeline, loaded only when needed). Before any of that, the memo (build/memo) may
 * answer: the last build of the same inputs, when none of them changed since.
 *
 * Contracts:
 * - From its first write to its end a build holds `store.ingest()`, so gc never sweeps a step's
 *   blobs before its cache record pins them (a build that only hits the cache writes nothing
 *   and takes no lock). Step images are never put in index.json. The result is tagged, or (no
 *   `tags`) listed untagged, as docker lists a `<none>` image.
 * - A failed build tags nothing. The cache records of the steps that did finish are kept (the
 *   next build resumes from them, as docker's does); they pin only untagged step images.
 * - The cache is read through its index file, else one database open, and written through one
 *   more; a build where every step hits runs no process, opens no database and takes no lock,
 *   and when its inputs are unchanged since such a build, it does not even parse.
 * - With `timestamp` (SOURCE_DATE_EPOCH) every `created` is that time and no layer entry is
 *   newer, so the same inputs give the same image ID in any store.
 *
 * @example
 * const result = await build(store, { contextDir: '.', tags: ['web:v3'], onOutput: (t) => process.stdout.write(t) });
 * result.id // 'sha256:…' (the image ID)
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.js';
import type { Descriptor } from '../oci/types.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import type { StorePaths } from '../store/paths.js';
import { loadContext, type LoadedContext } from './context.js';
import { fingerprint, MEMO_VERSION, recall, remember, type MemoIdentity } from './memo.js';
import { cachedRendition, formatEvent, type BuildEvent } from './output.js';

export interface BuildOptions {
  /** The context directory. Give this or `contextTar`. */
  readonly contextDir?: string;
  /** The context as a tar stream (plain, gzip, bzip2, xz or zstd): `cairn build -`. */
  readonly contextTar?: Readable;
  /**
   * The Dockerfile: a path (relative to `cwd`; inside the archive for a tar context), or its
   * text. Default: `Dockerfile` in the context.
   */
  readonly dockerfile?: string | { readonly text: string | Uint8Array; readonly name?: string };
  /** `name[:tag]` references to tag the result with. */
  readonly tags?: readonly string[];
  /** `--build-arg` values. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** Build this stage (and what it needs) instead of the last. */
  readonly target?: string;
  /** Run every step, looking nothing up (results are still recorded). */
  readonly noCache?: boolean;
  /** SOURCE_DATE_EPOCH: the `created` time of everything, and the newest layer mtime. */
  readonly timestamp?: Date;
  /** Docker's classic build log, a chunk at a time. */
  readonly onOutput?: (text: string) => void;
  /** The same as events (for a progress display). */
  readonly onEvent?: (event: BuildEvent) => void;
  /** Resolves a relative `contextDir`/`dockerfile` (default `process.cwd()`). */
  readonly cwd?: string;
  /** The clock (tests). */
  readonly now?: () => Date;
  /**
   * Let the last build of the same inputs answer when none of them changed, without parsing
   * (build/memo); default true. Off, the build goes step by step (still through the cache) and
   * leaves no memo.
   */
  readonly memo?: boolean;
}

export interface BuildResult {
  /** The image ID (config digest). */
  readonly id: Digest;
  /** The manifest descriptor (as tagged). */
  readonly descriptor: Descriptor;
  readonly tags: readonly string[];
  /** Steps that ran, and steps taken from the cache. */
  readonly executed: number;
  readonly cached: number;
  /** RUN containers started. */
  readonly containers: number;
  /** `--build-arg`s no ARG used. */
  readonly unusedArgs: readonly string[];
}

function identityOf(context: LoadedContext, options: BuildOptions, tags: readonly string[]): MemoIdentity | undefined {
  if (options.contextTar !== undefined || options.memo === false) return undefined;
  const dockerfile = typeof options.dockerfile === 'string' ? path.resolve(options.cwd ?? process.cwd(), options.dockerfile) : options.dockerfile === undefined ? '' : 'text';
  return {
    contextRoot: context.root,
    dockerfile,
    tags,
    buildArgs: options.buildArgs ?? {},
    ...(options.target !== undefined ? { target: options.target } : {}),
    ...(options.timestamp ? { timestamp: options.timestamp.toISOString() } : {}),
    platform: `${process.platform}/${process.arch}`,
  };
}

function emitter(options: BuildOptions, events: BuildEvent[]): (event: BuildEvent) => void {
  return (event) => {
    events.push(event);
    options.onEvent?.(event);
    options.onOutput?.(formatEvent(event));
  };
}

/**
 * The memo's answer for a build (build/memo), replayed through `onOutput`/`onEvent`, or
 * undefined. Needs only the store's paths: the CLI asks it before loading the store.
 */
export async function recallBuild(paths: StorePaths, options: BuildOptions): Promise<BuildResult | undefined> {
  if (options.noCache || options.contextDir === undefined || options.contextTar !== undefined || options.memo === false) return undefined;
  const tags = (options.tags ?? []).map((tag) => tagged(parseReference(tag)));
  const context = await loadContext({ contextDir: options.contextDir, ...(options.dockerfile !== undefined ? { dockerfile: options.dockerfile } : {}) }, paths, options.cwd);
  try {
    const identity = identityOf(context, options, tags);
    const memo = identity ? await recall(paths, identity, () => fingerprint(context)) : undefined;
    if (!memo) return undefined;
    const emit = emitter(options, []);
    for (const event of memo.events) emit(event);
    return { id: memo.id, descriptor: memo.descriptor, tags, executed: 0, cached: memo.steps, containers: 0, unusedArgs: memo.unusedArgs };
  } finally {
    await context.dispose();
  }
}

/**
 * Builds an image. See the module comment for the contracts.
 *
 * @throws CairnError with `Dockerfile:N: ` in front for everything a line caused:
 *   'invalid-document' (syntax, unknown instruction, cyclic `--from`), 'not-found' (missing
 *   context file, unknown base image or `--from`), 'invalid-argument' (a source outside the
 *   context), 'process-failed' (a RUN exited non-zero: `data.exitCode`), 'unsupported'.
 */
export async function build(store: Store, options: BuildOptions): Promise<BuildResult> {
  const tags = (options.tags ?? []).map((tag) => tagged(parseReference(tag)));
  const events: BuildEvent[] = [];
  const emit = emitter(options, events);
  const source = {
    ...(options.contextDir !== undefined ? { contextDir: options.contextDir } : {}),
    ...(options.contextTar !== undefined ? { contextTar: options.contextTar } : {}),
    ...(options.dockerfile !== undefined ? { dockerfile: options.dockerfile } : {}),
  };
  const context = await loadContext(source, store.paths, options.cwd);
  try {
    const identity = identityOf(context, options, tags);
    // Taken once, before any step reads the context: a file edited during the build then fails
    // to match next time, instead of the memo vouching for content the build never saw.
    let printing: Promise<string | undefined> | undefined;
    const print = (): Promise<string | undefined> => (printing ??= fingerprint(context));
    if (identity) await print();
    if (identity && !options.noCache) {
      const memo = await recall(store.paths, identity, print);
      if (memo) {
        for (const event of memo.events) emit(event);
        return { id: memo.id, descriptor: memo.descriptor, tags, executed: 0, cached: memo.steps, containers: 0, unusedArgs: memo.unusedArgs };
      }
    }
    const { runPipeline } = await import('./pipeline.js');
    const result = await runPipeline(store, context, {
      tags,
      buildArgs: options.buildArgs ?? {},
      ...(options.target !== undefined ? { target: options.target } : {}),
      noCache: options.noCache ?? false,
      ...(options.timestamp ? { timestamp: options.timestamp } : {}),
      now: options.now ?? (() => new Date()),
      emit,
    });
    emit({ type: 'built', id: result.id });
    for (const tag of tags) emit({ type: 'tagged', ref: tag });
    if (identity && result.refs) {
      // The next build of the same inputs would hit the cache at every step and end here (the
      // records now point at what this build made): it need not even parse.
      const fingerprinted = await print();
      if (fingerprinted) {
        await remember(store.paths, identity, {
          v: MEMO_VERSION,
          fingerprint: fingerprinted,
          id: result.id,
          descriptor: result.descriptor,
          refs: result.refs,
          events: cachedRendition(events),
          unusedArgs: result.unusedArgs,
          steps: result.executed + result.cached,
        });
      }
    }
    return {
      id: result.id,
      descriptor: result.descriptor,
      tags,
      executed: result.executed,
      cached: result.cached,
      containers: result.containers,
      unusedArgs: result.unusedArgs,
    };
  } finally {
    await context.dispose();
  }
}
