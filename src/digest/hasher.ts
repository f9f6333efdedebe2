/**
 * @module digest/hasher
 * The hashing interface. Node code uses `nodeSha256` (node:crypto, ~8x faster here than a JS
 * implementation); code that must also run in a browser takes a `HasherFactory` argument and a
 * browser passes `nobleSha256` (see ./noble.ts).
 */
import { createHash } from '../sys/crypto.js';
import { sha256Digest, type Digest } from './digest.js';

export interface Hasher {
  update(chunk: Uint8Array): void;
  /** Finishes the hash. Call once. */
  digest(): Digest;
}

export type HasherFactory = () => Hasher;

export const nodeSha256: HasherFactory = () => {
  const hash = createHash('sha256');
  return {
    update(chunk) {
      hash.update(chunk);
    },
    digest() {
      return sha256Digest(hash.digest('hex'));
    },
  };
};

/** sha256 of bytes in memory (documents, small blobs). */
export function digestOf(bytes: Uint8Array | string): Digest {
  return sha256Digest(createHash('sha256').update(bytes).digest('hex'));
}
