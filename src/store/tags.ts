/**
 * @module store/tags
 * Tags as entries of an OCI layout's index.json: a manifest descriptor carrying the annotation
 * `org.opencontainers.image.ref.name` = `name:tag` (what skopeo's `oci:DIR:name:tag` looks up).
 * Pure functions over the manifests list, shared by the store and the `oci:` transport.
 */
import type { Descriptor } from '../oci/types.js';
import { splitTagged } from './reference.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** One index.json entry seen as a tag; `name` is undefined for an untagged image. */
export interface TagRecord {
  readonly name?: string;
  readonly tag?: string;
  readonly descriptor: Descriptor;
}

export function refNameOf(descriptor: Descriptor): string | undefined {
  return descriptor.annotations?.[REF_NAME_ANNOTATION];
}

export function tagRecords(manifests: readonly Descriptor[]): TagRecord[] {
  return manifests.map((descriptor) => {
    const value = refNameOf(descriptor);
    if (value === undefined) return { descriptor };
    const { name, tag } = splitTagged(value);
    return { name, tag, descriptor };
  });
}

function withoutAnnotation(descriptor: Descriptor): Descriptor {
  const { annotations, ...plain } = descriptor;
  if (!annotations) return plain;
  const { [REF_NAME_ANNOTATION]: _ref, ...others } = annotations;
  return Object.keys(others).length > 0 ? { ...plain, annotations: others } : plain;
}

/**
 * Points `key` (`name:tag`, or undefined for "keep untagged") at `descriptor`. An image the tag
 * moves away from stays as an untagged entry, as docker keeps a dangling `<none>` image, so a
 * re-tag never makes content unreachable behind the user's back.
 */
export function withTag(manifests: readonly Descriptor[], key: string | undefined, descriptor: Descriptor): Descriptor[] {
  const plain = withoutAnnotation(descriptor);
  if (key === undefined) {
    return manifests.some((d) => d.digest === descriptor.digest) ? [...manifests] : [...manifests, plain];
  }
  const previous = manifests.find((d) => refNameOf(d) === key);
  const next = manifests.filter((d) => refNameOf(d) !== key && !(d.digest === descriptor.digest && refNameOf(d) === undefined));
  if (previous && previous.digest !== descriptor.digest && !next.some((d) => d.digest === previous.digest)) {
    next.push(withoutAnnotation(previous));
  }
  next.push({ ...plain, annotations: { ...plain.annotations, [REF_NAME_ANNOTATION]: key } });
  return next;
}

export function withoutTag(manifests: readonly Descriptor[], key: string): Descriptor[] {
  return manifests.filter((d) => refNameOf(d) !== key);
}
