/**
 * @module sys/crypto
 * node:crypto, loaded on first use. Loading it costs a process ~6 ms, and most cairn commands
 * (`diff CONTAINER`, `ps`, `logs`) hash nothing and draw no random numbers: they should not pay.
 * Modules import hashing and randomness from here instead of from node:crypto directly.
 */
import type { Hash } from 'node:crypto';
import { createRequire } from 'node:module';

let loaded: typeof import('node:crypto') | undefined;

function crypto(): typeof import('node:crypto') {
  loaded ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return loaded;
}

/** node:crypto's createHash. */
export function createHash(algorithm: 'sha256' | 'sha512'): Hash {
  return crypto().createHash(algorithm);
}

/** `bytes` cryptographically random bytes as lowercase hex (2 × bytes characters). */
export function randomHex(bytes: number): string {
  return crypto().randomBytes(bytes).toString('hex');
}

/** A uniformly random integer in [0, max). */
export function randomInt(max: number): number {
  return crypto().randomInt(max);
}
