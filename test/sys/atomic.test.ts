// sys/atomic: whole-file replacement. Readers see the old file or the new one; no temp file is
// left; the replaced file, held open across the rename (so that its blocks are freed at its
// close rather than in the rename), is closed soon after.
import { readdirSync, readlinkSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/sys/atomic.js';
import { removeDir, tempDir } from '../support/images.js';

let dir: string;

beforeEach(async () => {
  dir = await tempDir('cairn-atomic-');
});
afterEach(() => removeDir(dir));

/** What this process's descriptors point at. */
function openFiles(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

describe('writeFileAtomic', () => {
  it('replaces a file whole, leaves no temp file, and lets go of the replaced file', async () => {
    const target = path.join(dir, 'index.json');
    await writeFile(target, 'old');
    await writeFileAtomic(target, 'new');
    expect(await readFile(target, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['index.json']);
    const held = (): boolean => openFiles().some((f) => f === `${target} (deleted)`);
    for (let i = 0; i < 100 && held(); i++) await sleep(10);
    expect(held()).toBe(false);
  });

  it('creates a file that does not exist yet, durable or not', async () => {
    await writeFileAtomic(path.join(dir, 'a'), 'one');
    await writeFileAtomic(path.join(dir, 'b'), Buffer.from('two'), 0o600, { durable: false });
    expect(await readFile(path.join(dir, 'a'), 'utf8')).toBe('one');
    expect(await readFile(path.join(dir, 'b'), 'utf8')).toBe('two');
    expect((await readdir(dir)).sort()).toEqual(['a', 'b']);
  });
});
