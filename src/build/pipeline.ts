/**
 * @module build/pipeline
 * The build proper, once the context is loaded and no memo answered (build/builder): parse,
 * plan the stages, run them step by step with the cache (build/stage), flush the cache, tag.
 * Loaded only when a build has something to do, so the rebuild shortcut loads none of this.
 */
import { CairnError } from '../errors.js';
import type { ResolvedImage } from '../image/resolve.js';
import { hostPlatform, type Descriptor } from '../oci/index.js';
import type { Store } from '../store/store.js';
import { REF_NAME_ANNOTATION } from '../store/tags.js';
import { BuildArgs, platformArgs } from './args.js';
import { CacheSession } from './cache.js';
import type { LoadedContext } from './context.js';
import type { BuildEvent } from './output.js';
import { parseDockerfile, parseInstructions } from './parser/index.js';
import { expandWord } from './shell/index.js';
import { buildStage, locate, type StepCounter } from './stage.js';
import { planStages } from './stages.js';
import { LazyHold, type BuildSession } from './state.js';
import type { Digest } from '../digest/index.js';

export interface PipelineOptions {
  readonly tags: readonly string[];
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly noCache: boolean;
  readonly timestamp?: Date;
  readonly now: () => Date;
  readonly emit: (event: BuildEvent) => void;
}

export interface PipelineResult {
  readonly id: Digest;
  readonly descriptor: Descriptor;
  readonly executed: number;
  readonly cached: number;
  readonly containers: number;
  readonly unusedArgs: readonly string[];
  /** Store images named by tag (for the memo); undefined when one was named otherwise (ID, digest). */
  readonly refs: Readonly<Record<string, Digest>> | undefined;
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

/** Runs the build of a loaded context; see build/builder for the contracts. */
export async function runPipeline(store: Store, context: LoadedContext, options: PipelineOptions): Promise<PipelineResult> {
  const { tags, emit } = options;
  const cache = new CacheSession(store);
  const ingest = new LazyHold((fn) => store.ingest(fn));
  try {
    const file = context.dockerfile.name;
    const parsedFile = parseDockerfile(context.dockerfile.text, { file });
    const parsed = parseInstructions(parsedFile);
    const escape = parsedFile.escapeChar;
    const buildArgs = new BuildArgs(options.buildArgs);
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
      noCache: options.noCache,
      buildArgs,
      metaArgs,
      platform: hostPlatform(),
      ...(options.timestamp ? { timestamp: options.timestamp } : {}),
      now: options.now,
      emit,
      stageImages: new Map(),
      counts: { executed: 0, cached: 0, containers: 0 },
      refs: new Map(),
    };
    const counter: StepCounter = { n: 0, total: plan.order.reduce((n, p) => n + 1 + p.stage.instructions.length, 0) };
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
    const unusedArgs = buildArgs.unused();
    if (unusedArgs.length > 0) emit({ type: 'warning', text: `One or more build-args [${unusedArgs.join(' ')}] were not consumed` });
    return {
      id: last.id,
      descriptor: last.descriptor,
      executed: session.counts.executed,
      cached: session.counts.cached,
      containers: session.counts.containers,
      unusedArgs,
      refs: session.refs ? Object.fromEntries(session.refs) : undefined,
    };
  } finally {
    await cache.release();
    await ingest.release();
  }
}
