/** @module digest — validated digests and sha256 hashing (node:crypto on hot paths). */
export * from './digest.js';
export * from './hasher.js';
export * from './stream.js';
