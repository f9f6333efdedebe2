/**
 * @module build/stage
 * Runs one stage: FROM (scratch, a store image, or an earlier stage's image; docker's default
 * PATH added when the base has none), the base's ONBUILD triggers (cleared from the child, as
 * docker does), then each instruction as a cached step. A step found in the cache runs nothing:
 * its recorded image is adopted and the next key is computed from it; a miss closes the cache
 * session (the store lock) and runs the step. Errors come out located: `Dockerfile:N: …`.
 */
import { CairnError } from '../errors.js';
import type { ImageDraft } from '../image/draft.js';
import { resolveImage, type ResolvedImage } from '../image/resolve.js';
import { configPlatform, formatPlatform, parseConfig, parsePlatform, platformMatches } from '../oci/index.js';
import { StageArgs, envMap } from './args.js';
import { CACHE_VERSION } from './cache.js';
import { parseDockerfile, parseInstructions, type Instruction } from './parser/index.js';
import { expandWord } from './shell/index.js';
import type { StagePlan } from './stages.js';
import { noteRef, StageState, type BuildSession } from './state.js';
import { prepareStep, type StepContext } from './steps.js';

/** Step numbering across the build (`Step 3/7`). */
export interface StepCounter {
  n: number;
  readonly total: number;
}

/** `err` with the instruction's line in front of its message (once). */
export function locate(err: unknown, file: string, at: { readonly startLine: number; readonly endLine: number }): unknown {
  if (!(err instanceof CairnError)) return err;
  if (err.message.startsWith(`${file}:`) || typeof err.data.line === 'number') return err;
  return new CairnError(err.code, `${file}:${at.startLine}: ${err.message}`, { ...err.data, file, line: at.startLine, endLine: at.endLine, reason: err.message }, { cause: err });
}

/** docker's PATH for images that set none (runtime/spec's DEFAULT_PATH; not imported so a cached build loads no runtime code). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function withDefaultPath(draft: ImageDraft): { draft: ImageDraft; changed: boolean } {
  const env = draft.config.config?.Env ?? [];
  if (envMap(env).has('PATH')) return { draft, changed: false };
  return { draft: { ...draft, config: { ...draft.config, config: { ...(draft.config.config ?? {}), Env: [...env, `PATH=${DEFAULT_PATH}`] } } }, changed: true };
}

async function baseState(session: BuildSession, plan: StagePlan): Promise<{ state: StageState; baseId: string; base: ResolvedImage | undefined }> {
  const { stage } = plan;
  let platform = session.platform;
  if (stage.from.platform !== undefined) {
    const text = expandWord(stage.from.platform, new Map([...session.metaArgs].filter((e): e is [string, string] => e[1] !== undefined)), { escape: session.escape });
    platform = parsePlatform(text);
  }
  let image: ResolvedImage | undefined;
  let draft: ImageDraft;
  let parentKey: string;
  if (plan.base.kind === 'scratch') {
    draft = (await import('../image/draft.js')).scratchImage();
    parentKey = `scratch:${formatPlatform(platform)}`;
  } else {
    if (plan.base.kind === 'stage') {
      image = session.stageImages.get(plan.base.index);
      if (!image) throw new CairnError('invalid-document', `stage ${plan.base.index} is not built yet`, {});
    } else {
      try {
        // An ID found nowhere else is looked up in the build cache's database (image/resolve):
        // the cache session must not hold it open (and the store lock with it) meanwhile.
        await session.cache.release();
        image = await resolveImage(session.store, plan.base.ref, { platform });
        noteRef(session, plan.base.ref, image);
      } catch (err) {
        if (err instanceof CairnError && err.code === 'not-found') {
          throw new CairnError('not-found', `FROM ${plan.base.ref}: image "${plan.base.ref}" is not in the store (cairn build does not pull: load it first, e.g. cairn copy or cairn load)`, { reference: plan.base.ref }, { cause: err });
        }
        throw err;
      }
    }
    const configDigest = image.manifest.config.digest;
    draft = { config: parseConfig(await session.store.blobs.readBytes(configDigest), `config ${configDigest}`), layers: image.manifest.layers };
    // A single-platform image is what it is, whatever --platform asked for: refuse a mismatch
    // (docker's message) instead of running the wrong architecture.
    const actual = configPlatform(draft.config);
    if (plan.base.kind === 'image' && stage.from.platform !== undefined && !platformMatches(platform, actual)) {
      throw new CairnError('not-found', `FROM ${plan.base.ref}: image with reference ${plan.base.ref} was found but does not match the specified platform: wanted ${formatPlatform(platform)}, actual: ${formatPlatform(actual)}`, { reference: plan.base.ref });
    }
    parentKey = image.id;
  }
  const baseId = image?.id ?? '';
  const base = image;
  // The child's author comes from its own MAINTAINER only (docker's classic builder).
  if (draft.config.author !== undefined) {
    const { author: _author, ...config } = draft.config;
    draft = { ...draft, config };
    image = undefined;
    parentKey = `${parentKey}-author`;
  }
  const pathed = withDefaultPath(draft);
  if (pathed.changed) {
    image = undefined;
    parentKey = `${parentKey}+PATH`;
  }
  return { state: new StageState(pathed.draft, image, parentKey, new StageArgs()), baseId, base };
}

async function runInstruction(session: BuildSession, state: StageState, instruction: Instruction, ctx: StepContext, file: string): Promise<void> {
  try {
    const prepared = await prepareStep(session, state, instruction, ctx);
    if (!session.noCache) {
      const record = await session.cache.get(prepared.key);
      if (record && (await session.store.blobs.has(record.manifest)) && (await session.store.blobs.has(record.config))) {
        session.emit({ type: 'cached' });
        await state.adopt(session, record.manifest, record.manifestSize);
        session.counts.cached++;
        session.emit({ type: 'image', id: record.config });
        return;
      }
    }
    await session.cache.release();
    await session.hold();
    const created = session.timestamp ?? session.now();
    const draft = await prepared.run(created);
    const image = await state.advance(session, draft, created);
    session.cache.put(prepared.key, {
      v: CACHE_VERSION,
      manifest: image.descriptor.digest,
      config: image.id,
      manifestSize: image.descriptor.size,
      gcRoots: [image.descriptor.digest],
      createdBy: draft.config.history?.[draft.config.history.length - 1]?.created_by ?? prepared.createdBy,
      at: session.now().toISOString(),
    });
    session.counts.executed++;
    session.emit({ type: 'image', id: image.id });
  } catch (err) {
    throw locate(err, file, instruction);
  }
}

function parseTrigger(text: string): Instruction {
  const parsed = parseInstructions(parseDockerfile(`FROM scratch\n${text}`, { file: 'ONBUILD' }));
  const instruction = parsed.stages[0]?.instructions[0];
  if (!instruction) throw new CairnError('invalid-document', `ONBUILD trigger "${text}" holds no instruction`, { trigger: text });
  return instruction;
}

/** Builds one stage; resolves with its image (written, untagged). */
export async function buildStage(session: BuildSession, plan: StagePlan, ctx: StepContext, counter: StepCounter): Promise<ResolvedImage> {
  const { stage } = plan;
  const file = session.file;
  session.emit({ type: 'step', index: ++counter.n, total: counter.total, text: stage.original });
  let state: StageState;
  let baseId: string;
  let base: ResolvedImage | undefined;
  try {
    ({ state, baseId, base } = await baseState(session, plan));
  } catch (err) {
    throw locate(err, file, stage);
  }
  session.emit({ type: 'image', id: baseId, base: true });

  const triggers = state.config.OnBuild ?? [];
  if (triggers.length > 0) {
    session.emit({ type: 'triggers', count: triggers.length });
    state.draft = { ...state.draft, config: { ...state.draft.config, config: { ...state.config, OnBuild: null } } };
    state.image = undefined;
    state.parentKey = `${state.parentKey}+onbuild`;
    for (const trigger of triggers) {
      let instruction: Instruction;
      try {
        instruction = parseTrigger(trigger);
      } catch (err) {
        throw locate(err, file, stage);
      }
      await runInstruction(session, state, { ...instruction, startLine: stage.startLine, endLine: stage.endLine }, ctx, file);
    }
  }

  // A bare `FROM image` is that image, as in docker (not a copy without its author).
  if (base && triggers.length === 0 && stage.instructions.length === 0) return base;
  for (const instruction of stage.instructions) {
    session.emit({ type: 'step', index: ++counter.n, total: counter.total, text: instruction.original });
    await runInstruction(session, state, instruction, ctx, file);
  }
  return state.written(session);
}
