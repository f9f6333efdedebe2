/**
 * @module transport/docker-archive
 * `docker-archive:FILE[:NAME:TAG|:@N]`: the `docker save` / `docker load` tar (Docker image spec
 * v1.3, "Combined Image JSON + Filesystem Changeset Format"): the source (reading) and the
 * destination (writing what `skopeo copy … docker-archive:` writes). The format rules and our
 * choices are in spec-notes/docker-archive.md.
 *
 * A docker archive holds configs and layers but no manifest, so the source makes one up:
 * a Docker schema 2 manifest whose config descriptor is the config member (its sha256, media
 * type `application/vnd.docker.container.image.v1+json`) and whose layers are the layer
 * members *as stored*: digest = sha256 of the member bytes, media type by magic
 * (`…rootfs.diff.tar`, `…tar.gzip`, `…tar.zstd`). skopeo instead labels every layer
 * `tar.gzip`, uses the diffID as its digest and decompresses on the fly; we do not, because a
 * label that lies about compression would travel into OCI layouts (spec-notes explain). The
 * manifest's bytes are a fixed function of the members, so two loads give one digest.
 *
 * Cost: opening reads the archive once, hashing every member on the way (src/transport/
 * archive-index.ts); nothing is read twice. That pass also checks, before anything is copied:
 * manifest.json's shape, that every member it names exists (through docker's layer symlinks),
 * that the config has one diff_id per layer, that each uncompressed layer hashes to its diff_id
 * (the same hash, so it costs nothing), and that members whose names are digests
 * (`blobs/sha256/<hex>`, `<hex>.json`, `sha256:<hex>`, `<hex>.tar.gz`) hash to them.
 * Compressed layers' diffIDs are checked where they are first decompressed (design §3).
 *
 * Docker 25+ archives are also OCI layouts; when their index.json names a manifest that
 * describes exactly the selected image, the source serves that manifest, so the image keeps
 * the digest it had in the daemon.
 */
import { Readable } from 'node:stream';
import { digestOf, isDigest, type Digest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import { MediaType, isIndexType, isManifestType, type Descriptor } from '../oci/index.js';
import { detectCompression } from '../tar/index.js';
import { ArchiveIndex, type ArchiveMember } from './archive-index.js';
import type { ImageSource, RootDocument } from './types.js';

export interface DockerArchiveSourceOptions {
  /**
   * Which image: `NAME[:TAG]` as in RepoTags (`docker.io/library/` and `:latest` are implied,
   * as docker does), or its position in manifest.json (a number, or `@N`). Default: the only one.
   */
  readonly ref?: string | number;
  /** Where a compressed archive (`docker save | gzip`) is decompressed; removed on close. */
  readonly tmpDir?: string;
}

/** One image of the archive (an entry of manifest.json). */
export interface DockerArchiveImage {
  /** Position in manifest.json. */
  readonly index: number;
  /** Member names as manifest.json gives them. */
  readonly config: string;
  readonly layers: readonly string[];
  /** `name:tag` from RepoTags or, when that is empty, from the legacy `repositories` file. */
  readonly names: readonly string[];
}

export interface DockerArchiveSource extends ImageSource {
  /** Every image in the archive. */
  readonly images: readonly DockerArchiveImage[];
  /** The one this source serves. */
  readonly image: DockerArchiveImage;
}

/** A docker archive opened once, to serve any of its images without indexing it again. */
export interface DockerArchive {
  readonly file: string;
  /** Every image in the archive, in manifest.json order. */
  readonly images: readonly DockerArchiveImage[];
  /**
   * A source for one image (same `ref` rules as `openDockerArchiveSource`). It shares this
   * archive's index: closing the source leaves the archive open; `close()` the archive last.
   */
  source(ref?: string | number): Promise<DockerArchiveSource>;
  /** Releases the index (and the decompressed copy of a compressed archive). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens a docker archive once (one read of the file, every member hashed) for reading several
 * of its images, as `load` does. Fails like `openDockerArchiveSource` for a broken archive.
 *
 * @example
 * const archive = await openDockerArchive('bundle.tar', { tmpDir });
 * try {
 *   for (const image of archive.images) { const source = await archive.source(image.index); … }
 * } finally { await archive.close(); }
 */
export async function openDockerArchive(file: string, options: Pick<DockerArchiveSourceOptions, 'tmpDir'> = {}): Promise<DockerArchive> {
  const { index, images } = await indexArchive(file, options.tmpDir);
  return {
    file,
    images,
    source: (ref) => openImage(index, images, ref, false),
    close: () => index.close(),
  };
}

/**
 * Opens a docker-archive for reading one image. Fails with 'invalid-archive' (naming the file
 * and the problem) for a broken archive, 'digest-mismatch' naming the member whose bytes are
 * wrong, 'invalid-argument' when several images are inside and no `ref` chose one, 'not-found'
 * when `ref` names none.
 *
 * @example
 * const source = await openDockerArchiveSource('busybox.tar', { ref: 'busybox:latest' });
 * try { await copyImage({ source, destination }); } finally { await source.close(); }
 */
export async function openDockerArchiveSource(file: string, options: DockerArchiveSourceOptions = {}): Promise<DockerArchiveSource> {
  const { index, images } = await indexArchive(file, options.tmpDir);
  try {
    return await openImage(index, images, options.ref, true);
  } catch (err) {
    await index.close();
    throw err;
  }
}

async function indexArchive(file: string, tmpDir: string | undefined): Promise<{ index: ArchiveIndex; images: DockerArchiveImage[] }> {
  const index = await ArchiveIndex.open(file, { hash: true, ...(tmpDir !== undefined ? { tmpDir } : {}) });
  try {
    return { index, images: await readImageList(index) };
  } catch (err) {
    await index.close();
    throw err;
  }
}

async function openImage(
  archive: ArchiveIndex,
  images: readonly DockerArchiveImage[],
  ref: string | number | undefined,
  ownsArchive: boolean,
): Promise<DockerArchiveSource> {
  const file = archive.file;
  const description = `docker-archive:${file}${ref === undefined ? '' : typeof ref === 'number' ? `:@${ref}` : `:${ref}`}`;
  const image = selectImage(images, ref, file);
  const parts = await describeImage(archive, image);
  return new DockerArchiveReader(description, archive, images, image, parts, ownsArchive);
}

interface ImageParts {
  root: RootDocument;
  config: { descriptor: Descriptor; bytes: Buffer };
  /** Layer members by digest. */
  blobs: Map<Digest, ArchiveMember>;
}

class DockerArchiveReader implements DockerArchiveSource {
  readonly description: string;
  readonly images: readonly DockerArchiveImage[];
  readonly image: DockerArchiveImage;
  readonly #archive: ArchiveIndex;
  readonly #parts: ImageParts;
  readonly #ownsArchive: boolean;

  constructor(
    description: string,
    archive: ArchiveIndex,
    images: readonly DockerArchiveImage[],
    image: DockerArchiveImage,
    parts: ImageParts,
    ownsArchive: boolean,
  ) {
    this.description = description;
    this.#archive = archive;
    this.images = images;
    this.image = image;
    this.#parts = parts;
    this.#ownsArchive = ownsArchive;
  }

  async root(): Promise<RootDocument> {
    return this.#parts.root;
  }

  async readDocument(descriptor: Descriptor): Promise<Buffer> {
    const { root, config, blobs } = this.#parts;
    if (descriptor.digest === root.descriptor.digest) return root.bytes;
    if (descriptor.digest === config.descriptor.digest) return config.bytes;
    const member = blobs.get(descriptor.digest);
    if (member === undefined) throw this.#notFound(descriptor);
    return this.#archive.readMember(member);
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    const { config, blobs } = this.#parts;
    const member = blobs.get(descriptor.digest);
    if (member !== undefined) return this.#archive.openMember(member);
    if (descriptor.digest === config.descriptor.digest) return Readable.from([config.bytes]);
    throw this.#notFound(descriptor);
  }

  async close(): Promise<void> {
    if (this.#ownsArchive) await this.#archive.close();
  }

  #notFound(descriptor: Descriptor): CairnError {
    return new CairnError('not-found', `${this.description}: no blob ${descriptor.digest} in this image`, { digest: descriptor.digest });
  }
}

function invalid(file: string, message: string, data: Record<string, unknown> = {}): CairnError {
  return new CairnError('invalid-archive', `${file}: ${message}`, { file, ...data });
}

function parseJson(bytes: Buffer, file: string, member: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    throw new CairnError('invalid-archive', `${file}: ${member} is not valid JSON`, { file, member }, { cause: err });
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** manifest.json, checked, with names filled in from `repositories` where RepoTags is empty. */
async function readImageList(archive: ArchiveIndex): Promise<DockerArchiveImage[]> {
  const file = archive.file;
  const member = archive.resolve('manifest.json');
  if (member === undefined) {
    throw invalid(file, 'no manifest.json: not a docker save archive (or one from before Docker 1.10, which only has `repositories`)');
  }
  const list = parseJson(await archive.readMember(member), file, 'manifest.json');
  if (!Array.isArray(list)) throw invalid(file, `manifest.json is ${list === null ? 'null' : typeof list}, not a list of images`);
  if (list.length === 0) throw invalid(file, 'manifest.json lists no images');
  const legacy = await readRepositories(archive);
  return list.map((item: unknown, index): DockerArchiveImage => {
    const where = `manifest.json entry ${index}`;
    if (typeof item !== 'object' || item === null) throw invalid(file, `${where} is not an object`);
    const { Config: config, Layers: layers, RepoTags: repoTags } = item as Record<string, unknown>;
    if (typeof config !== 'string' || config === '') throw invalid(file, `${where} has no "Config" member name`);
    if (!isStringArray(layers)) throw invalid(file, `${where}: "Layers" is not a list of member names`);
    if (repoTags !== undefined && repoTags !== null && !isStringArray(repoTags)) throw invalid(file, `${where}: "RepoTags" is not a list of names`);
    let names: string[] = repoTags ?? [];
    // Docker names the legacy layer directory of the top layer in `repositories`.
    const top = layers.at(-1)?.replace(/^\.\//, '').split('/');
    if (names.length === 0 && top !== undefined && top.length === 2) names = legacy.get(top[0] ?? '') ?? [];
    return { index, config, layers, names };
  });
}

/** The legacy `repositories` file as layer id → names; a missing or malformed one is ignored (docker load does). */
async function readRepositories(archive: ArchiveIndex): Promise<Map<string, string[]>> {
  const byId = new Map<string, string[]>();
  const member = archive.resolve('repositories');
  if (member === undefined) return byId;
  let parsed: unknown;
  try {
    parsed = JSON.parse((await archive.readMember(member)).toString('utf8'));
  } catch {
    return byId;
  }
  if (typeof parsed !== 'object' || parsed === null) return byId;
  for (const [repo, tags] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof tags !== 'object' || tags === null) continue;
    for (const [tag, id] of Object.entries(tags as Record<string, unknown>)) {
      if (typeof id === 'string') byId.set(id, [...(byId.get(id) ?? []), `${repo}:${tag}`]);
    }
  }
  return byId;
}

/**
 * Docker's normalisation of a name for matching: `busybox` = `docker.io/library/busybox:latest`
 * = `index.docker.io/library/busybox:latest`.
 */
export function normalizeDockerName(text: string): string {
  let name = text.split('@')[0] ?? text;
  let tag = 'latest';
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  const parts = name.split('/');
  const first = parts[0] ?? '';
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasHost) name = `docker.io/${name}`;
  name = name.replace(/^index\.docker\.io\//, 'docker.io/');
  if (/^docker\.io\/[^/]+$/.test(name)) name = name.replace(/^docker\.io\//, 'docker.io/library/');
  return `${name}:${tag}`;
}

function selectImage(images: readonly DockerArchiveImage[], ref: string | number | undefined, file: string): DockerArchiveImage {
  const listing = (): string =>
    images.map((image) => (image.names.length > 0 ? image.names.join(', ') : `@${image.index} (untagged)`)).join('; ');
  if (ref === undefined) {
    if (images.length === 1) return images[0] as DockerArchiveImage;
    throw new CairnError('invalid-argument', `${file} holds ${images.length} images; choose one by name or @N: ${listing()}`, {
      file,
      names: images.map((image) => image.names),
    });
  }
  const position = typeof ref === 'number' ? ref : /^@[0-9]+$/.test(ref) ? Number(ref.slice(1)) : undefined;
  const wanted = typeof ref === 'string' && position === undefined ? normalizeDockerName(ref) : undefined;
  const found = images.find((image) =>
    position !== undefined ? image.index === position : image.names.some((name) => normalizeDockerName(name) === wanted),
  );
  if (found === undefined) {
    throw new CairnError('not-found', `${file}: no image ${typeof ref === 'number' ? `@${ref}` : ref} in the archive (it holds: ${listing()})`, {
      file,
      ref,
    });
  }
  return found;
}

/**
 * The digest a layer's member name promises: `blobs/sha256/<hex>` (an OCI layout path, Docker
 * 25+), or a top-level `<hex>.tar`, `<hex>.tar.gz`, `sha256:<hex>`... (skopeo, ggcr, kaniko name
 * layers by digest). Config names are not checked: docker names a config by its image ID, but
 * the format does not promise it and edited archives exist (ggcr's
 * source_image_with_empty_layer_history.tar keeps the old name), except under `blobs/`.
 */
function digestInName(name: string, role: 'config' | 'layer'): Digest | undefined {
  const pattern = role === 'layer' ? LAYER_NAME : BLOB_NAME;
  const m = pattern.exec(name.replace(/^\.\//, ''));
  const digest = m?.[1] === undefined ? undefined : `sha256:${m[1]}`;
  return digest !== undefined && isDigest(digest) ? digest : undefined;
}
const BLOB_NAME = /^blobs\/sha256\/([0-9a-f]{64})$/;
const LAYER_NAME = /^(?:blobs\/sha256\/|sha256:)?([0-9a-f]{64})(?:\.tar|\.tar\.gz|\.tgz|\.tar\.zst)?$/;

function memberDigest(archive: ArchiveIndex, member: ArchiveMember, named: string, role: 'config' | 'layer', what: string): Digest {
  const digest = member.digest;
  if (digest === undefined) throw new Error(`archive index of ${archive.file} was built without hashing`);
  const promised = digestInName(member.name, role) ?? digestInName(named, role);
  if (promised !== undefined && promised !== digest) {
    throw new CairnError('digest-mismatch', `${archive.file}: ${what} ${named} hashes to ${digest}, not to the digest its name promises (${promised})`, {
      file: archive.file,
      member: named,
      expected: promised,
      actual: digest,
    });
  }
  return digest;
}

const LAYER_TYPES = { none: MediaType.DockerLayer, gzip: MediaType.DockerLayerGzip, zstd: MediaType.DockerLayerZstd } as const;

async function describeImage(archive: ArchiveIndex, image: DockerArchiveImage): Promise<ImageParts> {
  const file = archive.file;
  const configMember = archive.require(image.config, 'config');
  const configBytes = await archive.readMember(configMember);
  const configDigest = memberDigest(archive, configMember, image.config, 'config', 'config');
  const config = parseJson(configBytes, file, image.config) as { rootfs?: { diff_ids?: unknown } } | null;
  const diffIds = config?.rootfs?.diff_ids ?? [];
  if (!isStringArray(diffIds) || !diffIds.every((d) => isDigest(d))) {
    throw invalid(file, `config ${image.config}: rootfs.diff_ids is not a list of digests`, { member: image.config });
  }
  if (diffIds.length !== image.layers.length) {
    throw invalid(file, `config ${image.config} has ${diffIds.length} diff_ids but manifest.json lists ${image.layers.length} layers`, {
      member: image.config,
    });
  }
  const blobs = new Map<Digest, ArchiveMember>();
  const layers: Descriptor[] = [];
  for (const [i, name] of image.layers.entries()) {
    const role = `layer ${i + 1}`;
    const member = archive.require(name, role);
    const digest = memberDigest(archive, member, name, 'layer', role);
    const compression = detectCompression(await archive.readRange(member, 0, 4));
    const diffId = diffIds[i] as Digest;
    if (compression === 'none' && digest !== diffId) {
      throw new CairnError('digest-mismatch', `${file}: ${role} ${name} hashes to ${digest} but the config's diff_ids[${i}] is ${diffId}`, {
        file,
        member: name,
        expected: diffId,
        actual: digest,
      });
    }
    blobs.set(digest, member);
    layers.push({ mediaType: LAYER_TYPES[compression], size: member.size, digest });
  }
  const configDescriptor: Descriptor = { mediaType: MediaType.DockerConfig, size: configBytes.length, digest: configDigest };
  const root =
    (await findLayoutManifest(archive, configDigest, layers)) ?? synthesize(configDescriptor, layers);
  return { root, config: { descriptor: configDescriptor, bytes: configBytes }, blobs };
}

/** The Docker schema 2 manifest of the image; key order as skopeo writes its own. */
function synthesize(config: Descriptor, layers: readonly Descriptor[]): RootDocument {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: config.mediaType, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { descriptor: { mediaType: MediaType.DockerManifest, size: bytes.length, digest: digestOf(bytes) }, bytes };
}

/**
 * Docker 25+: a manifest in the archive's own OCI layout (index.json, one level of index)
 * whose config and layers are exactly the selected image's. Anything unexpected there means
 * "no such manifest", never an error: the docker part of the archive is authoritative.
 */
async function findLayoutManifest(
  archive: ArchiveIndex,
  configDigest: Digest,
  layers: readonly Descriptor[],
): Promise<RootDocument | undefined> {
  if (archive.resolve('oci-layout') === undefined) return undefined;
  const read = async (descriptor: unknown): Promise<{ descriptor: Descriptor; doc: Record<string, unknown>; bytes: Buffer } | undefined> => {
    const d = descriptor as Descriptor | null;
    if (typeof d !== 'object' || d === null || typeof d.digest !== 'string' || !isDigest(d.digest)) return undefined;
    const member = archive.resolve(`blobs/sha256/${d.digest.slice('sha256:'.length)}`);
    if (member === undefined || member.digest !== d.digest || member.size !== d.size || member.size > 4 << 20) return undefined;
    const bytes = await archive.readMember(member);
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as unknown;
      return typeof doc === 'object' && doc !== null ? { descriptor: d, doc: doc as Record<string, unknown>, bytes } : undefined;
    } catch {
      return undefined;
    }
  };
  const indexMember = archive.resolve('index.json');
  if (indexMember === undefined || indexMember.size > 4 << 20) return undefined;
  let top: unknown;
  try {
    top = JSON.parse((await archive.readMember(indexMember)).toString('utf8'));
  } catch {
    return undefined;
  }
  const candidates: unknown[] = [...(((top as { manifests?: unknown } | null)?.manifests as unknown[] | null) ?? [])];
  for (let i = 0; i < candidates.length && i < 256; i++) {
    const found = await read(candidates[i]);
    if (found === undefined) continue;
    const { descriptor, doc, bytes } = found;
    if (isIndexType(descriptor.mediaType) && Array.isArray(doc.manifests)) candidates.push(...(doc.manifests as unknown[]));
    if (!isManifestType(descriptor.mediaType)) continue;
    const m = doc as { config?: Descriptor; layers?: Descriptor[] };
    const same =
      m.config?.digest === configDigest &&
      Array.isArray(m.layers) &&
      m.layers.length === layers.length &&
      m.layers.every((l, j) => l.digest === layers[j]?.digest);
    if (!same) continue;
    return { descriptor: { mediaType: descriptor.mediaType, size: descriptor.size, digest: descriptor.digest }, bytes };
  }
  return undefined;
}


export { openDockerArchiveDestination, type DockerArchiveDestinationOptions } from './docker-archive-writer.js';
