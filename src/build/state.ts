/**
 * @module build/state
 * What a build carries from step to step: the build-wide session (`BuildSession`: store,
 * context, cache, clock, events) and one stage's state (`StageState`: the image so far as a
 * draft and, once written, as an image in the store). Every step ends with a real image in
 * the store (config + manifest blobs, untagged, pinned by its cache record), so a RUN's
 * container and a later build's cache hit can both start from it.
 */
import type { Digest } from '../digest/index.js';
import type { ImageDraft } from '../image/draft.js';
import type { ResolvedImage } from '../image/resolve.js';
import { MediaType, parseConfig, parseManifest, type Descriptor, type Platform } from '../oci/index.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import type { BuildArgs, StageArgs } from './args.js';
import type { CacheSession } from './cache.js';
import type { LoadedContext } from './context.js';
import type { BuildEvent } from './output.js';

/**
 * A lock held from the first `acquire` until `release` (FileLock only offers callback scopes).
 * The build takes the store's ingest lock this way at its first write: a build where every step
 * comes from the cache writes nothing and takes no lock.
 */
export class LazyHold {
  readonly #run: (fn: () => Promise<void>) => Promise<void>;
  #held: Promise<void> | undefined;
  #let: (() => void) | undefined;
  #done: Promise<unknown> | undefined;

  constructor(run: (fn: () => Promise<void>) => Promise<void>) {
    this.#run = run;
  }

  acquire(): Promise<void> {
    this.#held ??= new Promise<void>((resolve, reject) => {
      this.#done = this.#run(
        () =>
          new Promise<void>((unlock) => {
            this.#let = unlock;
            resolve();
          }),
      ).catch(reject);
    });
    return this.#held;
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    await this.#held.catch(() => undefined);
    this.#let?.();
    await this.#done;
    this.#held = undefined;
  }
}

export interface BuildSession {
  readonly store: Store;
  /** Takes the store's ingest lock (gc waits) for the rest of the build: call before writing blobs. */
  hold(): Promise<void>;
  readonly context: LoadedContext;
  readonly file: string;
  readonly escape: '\\' | '`';
  readonly cache: CacheSession;
  readonly noCache: boolean;
  readonly buildArgs: BuildArgs;
  /** Meta ARG values (before the first FROM), platform args included. */
  readonly metaArgs: ReadonlyMap<string, string | undefined>;
  readonly platform: Platform;
  /** SOURCE_DATE_EPOCH: every `created`, and the newest layer mtime. */
  readonly timestamp?: Date;
  now(): Date;
  emit(event: BuildEvent): void;
  /** Stage results by index, as they are built. */
  readonly stageImages: Map<number, ResolvedImage>;
  /** Steps that ran something / came from the cache (for the result). */
  counts: { executed: number; cached: number; containers: number };
  /**
   * Store images the build named by tag (`name:tag` → index.json entry digest), for the memo;
   * undefined once one was named otherwise (an ID or digest: the memo cannot recheck it).
   */
  refs: Map<string, Digest> | undefined;
}

/** Notes which store image a reference named (for the memo). */
export function noteRef(session: BuildSession, text: string, image: ResolvedImage): void {
  const name = image.entry.annotations?.['org.opencontainers.image.ref.name'];
  let key: string | undefined;
  try {
    key = tagged(parseReference(text));
  } catch {
    key = undefined;
  }
  if (name !== undefined && key === name) session.refs?.set(name, image.entry.digest);
  else session.refs = undefined;
}

/** The image a stage has reached. */
export class StageState {
  draft: ImageDraft;
  /** The written image of `draft`, when it is written. */
  image: ResolvedImage | undefined;
  /** The cache key's notion of the parent: the image ID, or a description of an unwritten draft. */
  parentKey: string;
  author: string | undefined;
  readonly args: StageArgs;
  /** Whether this stage set CMD (ENTRYPOINT then keeps it; otherwise it clears an inherited one). */
  cmdSet = false;

  constructor(draft: ImageDraft, image: ResolvedImage | undefined, parentKey: string, args: StageArgs) {
    this.draft = draft;
    this.image = image;
    this.parentKey = parentKey;
    this.author = draft.config.author;
    this.args = args;
  }

  get config(): NonNullable<ImageDraft['config']['config']> {
    return this.draft.config.config ?? {};
  }

  /** Writes the draft as an image (if it is not written) and returns it. */
  async written(session: BuildSession): Promise<ResolvedImage> {
    if (this.image) return this.image;
    await session.hold();
    return this.#write(session, this.draft, session.timestamp ?? session.now());
  }

  /** Moves to a step's result: a new draft, written now (a FROM scratch stage may have no layer yet). */
  async advance(session: BuildSession, draft: ImageDraft, created: Date): Promise<ResolvedImage> {
    const image = await this.#write(session, draft, created);
    this.parentKey = image.id;
    return image;
  }

  async #write(session: BuildSession, draft: ImageDraft, created: Date): Promise<ResolvedImage> {
    const { writeImage, draftOf } = await import('../image/draft.js');
    const { manifestOf } = await import('../image/resolve.js');
    const descriptor = await writeImage(session.store, draft, { created, ...(this.author !== undefined ? { author: this.author } : {}) });
    this.image = await manifestOf(session.store, descriptor);
    this.draft = await draftOf(session.store, this.image);
    return this.image;
  }

  /** Moves to an image from the cache. */
  async adopt(session: BuildSession, manifest: Digest, size: number): Promise<void> {
    const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: manifest, size };
    const bytes = await session.store.blobs.readBytes(manifest);
    const parsed = parseManifest(bytes, `manifest ${manifest}`);
    const config = parseConfig(await session.store.blobs.readBytes(parsed.config.digest), `config ${parsed.config.digest}`);
    this.image = { entry: descriptor, descriptor, manifest: parsed, id: parsed.config.digest };
    this.draft = { config, layers: parsed.layers };
    this.parentKey = this.image.id;
    this.author = config.author;
  }
}
