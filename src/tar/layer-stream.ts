/**
 * @module tar/layer-stream
 * One pass over a layer yields both of its identities (design §2, §3): the digest and size of
 * the blob as stored (compressed) and the diffID and size of the tar inside (uncompressed).
 * Two DigestStreams sit on either side of the decoder (reading) or encoder (writing), so every
 * byte is hashed exactly once per form and nothing is buffered beyond stream high-water marks.
 *
 * `scanLayer` lets a consumer (the layer indexer, an unpacker) read the uncompressed tar in that
 * same pass; whatever it leaves unread is drained, so the diffID always covers the whole stream
 * (a verifier that stops early lets corruption through: a ggcr lesson).
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { nodeSha256, type Digest, type HasherFactory } from '../digest/index.js';
import { DigestStream } from '../digest/stream.js';
import { compressStream, decompressStream, type Compression, type CompressOptions } from './compression.js';

export interface LayerDigests {
  compression: Compression;
  /** sha256 of the blob as given (compressed form). */
  digest: Digest;
  /** sha256 of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: Digest;
  compressedSize: number;
  /** Uncompressed size in bytes. */
  size: number;
}

export interface ScanLayerOptions<T> {
  /** Names the input in error messages. */
  what: string;
  /** Hash implementation; default node:crypto sha256. */
  hasher?: HasherFactory;
  /**
   * Reads the uncompressed tar during the pass (e.g. `listTar`). It may stop early (break out,
   * destroy the stream, return): the pass drains the rest itself.
   */
  consume?: (tar: Readable) => Promise<T>;
}

/**
 * Digests a layer blob (gzip, zstd or plain tar, detected by magic) in one pass.
 *
 * @example
 * const { digest, diffId, compression } = await digestLayer(createReadStream(path), { what: path });
 */
export async function digestLayer(
  blob: Readable,
  options: { what: string; hasher?: HasherFactory },
): Promise<LayerDigests> {
  const { value: _ignored, ...digests } = await scanLayer(blob, options);
  return digests;
}

/** `digestLayer` that also hands the uncompressed tar to `options.consume` and returns its result. */
export async function scanLayer<T = void>(
  blob: Readable,
  options: ScanLayerOptions<T>,
): Promise<LayerDigests & { value: T | undefined }> {
  const factory = options.hasher ?? nodeSha256;
  const compressed = new DigestStream(factory);
  const feeding = pipeline(blob, compressed);
  feeding.catch(() => undefined); // awaited below; never unhandled
  const streams: Readable[] = [blob, compressed];
  let piping: Promise<void> = Promise.resolve();
  try {
    const { compression, stream } = await decompressStream(compressed, { what: options.what });
    // An uncompressed blob is its own tar: hashing it twice would only cost time.
    const uncompressed = compression === 'none' ? compressed : new DigestStream(factory);
    const stages: Readable[] = compression === 'none' ? [stream] : [stream, uncompressed];
    streams.push(...stages);
    let value: T | undefined;
    if (options.consume) {
      const view = new ConsumerView();
      piping = pipeline([...stages, view.sink]);
      piping.catch((err: unknown) => view.destroy(err instanceof Error ? err : new Error(String(err))));
      value = await options.consume(view);
      view.release();
    } else {
      piping = pipeline([...stages, new Writable({ write: (_chunk, _enc, cb) => cb() })]);
    }
    await Promise.all([feeding, piping]);
    return {
      compression,
      digest: compressed.digest as Digest,
      diffId: uncompressed.digest as Digest,
      compressedSize: compressed.size,
      size: uncompressed.size,
      value,
    };
  } catch (err) {
    for (const s of streams) if (!s.destroyed) s.destroy();
    await Promise.allSettled([feeding, piping]);
    throw err;
  }
}

/**
 * The consumer's copy of the uncompressed stream. It is fed with backpressure while the consumer
 * reads it; once the consumer stops (destroys it, breaks out of a loop, or returns), the pass
 * goes on and the rest is hashed and discarded, so the diffID still covers every byte.
 */
class ConsumerView extends Readable {
  #resume: (() => void) | undefined;
  #released = false;
  readonly sink = new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      if (this.#released || this.destroyed) return cb();
      if (this.push(chunk)) cb();
      else this.#resume = cb;
    },
    final: (cb) => {
      if (!this.#released && !this.destroyed) this.push(null);
      cb();
    },
  });

  constructor() {
    super();
    // Failures reach the consumer through its reads; without a consumer they must not crash.
    this.on('error', () => undefined);
  }

  override _read(): void {
    this.#continue();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#continue();
    cb(err);
  }

  /** The consumer is done: deliver nothing more (a late read fails instead of hanging). */
  release(): void {
    this.#released = true;
    this.#continue();
    if (!this.readableEnded) this.destroy();
  }

  #continue(): void {
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }
}

export interface EncodedLayer {
  /** The compressed blob bytes. Must be read to its end for `result()` to settle. */
  stream: Readable;
  /** Digests and sizes, once `stream` has ended; rejects with the pass's error. */
  result(): Promise<Omit<LayerDigests, 'compression'>>;
}

/**
 * Compresses an uncompressed tar (e.g. `createTarWriter().stream`), computing the diffID before
 * the encoder and the blob digest after it.
 *
 * @example
 * const layer = encodeLayer(tar.stream, 'gzip');
 * await pipeline(layer.stream, ingest);
 * const { digest, diffId } = await layer.result();
 */
export function encodeLayer(
  tar: Readable | AsyncIterable<Uint8Array>,
  compression: Compression,
  options: CompressOptions & { hasher?: HasherFactory } = {},
): EncodedLayer {
  const factory = options.hasher ?? nodeSha256;
  const encoder = compressStream(compression, options);
  const uncompressed = new DigestStream(factory);
  const compressed = new DigestStream(factory);
  const done = pipeline(tar, uncompressed, encoder, compressed).then(() => ({
    digest: compressed.digest as Digest,
    diffId: uncompressed.digest as Digest,
    compressedSize: compressed.size,
    size: uncompressed.size,
  }));
  done.catch(() => undefined); // the caller may only watch `stream`
  return { stream: compressed, result: () => done };
}

/**
 * The whole of `stream` when it ends within `limit` bytes, so a small layer can be hashed and
 * compressed in memory in one call each (`compressBytes`) instead of through a chain of
 * Transforms, whose setup and per-chunk callbacks are most of the cost of a layer of a few
 * files. Otherwise undefined, and the bytes read so far are put back in front of `stream`, which
 * then reads on from the start as if untouched: memory stays bounded by `limit` plus one chunk.
 *
 * @example
 * const whole = await readIfSmall(tar, 256 * 1024);
 * if (whole === undefined) await pipeline(tar, compressStream('gzip'), out);
 */
export async function readIfSmall(stream: Readable, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Not destroyed when the loop stops early: the caller goes on reading the stream.
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) break;
  }
  const whole = Buffer.concat(chunks, size);
  // An ended stream was read whole (even past the limit by its last chunk), and `unshift` after
  // 'end' is an error.
  if (size <= limit || stream.readableEnded) return whole;
  stream.unshift(whole);
  return undefined;
}
