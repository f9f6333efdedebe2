// sys/mount against the real kernel (root only): overlay mounts through the addon's mount(2) with
// lowers relative to a directory (resolved by a thread of the addon's own, so this process's
// working directory never moves), volatile mounts that can be mounted again, the errors of a
// failed mount and unmount, and unmount of something not mounted being success.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { isMountpoint, mountOverlay, mountsUnder, unmount } from '../../src/sys/mount.js';
import { removeDir, tempDir } from '../support/images.js';

const asRoot = process.getuid?.() === 0;
let dir: string;

beforeEach(async () => {
  dir = await tempDir('cairn-mount-');
  for (const sub of ['layers/a', 'layers/b', 'upper', 'work', 'merged']) await mkdir(path.join(dir, sub), { recursive: true });
  await writeFile(path.join(dir, 'layers/a/f'), 'from a');
  await writeFile(path.join(dir, 'layers/b/f'), 'from b');
  await writeFile(path.join(dir, 'layers/a/only-a'), 'a');
});

afterEach(async () => {
  // Whatever a failed test left mounted, deepest first, before the directory goes.
  for (const point of await mountsUnder(dir)) await unmount(point, { lazy: true });
  await removeDir(dir);
});

describe.skipIf(!asRoot)('overlay mounts (as root)', () => {
  it('mounts lowers given relative to cwd, top first, without moving this process', async () => {
    const before = process.cwd();
    const merged = path.join(dir, 'merged');
    await mountOverlay({ lower: ['b', 'a'], upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), target: merged, cwd: path.join(dir, 'layers') });
    expect(process.cwd()).toBe(before);
    expect(await isMountpoint(merged)).toBe(true);
    expect(await readFile(path.join(merged, 'f'), 'utf8')).toBe('from b');
    expect(await readFile(path.join(merged, 'only-a'), 'utf8')).toBe('a');
    await writeFile(path.join(merged, 'new'), 'n');
    await unmount(merged);
    expect(await isMountpoint(merged)).toBe(false);
    expect(await readFile(path.join(dir, 'upper', 'new'), 'utf8')).toBe('n');
  });

  it('mounts an upper mounted volatile before again, volatile or not', async () => {
    const options = { lower: ['a'], upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), target: path.join(dir, 'merged'), cwd: path.join(dir, 'layers') };
    await mountOverlay({ ...options, volatile: true });
    const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.includes(` ${options.target} `));
    expect(line).toMatch(/fsync=volatile|volatile/);
    await writeFile(path.join(options.target, 'kept'), 'k');
    await unmount(options.target, { lazy: true });
    // The kernel left its mark; a second volatile mount clears it first.
    expect((await stat(path.join(dir, 'work', 'work', 'incompat', 'volatile'))).isDirectory()).toBe(true);
    await mountOverlay({ ...options, volatile: true });
    expect(await readFile(path.join(options.target, 'kept'), 'utf8')).toBe('k');
    await unmount(options.target);
  });

  it('says which mount failed and why', async () => {
    const target = path.join(dir, 'merged');
    const err = await mountOverlay({ lower: ['missing'], target, cwd: path.join(dir, 'layers') }).catch((e: unknown) => e);
    expect(isCairnError(err, 'process-failed')).toBe(true);
    expect((err as Error).message).toBe(`overlay mount at ${target} failed: no such file or directory`);
    expect(await isMountpoint(target)).toBe(false);
  });

  it('unmounts what is not mounted, or not there, as success', async () => {
    await expect(unmount(path.join(dir, 'merged'))).resolves.toBeUndefined();
    await expect(unmount(path.join(dir, 'no-such-dir'), { lazy: true })).resolves.toBeUndefined();
  });

  it('refuses to unmount a busy mount unless lazily, and names it', async () => {
    const target = path.join(dir, 'merged');
    await mkdir(path.join(dir, 'layers', 'a', 'sub'));
    await mountOverlay({ lower: ['b', 'a'], target, cwd: path.join(dir, 'layers') });
    // A mount on top of it keeps it busy (a read-only overlay needs two lowers).
    const inner = path.join(target, 'sub');
    await mountOverlay({ lower: ['b', 'a'], target: inner, cwd: path.join(dir, 'layers') });
    const err = await unmount(target).catch((e: unknown) => e);
    expect(isCairnError(err, 'process-failed')).toBe(true);
    expect((err as Error).message).toBe(`unmounting ${target} failed: resource busy or locked`);
    await unmount(target, { lazy: true });
    expect(await isMountpoint(target)).toBe(false);
  });
});
