/**
 * @module build/steps
 * One instruction → a prepared step: its `created_by`, its cache key (computed without running
 * anything: expansion, the context files it reads, the parent image ID) and how to run it. The
 * driver (build/stage) looks the key up and either adopts the cached image or runs the step.
 *
 * - Config-only instructions (ENV, LABEL, CMD, …, ARG) change the config through
 *   `applyConfigInstruction` and leave an `empty_layer` history entry.
 * - WORKDIR creates its directory (0755, root) as a layer when the image lacks it, else it is
 *   config-only, as docker's classic builder does.
 * - COPY/ADD write a layer from their sources (build/copy); RUN runs a container (build/run).
 */
import type { ImageDraft } from '../image/draft.js';
import type { ResolvedImage } from '../image/resolve.js';
import type { ContainerConfig, HistoryEntry } from '../oci/index.js';
import type { Readable } from 'node:stream';
import type { TarEntryInit } from '../tar/index.js';
import type { UnionView } from '../union/index.js';
import { CairnError } from '../errors.js';
import { envMap, expansionEnv, runArgs } from './args.js';
import { stepKey } from './cache.js';
import { applyConfigInstruction, commandArgv } from './config-steps.js';
import { collectSources, copyLayer, hashSources, type CopySpec } from './copy.js';
import { IgnoreMatcher } from './dockerignore.js';
import { goList, goQuoteList, healthcheckComment, nopComment, nopString, runCreatedBy } from './history.js';
import { chompHeredocContent, parseMount, type Instruction } from './parser/index.js';
import { expandWord } from './shell/index.js';
import { ImageTree, type SourceTree } from './sources.js';
import { findStage } from './stages.js';
import { noteRef, type BuildSession, type StageState } from './state.js';

export interface PreparedStep {
  readonly key: string;
  readonly createdBy: string;
  /** Runs the step on `state`'s image; returns the new draft (history entry included). */
  run(created: Date): Promise<ImageDraft>;
}

/** Where a stage is (for `--from` lookups). */
export interface StepContext {
  readonly stages: readonly import('./parser/index.js').Stage[];
}

/** What running a step needs; loaded on the first miss only (a cached build never does). */
const draftOps = (): Promise<typeof import('../image/draft.js')> => import('../image/draft.js');
const tarOps = (): Promise<typeof import('../tar/index.js')> => import('../tar/index.js');
const unionOps = (): Promise<typeof import('../union/index.js')> => import('../union/index.js');

/** The diffID of an empty layer tar (two zero blocks): docker keeps no such layer. */
export const EMPTY_TAR_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/**
 * Appends the layer `tar`, unless it holds nothing: then the step is an `empty_layer` history
 * entry, as docker records a RUN that changed no file (its blob is left for gc).
 */
async function appendOrEmpty(session: BuildSession, draft: ImageDraft, tar: Readable, entry: HistoryEntry, what: string): Promise<ImageDraft> {
  const { appendLayer, mutateConfig } = await draftOps();
  const next = await appendLayer(session.store, draft, tar, { history: entry, what });
  const diffIds = next.config.rootfs.diff_ids;
  if (diffIds[diffIds.length - 1] !== EMPTY_TAR_DIFF_ID) return next;
  return mutateConfig(draft, (c) => c, entry);
}

function history(createdBy: string, created: Date, author: string | undefined): HistoryEntry {
  return { created: created.toISOString(), created_by: createdBy, ...(author !== undefined ? { author } : {}) };
}

function key(session: BuildSession, state: StageState, step: string, inputs?: string, extra: Record<string, string | undefined> = {}): string {
  return stepKey({ parent: state.parentKey, step, ...(inputs !== undefined ? { inputs } : {}), extra: { ...extra, epoch: session.timestamp?.toISOString() } });
}

/** The comment of a config-only step (what follows `#(nop) `). */
function configComment(instruction: Instruction, before: ContainerConfig, after: ContainerConfig, expand: (w: string) => string): string {
  switch (instruction.kind) {
    case 'env':
      return `ENV ${instruction.pairs.map((p) => `${expand(p.key)}=${expand(p.value)}`).join(' ')}`;
    case 'label':
      return `LABEL ${instruction.pairs.map((p) => `${expand(p.key)}=${expand(p.value)}`).join(' ')}`;
    case 'maintainer':
      return `MAINTAINER ${instruction.maintainer}`;
    case 'cmd':
      return `CMD ${goQuoteList(after.Cmd ?? [])}`;
    case 'entrypoint':
      return `ENTRYPOINT ${goQuoteList(after.Entrypoint ?? [])}`;
    case 'expose':
      return `EXPOSE ${instruction.ports.map(expand).join(' ')}`;
    case 'user':
      return `USER ${after.User ?? ''}`;
    case 'volume':
      return `VOLUME ${goList(instruction.volumes.map(expand))}`;
    case 'stopsignal':
      return `STOPSIGNAL ${after.StopSignal ?? ''}`;
    case 'shell':
      return `SHELL ${goQuoteList(after.Shell ?? [])}`;
    case 'healthcheck':
      return after.Healthcheck ? healthcheckComment(after.Healthcheck) : 'HEALTHCHECK';
    case 'onbuild':
      return `ONBUILD ${instruction.expression}`;
    default:
      void before;
      return instruction.original;
  }
}

/**
 * Prepares one instruction of a stage.
 *
 * @throws CairnError for bad input (missing sources, unknown `--from`, bad flags), without a
 *   line: the driver adds `Dockerfile:N: `.
 */
export async function prepareStep(session: BuildSession, state: StageState, instruction: Instruction, ctx: StepContext): Promise<PreparedStep> {
  const lexer = { escape: session.escape };
  const env = expansionEnv(state.args, state.config.Env);
  const expand = (w: string): string => expandWord(w, env, lexer);
  const author = (): string | undefined => state.author;

  switch (instruction.kind) {
    case 'arg': {
      const parts: string[] = [];
      for (const def of instruction.args) {
        const given = session.buildArgs.get(def.key);
        let value: string | undefined;
        if (given !== undefined) value = given;
        else if (def.value !== undefined) value = expand(def.value);
        else value = session.metaArgs.get(def.key);
        state.args.declare(def.key, value);
        if (value !== undefined && !envMap(state.config.Env).has(def.key)) env.set(def.key, value);
        parts.push(def.value !== undefined ? `${def.key}=${def.value}` : def.key);
      }
      const createdBy = nopComment(`ARG ${parts.join(' ')}`, state.config.Shell);
      return {
        key: key(session, state, createdBy),
        createdBy,
        run: async (created) => (await draftOps()).mutateConfig(state.draft, (c) => c, history(createdBy, created, author())),
      };
    }
    case 'run':
      return prepareRun(session, state, instruction, env);
    case 'copy':
    case 'add':
      return prepareCopy(session, state, instruction, ctx, expand);
    case 'workdir':
      return prepareWorkdir(session, state, instruction, env);
    default: {
      let result = applyConfigInstruction(state.config, instruction, { env, escape: session.escape });
      let config = result.config;
      if (instruction.kind === 'entrypoint' && !state.cmdSet) config = { ...config, Cmd: null };
      if (instruction.kind === 'cmd') state.cmdSet = true;
      if (result.author !== undefined) state.author = result.author;
      result = { ...result, config };
      const createdBy = nopComment(configComment(instruction, state.config, config, expand), state.config.Shell);
      return {
        key: key(session, state, createdBy),
        createdBy,
        run: async (created) => (await draftOps()).mutateConfig(state.draft, () => config, history(createdBy, created, author())),
      };
    }
  }
}

async function prepareRun(session: BuildSession, state: StageState, instruction: Extract<Instruction, { kind: 'run' }>, env: Map<string, string>): Promise<PreparedStep> {
  if (instruction.security === 'insecure') throw new CairnError('unsupported', 'RUN --security=insecure is not supported', {});
  if (instruction.devices.length > 0) throw new CairnError('unsupported', 'RUN --device is not supported', {});
  const shell = state.config.Shell;
  let cmdLine = [...instruction.cmdLine];
  let script: (typeof instruction.files)[number] | undefined;
  let shown: string[];
  if (instruction.files.length > 0) {
    // BuildKit's rules: `RUN <<EOF` alone runs the body (a `#!` body as a file at /dev/pipes,
    // any other through the shell); a heredoc inside a longer command goes to the shell whole.
    if (!instruction.prependShell || cmdLine.length !== 1) throw new CairnError('invalid-argument', 'RUN heredocs need the shell form', {});
    const only = instruction.files[0];
    const marker = (cmdLine[0] as string).trim();
    const simple = instruction.files.length === 1 && only !== undefined && /^<<-?\s*["']?[^"'\s]+["']?$/.test(marker);
    if (simple && only) {
      const body = only.chomp ? chompHeredocContent(only.data) : only.data;
      if (body.startsWith('#!')) script = only;
      else cmdLine = [body];
      shown = commandArgv([`${marker}\n${only.data}${only.name}`], true, shell);
    } else {
      let text = cmdLine[0] as string;
      for (const file of instruction.files) text += `\n${file.data}${file.name}`;
      cmdLine = [text];
      shown = commandArgv(cmdLine, true, shell);
    }
  } else {
    shown = commandArgv(cmdLine, instruction.prependShell, shell);
  }
  const argv = commandArgv(script ? [`/dev/pipes/${script.name}`] : cmdLine, instruction.prependShell, shell);
  const args = runArgs(state.args, session.buildArgs.proxies(), state.config.Env);
  const createdBy = runCreatedBy(shown, args.history);
  const mounts = instruction.mounts.map((spec) => parseMount(spec, (v) => expandWord(v, env, { escape: session.escape })));
  const stepKeyText = JSON.stringify([createdBy, instruction.network, mounts]);
  return {
    key: key(session, state, stepKeyText),
    createdBy,
    run: async (created) => {
      const image = await state.written(session);
      const { runStep } = await import('./run.js');
      session.counts.containers++;
      let container = '';
      const step = await runStep(session.store, {
        image,
        argv,
        env: args.env,
        network: instruction.network,
        mounts,
        ...(script ? { script } : {}),
        workdir: state.config.WorkingDir ?? '/',
        volumes: Object.keys(state.config.Volumes ?? {}),
        contextRoot: session.context.root,
        ...(session.timestamp ? { clampMtime: session.timestamp } : {}),
        onOutput: (data) => session.emit({ type: 'output', data }),
        onContainer: (id) => {
          container = id;
          session.emit({ type: 'container', id });
        },
      });
      try {
        return await appendOrEmpty(session, state.draft, step.tar, history(createdBy, created, state.author), `the changes of ${createdBy}`);
      } finally {
        await step.done();
        session.emit({ type: 'removed', id: container });
      }
    },
  };
}

async function parentView(session: BuildSession, state: StageState): Promise<UnionView> {
  const { UnionView } = await unionOps();
  if (state.draft.layers.length === 0) return UnionView.fromLayers([]);
  return UnionView.open(session.store, await state.written(session));
}

/** The image `--from` names: a built stage, else an image in the store. */
async function fromImage(session: BuildSession, ctx: StepContext, from: string): Promise<ResolvedImage> {
  const index = findStage(ctx.stages, from);
  if (index !== undefined) {
    const image = session.stageImages.get(index);
    if (!image) throw new CairnError('invalid-document', `--from=${from}: the stage is not built yet`, { from });
    return image;
  }
  try {
    const { resolveImage } = await import('../image/resolve.js');
    await session.cache.release(); // as for FROM (build/stage): resolving may open the database
    const image = await resolveImage(session.store, from);
    noteRef(session, from, image);
    return image;
  } catch (err) {
    if (err instanceof CairnError && err.code === 'not-found') {
      throw new CairnError('not-found', `--from=${from}: no stage or image named "${from}" (cairn build does not pull images: load it into the store first)`, { from }, { cause: err });
    }
    throw err;
  }
}

async function prepareCopy(
  session: BuildSession,
  state: StageState,
  instruction: Extract<Instruction, { kind: 'copy' | 'add' }>,
  ctx: StepContext,
  expand: (w: string) => string,
): Promise<PreparedStep> {
  const keyword = instruction.kind === 'copy' ? 'COPY' : 'ADD';
  if (instruction.kind === 'add' && instruction.checksum !== undefined) throw new CairnError('unsupported', 'ADD --checksum is only for remote sources, which cairn does not fetch', {});
  const from = instruction.kind === 'copy' && instruction.from !== undefined ? expand(instruction.from) : undefined;
  const exclude = instruction.exclude.length > 0 ? IgnoreMatcher.from(instruction.exclude.map(expand)) : undefined;
  const spec: CopySpec = {
    keyword,
    sources: instruction.sources.map(expand),
    contents: instruction.contents.map((c) => ({ name: c.path, data: Buffer.from(c.expand ? expand(c.data) : c.data) })),
    dest: expand(instruction.dest),
    workdir: state.config.WorkingDir ?? '/',
    ...(instruction.chown !== undefined ? { chown: expand(instruction.chown) } : {}),
    ...(instruction.chmod !== undefined ? { chmod: expand(instruction.chmod) } : {}),
    ...(exclude ? { exclude } : {}),
    parents: instruction.kind === 'copy' && instruction.parents,
    fromContext: from === undefined,
    extract: instruction.kind === 'add' && instruction.unpack !== false,
  };
  const stepText = JSON.stringify([keyword, spec.sources, spec.contents.map((c) => c.name), spec.dest, spec.chown ?? null, spec.chmod ?? null, from ?? null, spec.parents, instruction.exclude, spec.extract]);
  let tree: SourceTree | undefined;
  let inputs: string;
  let sourceImage: ResolvedImage | undefined;
  let collected: Awaited<ReturnType<typeof collectSources>> | undefined;
  let sourceHash: string | undefined;
  if (from === undefined) {
    tree = session.context.tree;
    collected = await collectSources(tree, spec);
    const hashed = await hashSources(tree, collected, spec);
    inputs = hashed.inputs;
    sourceHash = hashed.sourceHash;
  } else {
    sourceImage = await fromImage(session, ctx, from);
    inputs = `image:${sourceImage.id}`;
  }
  const stepKeyValue = key(session, state, stepText, inputs);
  const createdByFor = (hash: string): string => nopString(`${keyword} ${spec.chown ? `--chown=${spec.chown}` : ''}${hash} in ${spec.dest} `, state.config.Shell);
  return {
    key: stepKeyValue,
    createdBy: createdByFor(sourceHash ?? 'file:'),
    run: async (created) => {
      if (sourceImage) {
        const { UnionView } = await unionOps();
        tree = new ImageTree(await UnionView.open(session.store, sourceImage), `stage ${from}`);
        collected = await collectSources(tree, spec);
        sourceHash = (await hashSources(tree, collected, spec)).sourceHash;
      }
      if (!tree) throw new Error('COPY: no source tree');
      const image = await parentView(session, state);
      const { items, cleanup } = await copyLayer(tree, collected ?? [], spec, image, { now: created, tmpDir: session.store.paths.tmp });
      try {
        const { packTar } = await tarOps();
        const tar = packTar(items, session.timestamp ? { clampMtime: session.timestamp } : {});
        return await appendOrEmpty(session, state.draft, tar, history(createdByFor(sourceHash ?? ''), created, state.author), `${keyword} layer`);
      } finally {
        await cleanup();
      }
    },
  };
}

async function prepareWorkdir(session: BuildSession, state: StageState, instruction: Extract<Instruction, { kind: 'workdir' }>, env: Map<string, string>): Promise<PreparedStep> {
  const { config } = applyConfigInstruction(state.config, instruction, { env, escape: session.escape });
  const dir = config.WorkingDir ?? '/';
  const createdBy = nopString(`WORKDIR ${dir}`, state.config.Shell);
  return {
    key: key(session, state, createdBy),
    createdBy,
    run: async (created) => {
      const image = await parentView(session, state);
      const parts = dir.split('/').filter((p) => p !== '' && p !== '.');
      const { placeDir } = await import('./image-paths.js');
      const { base, missing } = placeDir(image, parts);
      const entry = history(createdBy, created, state.author);
      const { appendLayer, mutateConfig } = await draftOps();
      const withConfig = mutateConfig(state.draft, () => config);
      if (missing.length === 0) return mutateConfig(withConfig, (c) => c, entry);
      const entries: { entry: TarEntryInit }[] = [];
      let at = base;
      for (const part of missing) {
        at = at === '' ? part : `${at}/${part}`;
        entries.push({ entry: { path: at, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: created } });
      }
      const { packTar } = await tarOps();
      return appendLayer(session.store, withConfig, packTar(entries), { history: entry, what: 'WORKDIR layer' });
    },
  };
}
