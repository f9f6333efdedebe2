/**
 * @module transport/oci-archive
 * `oci-archive:FILE[:REF]` (skopeo's syntax): an OCI image layout in one tar file.
 *
 * Source: the tar is indexed once (./archive-index.ts) and blobs are served straight from their
 * offsets in it; nothing is extracted. REF picks an index.json entry exactly as `oci:` does
 * (./oci-layout.ts `pickEntry`): the `org.opencontainers.image.ref.name` annotation must equal
 * REF. skopeo 1.9 matches the same way, exactly: `oci-archive:F:1.0` does not find an entry
 * named `docker.io/library/foo:1.0` (checked against the real skopeo in
 * test/transport/oci-archive.test.ts).
 *
 * Destination: blobs are ingested into a staging OCI layout under the caller's temp dir (the
 * store's BlobStore, so digest and size are checked while writing); `commit` checks that every
 * blob the images need is there, then writes the tar in a fixed order (`oci-layout`,
 * `index.json`, `blobs/`, `blobs/sha256/`, the blobs sorted by digest; mtime 0, owner 0:0) to a
 * temp file beside FILE and renames it into place. Same images in, same bytes out.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { digestAlgorithm, digestHex, isDigest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import { isIndexType, isNondistributableLayerType, MediaType, type Descriptor } from '../oci/index.js';
import { OciLayout } from '../store/layout.js';
import { REF_NAME_ANNOTATION, refNameOf } from '../store/tags.js';
import { ArchiveIndex, writeArchiveAtomic, type ArchiveItem, type ArchiveMember } from './archive-index.js';
import { LayoutDestination } from './layout.js';
import { pickEntry } from './oci-layout.js';
import type { ImageDestination, ImageRecord, ImageSource, RootDocument } from './types.js';

export interface OciArchiveSourceOptions {
  /** An index.json ref name (exact match), or `@sha256:…`; default: the only entry. */
  readonly ref?: string;
  /** Where a compressed archive is decompressed; removed on close. */
  readonly tmpDir?: string;
}

export interface OciArchiveSource extends ImageSource {
  /** The ref names index.json gives the chosen entry (an image may be listed under several). */
  readonly names: readonly string[];
}

const LAYOUT_HEADER = '{"imageLayoutVersion":"1.0.0"}';

/** An OCI archive opened once, to serve any of its entries without indexing it again. */
export interface OciArchive {
  readonly file: string;
  /** index.json's entries, as written (annotations included). */
  readonly entries: readonly Descriptor[];
  /**
   * A source for one entry (same `ref` rules as `openOciArchiveSource`). It shares this
   * archive's index: closing the source leaves the archive open; `close()` the archive last.
   */
  source(ref?: string): Promise<OciArchiveSource>;
  close(): Promise<void>;
}

/**
 * Opens an OCI archive once for reading several of its entries (`load`).
 *
 * @example
 * const archive = await openOciArchive('images.tar');
 * try { for (const name of names) await copyImage({ source: await archive.source(name), destination }); }
 * finally { await archive.close(); }
 */
export async function openOciArchive(file: string, options: Pick<OciArchiveSourceOptions, 'tmpDir'> = {}): Promise<OciArchive> {
  const { index, entries } = await indexArchive(file, options.tmpDir);
  return { file, entries, source: async (ref) => openEntry(index, entries, ref, false), close: () => index.close() };
}

/**
 * Opens an OCI archive for reading one entry. A tar that is not an OCI layout, or a blob
 * missing from it, fails with 'invalid-archive' naming the file.
 *
 * @example
 * const source = await openOciArchiveSource('image.tar', { ref: 'latest' });
 */
export async function openOciArchiveSource(file: string, options: OciArchiveSourceOptions = {}): Promise<OciArchiveSource> {
  const { index, entries } = await indexArchive(file, options.tmpDir);
  try {
    return openEntry(index, entries, options.ref, true);
  } catch (err) {
    await index.close();
    throw err;
  }
}

async function indexArchive(file: string, tmpDir: string | undefined): Promise<{ index: ArchiveIndex; entries: Descriptor[] }> {
  const archive = await ArchiveIndex.open(file, tmpDir !== undefined ? { tmpDir } : {});
  try {
    const header = archive.resolve('oci-layout');
    let version: unknown;
    try {
      version = header && (JSON.parse((await archive.readMember(header, 4096)).toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== '1.0.0') {
      throw new CairnError('invalid-archive', `${file}: not an OCI archive (${header ? 'oci-layout is not version 1.0.0' : 'no oci-layout member'})`, { file });
    }
    const indexMember = archive.require('index.json', 'the image index');
    let manifests: unknown;
    try {
      manifests = (JSON.parse((await archive.readMember(indexMember)).toString('utf8')) as { manifests?: unknown } | null)?.manifests;
    } catch (err) {
      throw new CairnError('invalid-archive', `${file}: index.json is not valid JSON`, { file }, { cause: err });
    }
    // Docker 25's `docker save` writes "manifests": null when it lists nothing.
    if (manifests === null || manifests === undefined) manifests = [];
    if (!Array.isArray(manifests) || !manifests.every((d: Descriptor | null) => typeof d === 'object' && d !== null && isDigest(d.digest))) {
      throw new CairnError('invalid-archive', `${file}: index.json "manifests" is not a list of descriptors`, { file });
    }
    return { index: archive, entries: manifests as Descriptor[] };
  } catch (err) {
    await archive.close();
    throw err;
  }
}

function openEntry(archive: ArchiveIndex, entries: readonly Descriptor[], ref: string | undefined, ownsArchive: boolean): OciArchiveSource {
  const description = `oci-archive:${archive.file}${ref !== undefined ? `:${ref}` : ''}`;
  const picked = pickEntry(entries, ref, description);
  const { annotations: _annotations, ...descriptor } = picked;
  const names = entries
    .filter((d) => d.digest === picked.digest)
    .map(refNameOf)
    .filter((n): n is string => n !== undefined);
  return new OciArchiveReader(description, archive, descriptor, names, ownsArchive);
}

class OciArchiveReader implements OciArchiveSource {
  readonly description: string;
  readonly names: readonly string[];
  readonly #archive: ArchiveIndex;
  readonly #root: Descriptor;
  readonly #ownsArchive: boolean;

  constructor(description: string, archive: ArchiveIndex, root: Descriptor, names: readonly string[], ownsArchive: boolean) {
    this.description = description;
    this.#archive = archive;
    this.#root = root;
    this.names = names;
    this.#ownsArchive = ownsArchive;
  }

  async root(): Promise<RootDocument> {
    return { descriptor: this.#root, bytes: await this.readDocument(this.#root) };
  }

  /** Not verified here: the copy engine hashes every document it reads. */
  readDocument(descriptor: Descriptor): Promise<Buffer> {
    return this.#archive.readMember(this.#member(descriptor));
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    return this.#archive.openMember(this.#member(descriptor));
  }

  async close(): Promise<void> {
    if (this.#ownsArchive) await this.#archive.close();
  }

  #member(descriptor: Descriptor): ArchiveMember {
    if (!isDigest(descriptor.digest)) {
      throw new CairnError('unsupported', `${this.description}: cannot address blob ${descriptor.digest}`, { digest: descriptor.digest });
    }
    return this.#archive.require(`blobs/${digestAlgorithm(descriptor.digest)}/${digestHex(descriptor.digest)}`, `blob ${descriptor.digest}`);
  }
}

export interface OciArchiveDestinationOptions {
  /** Where blobs are staged until commit; the staging directory is removed on close. */
  readonly tmpDir: string;
}

/**
 * Opens `file` for writing as an OCI archive. Each ImageRecord becomes one index.json entry per
 * name (annotation `org.opencontainers.image.ref.name`), or one unnamed entry. An existing
 * `file` is replaced at commit, as skopeo does.
 *
 * @example
 * const destination = await openOciArchiveDestination('out.tar', { tmpDir: '/var/tmp' });
 * try { await copyImage({ source, destination, names: ['latest'] }); } finally { await destination.close(); }
 */
export async function openOciArchiveDestination(file: string, options: OciArchiveDestinationOptions): Promise<ImageDestination> {
  await mkdir(options.tmpDir, { recursive: true });
  const stage = await mkdtemp(path.join(options.tmpDir, 'oci-archive-'));
  try {
    const layout = new OciLayout(path.join(stage, 'layout'), path.join(stage, 'ingest'));
    await layout.ensure();
    const description = `oci-archive:${file}`;
    const commit = async (images: readonly ImageRecord[]): Promise<void> => {
      const manifests = indexEntries(images);
      for (const image of images) await checkComplete(layout, image.descriptor, description);
      const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
      await writeArchiveAtomic(file, await archiveItems(layout, Buffer.from(JSON.stringify(index))));
    };
    return new LayoutDestination(layout, description, commit, () => rm(stage, { recursive: true, force: true }));
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    throw err;
  }
}

function indexEntries(images: readonly ImageRecord[]): Descriptor[] {
  const entries: Descriptor[] = [];
  for (const { descriptor, names } of images) {
    const { annotations, ...plain } = descriptor;
    const others = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== REF_NAME_ANNOTATION));
    const base: Descriptor = Object.keys(others).length > 0 ? { ...plain, annotations: others } : plain;
    if (names.length === 0) entries.push(base);
    for (const name of names) {
      // skopeo replaces an entry that already carries the name.
      const at = entries.findIndex((d) => refNameOf(d) === name);
      if (at >= 0) entries.splice(at, 1);
      entries.push({ ...base, annotations: { ...others, [REF_NAME_ANNOTATION]: name } });
    }
  }
  return entries;
}

/**
 * Fails with 'not-found' when a blob an image needs was never written, so an archive is never
 * committed with holes in it. Foreign (non-distributable) layers and layers with `urls` may be
 * absent: registries serve those from elsewhere, and skopeo leaves them out too.
 */
async function checkComplete(layout: OciLayout, descriptor: Descriptor, description: string): Promise<void> {
  const missing = (d: Descriptor, what: string): CairnError =>
    new CairnError('not-found', `${description}: ${what} ${d.digest} was never written to it`, { digest: d.digest });
  if (!(await layout.blobs.has(descriptor.digest))) throw missing(descriptor, 'document');
  const doc = JSON.parse((await layout.blobs.readBytes(descriptor.digest, { verify: false })).toString('utf8')) as {
    manifests?: Descriptor[];
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (isIndexType(descriptor.mediaType) || Array.isArray(doc.manifests)) {
    for (const child of doc.manifests ?? []) await checkComplete(layout, child, description);
    return;
  }
  if (doc.config !== undefined && !(await layout.blobs.has(doc.config.digest))) throw missing(doc.config, 'config');
  for (const layer of doc.layers ?? []) {
    if (isNondistributableLayerType(layer.mediaType) || (layer.urls?.length ?? 0) > 0) continue;
    if (!(await layout.blobs.has(layer.digest))) throw missing(layer, 'layer');
  }
}

/** The archive's members in their fixed order. */
async function archiveItems(layout: OciLayout, index: Buffer): Promise<ArchiveItem[]> {
  const items: ArchiveItem[] = [
    { entry: { path: 'oci-layout', type: 'file', size: LAYOUT_HEADER.length }, body: Buffer.from(LAYOUT_HEADER) },
    { entry: { path: 'index.json', type: 'file', size: index.length }, body: index },
    { entry: { path: 'blobs', type: 'directory' } },
  ];
  const byAlgorithm = new Map<string, ArchiveItem[]>();
  for await (const digest of layout.blobs.list()) {
    const size = await layout.blobs.stat(digest);
    if (size === undefined) continue;
    const file = layout.blobs.path(digest);
    const algorithm = digestAlgorithm(digest);
    const list = byAlgorithm.get(algorithm) ?? [];
    list.push({ entry: { path: `blobs/${algorithm}/${digestHex(digest)}`, type: 'file', size }, body: () => createReadStream(file) });
    byAlgorithm.set(algorithm, list);
  }
  // BlobStore.list() yields algorithms and digests in sorted order already.
  for (const [algorithm, blobs] of byAlgorithm) items.push({ entry: { path: `blobs/${algorithm}`, type: 'directory' } }, ...blobs);
  if (byAlgorithm.size === 0) items.push({ entry: { path: 'blobs/sha256', type: 'directory' } });
  return items;
}
