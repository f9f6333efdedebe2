/**
 * @module store/layout
 * An OCI image layout directory (image-spec image-layout.md): `oci-layout`, `index.json`,
 * `blobs/<alg>/<hex>`. The store is one of these plus `cairn/`; the `oci:` transport uses one
 * on its own. Opening never writes; `ensure()` creates the files on the first write.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';
import type { ImageIndex } from '../oci/types.js';
import { createFileAtomic, writeFileAtomic, type AtomicWriteOptions } from '../sys/atomic.js';
import { BlobStore } from './blobs.js';

const LAYOUT_HEADER = '{"imageLayoutVersion":"1.0.0"}';
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

const EMPTY_INDEX = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [] });

async function createIfMissing(file: string, data: string): Promise<void> {
  try {
    statSync(file); // synchronous: it exists on every call but the first (see sys/atomic)
    return;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  try {
    await createFileAtomic(file, data);
  } catch (err) {
    // Another process created it at the same moment (and a gc may have taken our temp file).
    try {
      await stat(file);
    } catch {
      throw err;
    }
  }
}

export class OciLayout {
  readonly root: string;
  readonly blobs: BlobStore;

  /** `tmpDir` is where blob ingests stage; it must be on the same filesystem as `root`. */
  constructor(root: string, tmpDir: string) {
    this.root = path.resolve(root);
    this.blobs = new BlobStore(this.root, tmpDir);
  }

  get indexPath(): string {
    return path.join(this.root, 'index.json');
  }

  /** True when `oci-layout` exists. Throws when it exists but is not version 1.0.0. */
  async exists(): Promise<boolean> {
    let header: string;
    try {
      // Synchronous: every command opens the store, and for a 31-byte file a thread-pool round
      // trip (the first one also starts the pool) costs several times the read.
      header = readFileSync(path.join(this.root, 'oci-layout'), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
      throw err;
    }
    let version: unknown;
    try {
      version = (JSON.parse(header) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== '1.0.0') {
      throw new CairnError('invalid-document', `${this.root}: oci-layout is not {"imageLayoutVersion":"1.0.0"}`, {
        path: path.join(this.root, 'oci-layout'),
      });
    }
    return true;
  }

  /**
   * Creates `blobs/sha256`, an empty `index.json` and `oci-layout` where missing (image-layout.md:
   * all three MUST exist). The marker comes last, so whoever sees `oci-layout` sees a complete
   * layout even after a crash; an existing file is never replaced (no lock is needed here).
   */
  async ensure(): Promise<void> {
    mkdirSync(path.join(this.root, 'blobs', 'sha256'), { recursive: true });
    await createIfMissing(this.indexPath, EMPTY_INDEX);
    await createIfMissing(path.join(this.root, 'oci-layout'), LAYOUT_HEADER);
  }

  /** index.json, or an empty index when there is none yet. (One small file: read synchronously, see sys/atomic.) */
  async readIndex(): Promise<ImageIndex> {
    let text: string;
    try {
      text = readFileSync(this.indexPath, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [] };
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CairnError('invalid-document', `${this.indexPath} is not valid JSON`, { path: this.indexPath }, { cause: err });
    }
    if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { manifests?: unknown }).manifests)) {
      throw new CairnError('invalid-document', `${this.indexPath}: "manifests" must be an array`, { path: this.indexPath });
    }
    return parsed as ImageIndex;
  }

  /** Replaces index.json whole (temp, fsync, rename). Callers serialise writers. */
  async writeIndex(index: ImageIndex, options: AtomicWriteOptions = {}): Promise<void> {
    await writeFileAtomic(this.indexPath, JSON.stringify({ ...index, schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE }), 0o644, options);
  }
}
