/**
 * @module digest/hasher
 * The hashing interface. Node code uses `nodeSha256` (node:crypto, ~8x faster here than a JS
 * implementation); code that must also run in a browser takes a `HasherFactory` argument and a
 * browser passes `nobleSha256` (see ./noble.ts).
 */
import type { Hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { sha256Digest, type Digest } from './digest.js';

const require = createRequire(import.meta.url);
let crypto: typeof import('node:crypto') | undefined;

/**
 * node:crypto's createHash, the module loaded on first use: it costs a process ~6 ms to load,
 * and commands that hash nothing (`diff CONTAINER`, `ps`) should not pay for it.
 */
function createHash(algorithm: 'sha256'): Hash {
  crypto ??= require('node:crypto') as typeof import('node:crypto');
  return crypto.createHash(algorithm);
}

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
