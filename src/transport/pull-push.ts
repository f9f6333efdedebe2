/**
 * @module transport/pull-push
 * `pull` and `push` as docker users know them: copies between a registry and the store where the
 * image name says which registry (`127.0.0.1:5000/team/app:1`; no host means Docker Hub).
 * A pull is tagged in the store with the name as typed; a pull by digest is kept untagged, as
 * docker does. A push goes to the registry its name names, or to an explicit destination.
 */
import { parseReference, tagged } from '../store/reference.js';
import type { ImageRecord } from './types.js';
import { copy, copyBetween, type CopyOptions } from './open.js';
import { parseTransportName, type TransportName } from './names.js';
import { parseRegistryReference } from './registry/reference.js';

/** Pulls `NAME[:TAG|@DIGEST]` (or `docker://…`) into the store. */
export async function pull(reference: string, options: CopyOptions): Promise<{ record: ImageRecord; names: readonly string[] }> {
  const text = reference.startsWith('docker://') ? reference.slice('docker://'.length) : reference;
  parseRegistryReference(text, 'image to pull');
  const ref = parseReference(text, 'image to pull');
  const names = ref.digest === undefined ? [tagged(ref)] : [];
  const record = await copyBetween({ kind: 'docker', reference: text }, { kind: 'store', ref: text }, names, options);
  return { record, names };
}

/**
 * Pushes a store image. `destination`: a registry reference or any transport name (`oci:…`,
 * `docker://…`); without it, the image's own name is the registry reference.
 */
export async function push(image: string, destination: string | undefined, options: CopyOptions): Promise<ImageRecord> {
  const target = destination ?? image;
  const named = parseTransportName(target);
  // A plain name (what the store transport would take) is a registry reference here.
  const to: TransportName = named.kind === 'store' ? { kind: 'docker', reference: target } : named;
  if (to.kind !== 'docker') return copy(image, target, options);
  parseRegistryReference(to.reference, 'push destination');
  return copyBetween({ kind: 'store', ref: image }, to, [], options);
}
