/**
 * @module sys/crypto
 * node:crypto, loaded on first use, and random bytes without it. Loading node:crypto costs a
 * process ~7 ms of CPU, and most cairn commands (`diff CONTAINER`, `ps`, `logs`, `run --rm` of a
 * stored image) hash no stream: they should not pay. Modules import hashing and randomness from
 * here instead of from node:crypto directly.
 *
 * Random bytes come from the kernel's CSPRNG (`/dev/urandom`, read synchronously: a container ID
 * is 32 bytes), which is where node:crypto's `randomBytes` gets them too; without that device
 * (not Linux or a BSD), from node:crypto.
 */
import type { Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

let loaded: typeof import('node:crypto') | undefined;

function crypto(): typeof import('node:crypto') {
  loaded ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return loaded;
}

/** Whether node:crypto is loaded already (then using it costs nothing more). */
export function cryptoLoaded(): boolean {
  return loaded !== undefined;
}

/** node:crypto's createHash. */
export function createHash(algorithm: 'sha256' | 'sha512'): Hash {
  return crypto().createHash(algorithm);
}

/** `size` cryptographically random bytes. */
export function randomBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let fd: number;
  try {
    fd = openSync('/dev/urandom', 'r');
  } catch {
    return crypto().randomBytes(size);
  }
  try {
    for (let done = 0; done < size; ) done += readSync(fd, bytes, done, size - done, null);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** `bytes` cryptographically random bytes as lowercase hex (2 × bytes characters). */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** A uniformly random integer in [0, max), max ≤ 2^32. */
export function randomInt(max: number): number {
  // Rejection sampling: values at or above the largest multiple of `max` would favour small results.
  const limit = 2 ** 32 - (2 ** 32 % max);
  for (;;) {
    const value = randomBytes(4).readUInt32BE(0);
    if (value < limit) return value % max;
  }
}
