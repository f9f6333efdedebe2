/**
 * @module oci/config
 * Identities derived from an image configuration (config.md "Layer DiffID", "Layer ChainID",
 * "ImageID") and the pairing of `history` entries with layers. Hashing goes through a
 * `HasherFactory`, so this runs in a browser as well (pass `nobleSha256` there, `nodeSha256`
 * on Node).
 */
import { CairnError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import type { HasherFactory } from '../digest/hasher.js';
import type { HistoryEntry, ImageConfig, Platform } from './types.js';

/**
 * The ChainID of every prefix of the layer stack: ChainID(L0) = DiffID(L0), and
 * ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)), over the UTF-8 of the digest
 * strings. Element i identifies the filesystem after applying layers 0..i, which is why
 * unpacked layers are keyed by it (design §6).
 *
 * @example chainIds(config.rootfs.diff_ids, nodeSha256).at(-1) // the image's top ChainID
 */
export function chainIds(diffIds: readonly Digest[], hasher: HasherFactory): Digest[] {
  const out: Digest[] = [];
  const encoder = new TextEncoder();
  for (const diffId of diffIds) {
    const parent = out.at(-1);
    if (parent === undefined) {
      out.push(diffId);
    } else {
      const h = hasher();
      h.update(encoder.encode(`${parent} ${diffId}`));
      out.push(h.digest());
    }
  }
  return out;
}

/** The ChainID of the whole stack. @throws CairnError 'invalid-argument' for an empty stack */
export function chainId(diffIds: readonly Digest[], hasher: HasherFactory): Digest {
  const top = chainIds(diffIds, hasher).at(-1);
  if (top === undefined) throw new CairnError('invalid-argument', 'a ChainID needs at least one layer');
  return top;
}

/**
 * The ImageID: the digest of the config's exact bytes (config.md). Hash the bytes as stored,
 * never a re-encoding of a parsed config.
 */
export function imageId(configBytes: Uint8Array, hasher: HasherFactory): Digest {
  const h = hasher();
  h.update(configBytes);
  return h.digest();
}

/** One `history` entry and the layer it made, if it made one. */
export interface HistoryLayer {
  /** Undefined for a layer the history does not describe. */
  readonly history: HistoryEntry | undefined;
  /** Undefined for an `empty_layer` step, or a non-empty step past the last diff ID. */
  readonly diffId: Digest | undefined;
  /** Index into `rootfs.diff_ids` (and the manifest's `layers`). */
  readonly layerIndex: number | undefined;
}

/**
 * Pairs history with layers, oldest step first (`docker history` prints the reverse): each
 * entry without `empty_layer` takes the next diff ID. Diff IDs left over (a config with
 * short or missing history) are listed after the history with no entry; entries left over
 * get no layer. Nothing is dropped, so a mismatch stays visible.
 */
export function historyWithLayers(config: ImageConfig): HistoryLayer[] {
  const diffIds = config.rootfs.diff_ids;
  const out: HistoryLayer[] = [];
  let next = 0;
  for (const entry of config.history ?? []) {
    if (entry.empty_layer === true || next >= diffIds.length) {
      out.push({ history: entry, diffId: undefined, layerIndex: undefined });
    } else {
      out.push({ history: entry, diffId: diffIds[next], layerIndex: next });
      next++;
    }
  }
  for (; next < diffIds.length; next++) out.push({ history: undefined, diffId: diffIds[next], layerIndex: next });
  return out;
}

/** The platform a config declares (its top-level architecture, os, variant, os.*). */
export function configPlatform(config: ImageConfig): Platform {
  return {
    architecture: config.architecture,
    os: config.os,
    ...(config['os.version'] ? { 'os.version': config['os.version'] } : {}),
    ...(config['os.features'] ? { 'os.features': config['os.features'] } : {}),
    ...(config.variant ? { variant: config.variant } : {}),
  };
}
