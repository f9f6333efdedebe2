/**
 * @module build/builder
 * `build`: a Dockerfile and a context → an image in the store (design §8). The Dockerfile is
 * parsed (build/parser), the stages the target needs are ordered (build/stages), each is run
 * step by step with the cache (build/stage), and the target's image is tagged.
 *
 * Contracts:
 * - From its first write to its end a build holds `store.ingest()`, so gc never sweeps a step's
 *   blobs before its cache record pins them (a build that only hits the cache writes nothing
 *   and takes no lock). Step images are never put in index.json. The result is tagged, or (no
 *   `tags`) listed untagged, as docker lists a `<none>` image.
 * - A failed build tags nothing. The cache records of the steps that did finish are kept (the
 *   next build resumes from them, as docker's does); they pin only untagged step images.
 * - The cache is read through its index file, else one database open, and written through one
 *   more; a build where every step hits runs no process, opens no database and takes no lock.
 * - With `timestamp` (SOURCE_DATE_EPOCH) every `created` is that time and no layer entry is
 *   newer, so the same inputs give the same image ID in any store.
 *
 * @example
 * const result = await build(store, { contextDir: '.', tags: ['web:v3'], onOutput: (t) => process.stdout.write(t) });
 * result.id // 'sha256:…' (the image ID)
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import type { ResolvedImage } from '../image/resolve.js';
import { hostPlatform, type Descriptor } from '../oci/index.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import { REF_NAME_ANNOTATION } from '../store/tags.js';
import { BuildArgs, platformArgs } from './args.js';
import { CacheSession } from './cache.js';
import { loadContext } from './context.js';
import { formatEvent, type BuildEvent } from './output.js';
import { parseDockerfile, parseInstructions } from './parser/index.js';
import { expandWord } from './shell/index.js';
import { buildStage, locate, type StepCounter } from './stage.js';
import { planStages } from './stages.js';
import { LazyHold, type BuildSession } from './state.js';

export interface BuildOptions {
  /** The context directory. Give this or `contextTar`. */
  readonly contextDir?: string;
  /** The context as a tar stream (plain, gzip or zstd): `cairn build -`. */
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

function metaArgValues(parsed: ReturnType<typeof parseInstructions>, buildArgs: BuildArgs, file: string, escape: '\\' | '`'): Map<string, string | undefined> {
  const values = new Map<string, string | undefined>(platformArgs(hostPlatform()));
  for (const arg of parsed.metaArgs) {
    for (const def of arg.args) {
      try {
        const env = new Map([...values].filter((e): e is [string, string] => e[1] !== undefined));
        const given = buildArgs.get(def.key);
        values.set(def.key, given ?? (def.value !== undefined ? expandWord(def.value, env, { escape }) : values.get(def.key)));
      } catch (err) {
        throw locate(err, file, arg);
      }
    }
  }
  return values;
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
  const emit = (event: BuildEvent): void => {
    options.onEvent?.(event);
    options.onOutput?.(formatEvent(event));
  };
  const now = options.now ?? (() => new Date());
  await store.prepare();
  const cache = new CacheSession(store);
  const ingest = new LazyHold((fn) => store.ingest(fn));
  let context;
  try {
    const source = {
      ...(options.contextDir !== undefined ? { contextDir: options.contextDir } : {}),
      ...(options.contextTar !== undefined ? { contextTar: options.contextTar } : {}),
      ...(options.dockerfile !== undefined ? { dockerfile: options.dockerfile } : {}),
    };
    context = await loadContext(source, store.paths.tmp, options.cwd);
  } catch (err) {
    await cache.release();
    throw err;
  }
  try {
    const file = context.dockerfile.name;
    const parsedFile = parseDockerfile(context.dockerfile.text, { file });
    const parsed = parseInstructions(parsedFile);
    const escape = parsedFile.escapeChar;
    const buildArgs = new BuildArgs(options.buildArgs ?? {});
    const metaArgs = metaArgValues(parsed, buildArgs, file, escape);
    const metaEnv = new Map([...metaArgs].filter((e): e is [string, string] => e[1] !== undefined));
    const plan = planStages(parsed, { file, metaEnv, escape, ...(options.target !== undefined ? { target: options.target } : {}) });
    const session: BuildSession = {
      store,
      hold: () => ingest.acquire(),
      context,
      file,
      escape,
      cache,
      noCache: options.noCache ?? false,
      buildArgs,
      metaArgs,
      platform: hostPlatform(),
      ...(options.timestamp ? { timestamp: options.timestamp } : {}),
      now,
      emit,
      stageImages: new Map(),
      counts: { executed: 0, cached: 0, containers: 0 },
    };
    const counter: StepCounter = { n: 0, total: plan.order.reduce((n, p) => n + 1 + p.stage.instructions.length, 0) };
    const { image, descriptor } = await (async () => {
      let last: ResolvedImage | undefined;
      try {
        for (const stagePlan of plan.order) {
          last = await buildStage(session, stagePlan, { stages: parsed.stages }, counter);
          session.stageImages.set(stagePlan.index, last);
        }
      } finally {
        await cache.flush();
      }
      if (!last) throw new CairnError('invalid-document', `${file}: nothing to build`, {});
      if (plan.target.base.kind === 'scratch' && plan.target.stage.instructions.length === 0) {
        throw new CairnError('invalid-document', `${file}: no image was generated: the target stage is an empty FROM scratch`, {});
      }
      // index.json is rewritten (under the store lock, gc held off) only when a tag moves.
      const listed = (await store.readIndex()).manifests;
      const digest = last.descriptor.digest;
      const moved = tags.filter((tag) => !listed.some((d) => d.digest === digest && d.annotations?.[REF_NAME_ANNOTATION] === tag));
      // Untagged, the result is still listed (docker's dangling `<none>` image); step images are not.
      const list = tags.length === 0 && !listed.some((d) => d.digest === digest);
      if (moved.length > 0 || list) {
        await ingest.acquire();
        if (!(await store.blobs.has(digest))) throw new CairnError('not-found', `the built image ${digest} vanished from the store before it was tagged`, { digest });
        for (const tag of moved) await store.setTag(tag, last.descriptor);
        if (list) await store.setTag(undefined, last.descriptor);
      }
      return { image: last, descriptor: last.descriptor };
    })();
    const unusedArgs = buildArgs.unused();
    if (unusedArgs.length > 0) emit({ type: 'warning', text: `One or more build-args [${unusedArgs.join(' ')}] were not consumed` });
    emit({ type: 'built', id: image.id });
    for (const tag of tags) emit({ type: 'tagged', ref: tag });
    return {
      id: image.id,
      descriptor,
      tags,
      executed: session.counts.executed,
      cached: session.counts.cached,
      containers: session.counts.containers,
      unusedArgs,
    };
  } finally {
    await cache.release();
    await ingest.release();
    await context.dispose();
  }
}
