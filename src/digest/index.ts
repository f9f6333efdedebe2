/**
 * @module digest — validated digests and sha256 hashing (node:crypto on hot paths).
 * DigestStream is imported from ./stream.js by the few modules that stream: it extends
 * node:stream's Transform, and loading node:stream costs every importer of this module ~4 ms.
 */
export * from './digest.js';
export * from './hasher.js';
