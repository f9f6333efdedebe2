/**
 * @module transport/oci-layout
 * `oci:DIR[:REF]` (skopeo's syntax). REF matches an index.json entry's
 * `org.opencontainers.image.ref.name` exactly, `@sha256:…` names a manifest by digest, and no REF
 * means the only entry there is. As a destination, REF is written as the ref.name annotation.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomHex } from '../sys/crypto.js';
import { isDigest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import { OciLayout } from '../store/layout.js';
import { refNameOf, withTag, withoutTag } from '../store/tags.js';
import { LayoutDestination, LayoutSource } from './layout.js';
import type { ImageDestination, ImageRecord, ImageSource } from './types.js';

export async function openOciLayoutSource(dir: string, ref?: string): Promise<ImageSource> {
  const layout = new OciLayout(dir, path.join(dir, '.cairn-tmp'));
  const description = `oci:${dir}${ref ? `:${ref}` : ''}`;
  if (!(await layout.exists())) {
    throw new CairnError('not-found', `${description}: ${dir} is not an OCI layout (no oci-layout file)`, { path: dir });
  }
  return new LayoutSource(layout, description, async () => pickEntry((await layout.readIndex()).manifests, ref, description));
}

/** Finds the index.json entry REF names. Exported for the oci-archive transport. */
export function pickEntry(manifests: readonly Descriptor[], ref: string | undefined, description: string): Descriptor {
  if (ref === undefined || ref === '') {
    if (manifests.length === 1) return manifests[0] as Descriptor;
    const names = manifests.map((d) => refNameOf(d) ?? d.digest).join(', ');
    throw new CairnError(
      'invalid-argument',
      manifests.length === 0 ? `${description}: the layout holds no images` : `${description}: the layout holds ${manifests.length} images; name one of: ${names}`,
      { description },
    );
  }
  const digest = ref.startsWith('@') ? ref.slice(1) : undefined;
  const found = digest !== undefined && isDigest(digest)
    ? manifests.find((d) => d.digest === digest)
    : manifests.find((d) => refNameOf(d) === ref);
  if (!found) {
    const names = manifests.map((d) => refNameOf(d)).filter((n): n is string => n !== undefined);
    throw new CairnError('not-found', `${description}: no image named "${ref}"${names.length ? ` (there are: ${names.join(', ')})` : ''}`, {
      description,
      ref,
    });
  }
  return found;
}

/**
 * A layout destination. Blobs stage in a hidden directory inside DIR (same filesystem, so the
 * commit is a rename), removed on close.
 */
export async function openOciLayoutDestination(dir: string, ref?: string): Promise<ImageDestination> {
  const tmp = path.join(dir, `.cairn-tmp-${randomHex(4)}`);
  const layout = new OciLayout(dir, tmp);
  await layout.exists();
  await mkdir(dir, { recursive: true });
  await layout.ensure();
  const description = `oci:${dir}${ref ? `:${ref}` : ''}`;
  const record = async (images: readonly ImageRecord[]): Promise<void> => {
    const index = await layout.readIndex();
    let manifests = [...index.manifests];
    for (const image of images) {
      const names = image.names.length > 0 ? image.names : ref !== undefined ? [ref] : [];
      if (names.length === 0) manifests = withTag(manifests, undefined, image.descriptor);
      // skopeo replaces an entry with the same name rather than keeping the old one untagged.
      for (const name of names) manifests = withTag(withoutTag(manifests, name), name, image.descriptor);
    }
    await layout.writeIndex({ ...index, manifests });
  };
  return new LayoutDestination(layout, description, record, () => rm(tmp, { recursive: true, force: true }));
}
