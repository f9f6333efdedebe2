/**
 * @module digest/noble
 * A pure-JS sha256 for code that runs in a browser (inspection core). Never on Node hot paths.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { sha256Digest } from './digest.js';
import type { HasherFactory } from './hasher.js';

export const nobleSha256: HasherFactory = () => {
  const hash = sha256.create();
  return {
    update(chunk) {
      hash.update(chunk);
    },
    digest() {
      return sha256Digest(bytesToHex(hash.digest()));
    },
  };
};
