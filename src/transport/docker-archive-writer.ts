/**
 * @module transport/docker-archive-writer
 * The `docker-archive:` destination: writes what `skopeo copy … docker-archive:` writes
 * (`<diffid>.tar` uncompressed layers, `<config>.json`, legacy `<id>/{json,VERSION,layer.tar}`,
 * `manifest.json`, `repositories`), several images per file, deterministic, committed whole
 * (temp file beside the target, then rename). Format rules: spec-notes/docker-archive.md.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline as pipelineCb, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomHex } from '../sys/crypto.js';
import { digestOf, type Digest } from '../digest/index.js';
import { DigestStream } from '../digest/stream.js';
import { CairnError } from '../errors.js';
import {
  isNondistributableLayerType,
  parseDocumentKind,
  parseManifest,
  type Descriptor,
} from '../oci/index.js';
import { splitTagged } from '../store/reference.js';
import { decompressStream, sortEntries } from '../tar/index.js';
import { writeArchiveAtomic, type ArchiveItem } from './archive-index.js';
import type { ImageDestination, ImageRecord } from './types.js';

export interface DockerArchiveDestinationOptions {
  /** Where layers are staged until commit (same filesystem as `file` is not required). */
  readonly tmpDir: string;
}

/** A layer (or any blob) as staged: its uncompressed bytes on disk. */
interface StagedBlob {
  readonly path: string;
  /** sha256 of the uncompressed bytes (the diffID for a layer). */
  readonly diffId: Digest;
  readonly size: number;
}

/**
 * Opens `file` for writing as a docker-archive. Blobs are verified (digest and size of the
 * bytes received) while they are staged uncompressed in `tmpDir`; `commit` writes the archive
 * whole, beside `file`, and renames it into place. An existing `file` is replaced (skopeo
 * refuses a non-empty one; replacing is atomic here, so nothing is lost on failure).
 *
 * @example
 * const destination = await openDockerArchiveDestination('out.tar', { tmpDir: '/var/tmp' });
 * try { await copyImage({ source, destination, names: ['app:1'] }); } finally { await destination.close(); }
 */
export async function openDockerArchiveDestination(file: string, options: DockerArchiveDestinationOptions): Promise<ImageDestination> {
  await mkdir(options.tmpDir, { recursive: true });
  const stage = await mkdtemp(path.join(options.tmpDir, 'docker-archive-'));
  return new DockerArchiveWriter(file, stage);
}

class DockerArchiveWriter implements ImageDestination {
  readonly description: string;
  /** docker-archive has no manifest: configs and layers of either format are written the same way. */
  readonly accepts = { oci: true, docker: true, index: false } as const;
  readonly #file: string;
  readonly #stage: string;
  readonly #blobs = new Map<Digest, StagedBlob>();
  readonly #documents = new Map<Digest, Buffer>();
  #committed = false;

  constructor(file: string, stage: string) {
    this.#file = file;
    this.#stage = stage;
    this.description = `docker-archive:${file}`;
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return this.#blobs.has(digest) || this.#documents.has(digest);
  }

  async putBlob(descriptor: Descriptor, bytes: Readable, what: string): Promise<void> {
    if (this.#blobs.has(descriptor.digest)) {
      bytes.destroy();
      return;
    }
    const target = path.join(this.#stage, `blob-${randomHex(8)}`);
    try {
      const staged = await stageUncompressed(descriptor, bytes, what, target);
      this.#blobs.set(descriptor.digest, staged);
    } catch (err) {
      await rm(target, { force: true });
      throw err;
    }
  }

  async putDocument(descriptor: Descriptor, bytes: Buffer): Promise<void> {
    const actual = digestOf(bytes);
    if (actual !== descriptor.digest) {
      throw new CairnError('digest-mismatch', `${this.description}: document ${descriptor.digest} hashes to ${actual}`, {
        expected: descriptor.digest,
        actual,
      });
    }
    this.#documents.set(actual, bytes);
  }

  async commit(images: readonly ImageRecord[]): Promise<void> {
    if (this.#committed) throw new CairnError('conflict', `${this.description}: already committed`, {});
    const plan = new ArchivePlan();
    for (const image of images) {
      const manifest = await this.#manifest(image.descriptor);
      const configBytes = await this.#document(manifest.config.digest, 'config');
      const layers = manifest.layers.map((layer, i) => this.#layer(layer, i, image.descriptor));
      checkDiffIds(configBytes, layers, `${this.description}: image ${image.descriptor.digest}`);
      plan.add(manifest.config.digest, configBytes, layers, image.names);
    }
    await writeArchiveAtomic(this.#file, plan.items());
    this.#committed = true;
  }

  async close(): Promise<void> {
    await rm(this.#stage, { recursive: true, force: true });
  }

  async #document(digest: Digest, what: string): Promise<Buffer> {
    const bytes = this.#documents.get(digest);
    if (bytes !== undefined) return bytes;
    const staged = this.#blobs.get(digest);
    if (staged !== undefined && staged.diffId === digest) return readFile(staged.path);
    throw new CairnError('not-found', `${this.description}: the ${what} ${digest} was never written to it`, { digest });
  }

  async #manifest(descriptor: Descriptor): Promise<{ config: Descriptor; layers: readonly Descriptor[] }> {
    const bytes = await this.#document(descriptor.digest, 'manifest');
    const where = `manifest ${descriptor.digest} for ${this.description}`;
    if (parseDocumentKind(bytes, descriptor.mediaType, where).kind === 'index') {
      throw new CairnError('unsupported', `${this.description}: a docker archive holds images, not an index (${descriptor.digest})`, {
        digest: descriptor.digest,
      });
    }
    return parseManifest(bytes, where);
  }

  #layer(layer: Descriptor, i: number, image: Descriptor): StagedBlob {
    const staged = this.#blobs.get(layer.digest);
    if (staged !== undefined) return staged;
    const foreign = isNondistributableLayerType(layer.mediaType) ? ' (a foreign layer, which the copy did not fetch)' : '';
    throw new CairnError('not-found', `${this.description}: layer ${i + 1} ${layer.digest} of ${image.digest} was never written${foreign}`, {
      digest: layer.digest,
    });
  }
}

/**
 * Streams a blob to `target` uncompressed (gzip and zstd detected by magic), hashing the bytes
 * received and the bytes written in the same pass; then checks the received ones against the
 * descriptor. A source longer than promised is cut off as soon as it overflows.
 */
async function stageUncompressed(descriptor: Descriptor, source: Readable, what: string, target: string): Promise<StagedBlob> {
  const received = new DigestStream();
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > descriptor.size) callback(sizeMismatch(what, descriptor.size, `more than ${descriptor.size}`));
      else callback(null, chunk);
    },
  });
  const counted = pipelineCb(source, limit, received, () => undefined);
  const { stream } = await decompressStream(counted, { what });
  const written = new DigestStream();
  await pipeline(stream, written, createWriteStream(target, { flags: 'wx', mode: 0o644 }));
  if (received.size !== descriptor.size) throw sizeMismatch(what, descriptor.size, String(received.size));
  if (received.digest !== descriptor.digest) {
    throw new CairnError('digest-mismatch', `${what}: content does not match its digest ${descriptor.digest} (it hashes to ${received.digest})`, {
      what,
      expected: descriptor.digest,
      actual: received.digest,
    });
  }
  if (written.digest === undefined) throw new Error(`${what}: staging ended without a digest`);
  return { path: target, diffId: written.digest, size: written.size };
}

function sizeMismatch(what: string, expected: number, actual: string): CairnError {
  return new CairnError('size-mismatch', `${what}: expected ${expected} bytes, got ${actual}`, { what, expected });
}

/** The config's rootfs.diff_ids must be the uncompressed digests of the layers, in order. */
function checkDiffIds(configBytes: Buffer, layers: readonly StagedBlob[], where: string): void {
  let diffIds: unknown;
  try {
    diffIds = (JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
  } catch (err) {
    throw new CairnError('invalid-document', `${where}: the config is not valid JSON`, {}, { cause: err });
  }
  if (!Array.isArray(diffIds) || diffIds.length !== layers.length) {
    throw new CairnError('invalid-document', `${where}: the config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${layers.length} layers`, {});
  }
  layers.forEach((layer, i) => {
    if (diffIds[i] !== layer.diffId) {
      throw new CairnError('digest-mismatch', `${where}: layer ${i + 1} uncompresses to ${layer.diffId}, but the config's diff_ids[${i}] is ${String(diffIds[i])}`, {
        expected: diffIds[i],
        actual: layer.diffId,
      });
    }
  });
}

/**
 * What goes into the archive, keyed by member name so that a layer or config shared by two
 * images is written once; `items()` returns the members sorted by name (determinism).
 */
class ArchivePlan {
  readonly #members = new Map<string, ArchiveItem>();
  readonly #manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  readonly #repositories = new Map<string, Map<string, string>>();

  add(configDigest: Digest, configBytes: Buffer, layers: readonly StagedBlob[], names: readonly string[]): void {
    const configName = `${configDigest.slice('sha256:'.length)}.json`;
    this.#file(configName, configBytes);
    const layerNames = layers.map((layer) => {
      const name = `${layer.diffId.slice('sha256:'.length)}.tar`;
      this.#members.set(name, { entry: { path: name, type: 'file', size: layer.size }, body: () => createReadStream(layer.path) });
      return name;
    });
    const topId = this.#legacyLayers(layers, configBytes);
    // One manifest.json entry per config, as skopeo does: a second record adds its names.
    let item = this.#manifest.find((m) => m.Config === configName);
    if (item === undefined) {
      item = { Config: configName, RepoTags: [], Layers: layerNames };
      this.#manifest.push(item);
    }
    for (const given of names) {
      // docker load wants NAME:TAG in RepoTags; a bare name means :latest, as everywhere.
      if (given.includes('@')) {
        throw new CairnError('invalid-argument', `docker-archive name "${given}": a docker archive names images by tag, not digest`, { name: given });
      }
      const { name: repo, tag } = splitTagged(given);
      const name = `${repo}:${tag}`;
      if (!item.RepoTags.includes(name)) item.RepoTags.push(name);
      if (topId === undefined) continue;
      const tags = this.#repositories.get(repo) ?? new Map<string, string>();
      tags.set(tag, topId);
      this.#repositories.set(repo, tags);
    }
  }

  /**
   * The pre-1.10 per-layer directories (`<id>/VERSION`, `<id>/json`, `<id>/layer.tar` as a
   * symlink to the real layer), with skopeo's IDs: the sha256 of the layer's legacy JSON with
   * the chainID mixed in. Returns the top layer's ID (what `repositories` points at).
   */
  #legacyLayers(layers: readonly StagedBlob[], configBytes: Buffer): string | undefined {
    const config = JSON.parse(configBytes.toString('utf8')) as Record<string, unknown>;
    let chainId: string | undefined;
    let parent: string | undefined;
    layers.forEach((layer, i) => {
      chainId = chainId === undefined ? layer.diffId : digestOf(`${chainId} ${layer.diffId}`);
      const fields: Record<string, unknown> = {};
      if (parent !== undefined) fields.parent = parent;
      if (i === layers.length - 1) {
        for (const key of ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os']) {
          fields[key] = config[key] ?? null;
        }
      }
      const id = digestOf(goJson({ ...fields, layer_id: chainId })).slice('sha256:'.length);
      this.#file(`${id}/VERSION`, Buffer.from('1.0'));
      this.#file(`${id}/json`, Buffer.from(goJson({ ...fields, id })));
      this.#members.set(`${id}/layer.tar`, {
        entry: { path: `${id}/layer.tar`, type: 'symlink', linkname: `../${layer.diffId.slice('sha256:'.length)}.tar` },
      });
      parent = id;
    });
    return parent;
  }

  #file(name: string, body: Buffer): void {
    this.#members.set(name, { entry: { path: name, type: 'file', size: body.length }, body });
  }

  items(): ArchiveItem[] {
    const repositories = Object.fromEntries(
      [...this.#repositories].sort(([a], [b]) => compareBytes(a, b)).map(([repo, tags]) => [
        repo,
        Object.fromEntries([...tags].sort(([a], [b]) => compareBytes(a, b))),
      ]),
    );
    this.#file('manifest.json', Buffer.from(JSON.stringify(this.#manifest)));
    this.#file('repositories', Buffer.from(goJson(repositories)));
    return sortEntries([...this.#members.values()].map((item) => ({ path: item.entry.path, item }))).map(({ item }) => item);
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * JSON as Go's encoding/json writes a map: top-level keys sorted, `<`, `>`, `&`, U+2028 and
 * U+2029 escaped. skopeo hashes this form to name legacy layers, so matching it keeps our IDs
 * equal to skopeo's for the same image (nested objects keep their order, as Go's RawMessage does).
 */
function goJson(value: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.entries(value).sort(([a], [b]) => compareBytes(a, b)));
  return JSON.stringify(sorted).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
