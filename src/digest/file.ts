/**
 * @module digest/file
 * sha256 of a stream or a file on disk, as a digest. Node only (node:fs, node:crypto); kept
 * apart from the diff machinery so that code which only hashes files (a build context) loads
 * nothing else.
 */
import { constants, createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { digestOf, nodeSha256 } from './hasher.js';
import type { Digest } from './digest.js';

/** sha256 of a stream, as a digest. */
export async function hashStream(stream: Readable): Promise<Digest> {
  const hash = nodeSha256();
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest();
}

/** Files up to this size are hashed from one read; larger ones are streamed. */
const SMALL_FILE = 1 << 20;

/** sha256 of a file (not following a symlink swapped in: the caller lstat-ed a regular file). */
export async function hashFile(file: string, size: number): Promise<Digest> {
  if (size > SMALL_FILE) return hashStream(createReadStream(file));
  return digestOf(await readFile(file, { flag: constants.O_RDONLY | constants.O_NOFOLLOW }));
}
