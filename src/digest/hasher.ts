/**
 * @module digest/hasher
 * The hashing interface. Node code uses `nodeSha256` (node:crypto, ~8x faster here than a JS
 * implementation); code that must also run in a browser takes a `HasherFactory` argument and a
 * browser passes `nobleSha256` (see ./noble.ts).
 *
 * Inputs of at most `SMALL_INPUT` bytes are hashed in JavaScript (./sha256-small) as long as
 * node:crypto is not loaded: a command whose only hashes are a ChainID or a cgroup name never
 * loads it (~7 ms of CPU). Anything larger, and everything once node:crypto is loaded, goes to it.
 */
import { createHash, cryptoLoaded } from '../sys/crypto.js';
import { sha256Digest, type Digest } from './digest.js';
import { sha256HexSmall } from './sha256-small.js';

export interface Hasher {
  update(chunk: Uint8Array): void;
  /** Finishes the hash. Call once. */
  digest(): Digest;
}

export type HasherFactory = () => Hasher;

/** The most bytes hashed in JavaScript; cold, 1 KB costs it ~1.5 ms, 4 KB ~8 ms. */
const SMALL_INPUT = 1024;

function hashedInJs(length: number): boolean {
  return length <= SMALL_INPUT && !cryptoLoaded();
}

export const nodeSha256: HasherFactory = () => {
  let hash: ReturnType<typeof createHash> | undefined;
  // Copies of the input while it may still be hashed in JavaScript (a caller may reuse its buffer).
  let held: Buffer[] = [];
  let heldBytes = 0;
  return {
    update(chunk) {
      if (hash === undefined && hashedInJs(heldBytes + chunk.length)) {
        held.push(Buffer.from(chunk));
        heldBytes += chunk.length;
        return;
      }
      if (hash === undefined) {
        hash = createHash('sha256');
        for (const part of held) hash.update(part);
        held = [];
      }
      hash.update(chunk);
    },
    digest() {
      if (hash === undefined) return digestOf(Buffer.concat(held, heldBytes));
      return sha256Digest(hash.digest('hex'));
    },
  };
};

/** sha256 of bytes in memory (documents, small blobs). */
export function digestOf(bytes: Uint8Array | string): Digest {
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  if (hashedInJs(data.length)) return sha256Digest(sha256HexSmall(data));
  return sha256Digest(createHash('sha256').update(data).digest('hex'));
}
