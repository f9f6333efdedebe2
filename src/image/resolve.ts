/**
 * @module image/resolve
 * Finds the image a user means, as docker does: a tag (`name`, `name:tag`), `name@digest`, a
 * manifest digest, or an image ID (the config digest, `sha256:` optional) or any unique prefix
 * of one. Indexes resolve to the manifest for the requested platform.
 *
 * An ID that no index.json entry has may be a build step's intermediate image, which only the
 * build cache holds (`images -a` lists them; docker finds any image that lists): those are
 * looked up then (build/step-images), and only then is the metadata database opened.
 */
import { isDigest, type Digest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import {
  hostPlatform,
  isIndexType,
  parseIndex,
  parseManifest,
  selectManifest,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from '../oci/index.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import { refNameOf } from '../store/tags.js';

/** An image resolved in the store. */
export interface ResolvedImage {
  /** The index.json entry that led here (tag or untagged entry). */
  readonly entry: Descriptor;
  /** The image manifest's descriptor (differs from `entry` when `entry` is an index). */
  readonly descriptor: Descriptor;
  readonly manifest: ImageManifest;
  /** The image ID: the config digest. */
  readonly id: Digest;
}

export interface ResolveOptions {
  readonly platform?: Platform;
  /**
   * Check the manifest's (and index's) digest as it is read (default true). `false` trusts the
   * store: a blob is in it only after its digest matched (design §1), and fsck checks them all.
   */
  readonly verify?: boolean;
}

/** Reads the manifest an index.json entry points to, choosing a platform when it is an index. */
export async function manifestOf(store: Store, entry: Descriptor, options: ResolveOptions = {}): Promise<ResolvedImage> {
  let descriptor = entry;
  const read = { verify: options.verify ?? true };
  let bytes = await store.blobs.readBytes(entry.digest, read);
  if (isIndexType(entry.mediaType)) {
    const index = parseIndex(bytes, `index ${entry.digest}`);
    descriptor = selectManifest(index, options.platform ?? hostPlatform());
    bytes = await store.blobs.readBytes(descriptor.digest, read);
  }
  const manifest = parseManifest(bytes, `manifest ${descriptor.digest}`);
  return { entry, descriptor, manifest, id: manifest.config.digest };
}

/** Resolves `text` to one image in the store or throws a 'not-found' naming `text`. */
export async function resolveImage(store: Store, text: string, options: ResolveOptions = {}): Promise<ResolvedImage> {
  const entries = (await store.readIndex()).manifests;
  const idText = text.startsWith('sha256:') ? text.slice(7) : text;
  const looksLikeId = /^[0-9a-f]{3,64}$/.test(idText);

  if (!looksLikeId || !text.startsWith('sha256:')) {
    const byTag = await resolveByName(store, entries, text, options);
    if (byTag) return byTag;
  }
  if (isDigest(text)) {
    const byManifest = entries.find((d) => d.digest === text);
    if (byManifest) return manifestOf(store, byManifest, options);
  }
  if (looksLikeId) {
    let matches = await imagesWithIdPrefix(store, entries, idText, options);
    if (matches.size === 0) {
      const { stepImages } = await import('../build/step-images.js');
      const steps = (await stepImages(store)).filter((step) => step.id.slice(7).startsWith(idText));
      matches = await imagesWithIdPrefix(store, steps.map((step) => step.descriptor), idText, options);
    }
    if (matches.size === 1) return [...matches.values()][0] as ResolvedImage;
    if (matches.size > 1) {
      throw new CairnError('invalid-argument', `image ID prefix "${text}" is ambiguous: it matches ${matches.size} images`, {
        reference: text,
      });
    }
  }
  throw new CairnError('not-found', `image "${text}" is not in the store ${store.root}`, { reference: text });
}

/** The images of `entries` whose ID (hex, no `sha256:`) starts with `idText`, one per ID. */
async function imagesWithIdPrefix(
  store: Store,
  entries: readonly Descriptor[],
  idText: string,
  options: ResolveOptions,
): Promise<Map<Digest, ResolvedImage>> {
  const matches = new Map<Digest, ResolvedImage>();
  for (const entry of entries) {
    const image = await manifestOf(store, entry, options).catch(() => undefined);
    if (image && image.id.slice(7).startsWith(idText) && !matches.has(image.id)) matches.set(image.id, image);
  }
  return matches;
}

async function resolveByName(
  store: Store,
  entries: readonly Descriptor[],
  text: string,
  options: ResolveOptions,
): Promise<ResolvedImage | undefined> {
  let ref;
  try {
    ref = parseReference(text);
  } catch {
    return undefined;
  }
  if (ref.digest !== undefined) {
    const entry = entries.find((d) => d.digest === ref.digest && refNameOf(d)?.startsWith(`${ref.name}:`));
    return entry ? manifestOf(store, entry, options) : undefined;
  }
  const key = tagged(ref);
  const entry = entries.find((d) => refNameOf(d) === key);
  return entry ? manifestOf(store, entry, options) : undefined;
}
