/**
 * `cairn builder prune`: without -a only dangling build cache goes (records whose image is no
 * listed image and no ancestor of one), so what is tagged still rebuilds from the cache; -a
 * removes every record, the cache mounts and the memos; the store stays consistent (fsck).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/builder.js';
import { pruneBuildCache } from '../../src/build/prune.js';
import { main } from '../../src/cli/main.js';
import { fsck } from '../../src/store/fsck.js';
import type { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { removeDir, tempStore } from '../support/images.js';

const BUSYBOX = 'busybox/oci-umoci:1';

describe.skipIf(skipWithoutFixtures(BUSYBOX))('cairn builder prune', () => {
  let work: string;
  let store: Store;

  beforeAll(async () => {
    ({ dir: work, store } = await tempStore('cairn-prune-', { subdir: 'store' }));
    await copy(transportRef(fixture(BUSYBOX)), 'busybox:latest', { store });
  }, 60_000);
  afterAll(() => removeDir(work));

  async function context(name: string, files: Record<string, string>): Promise<string> {
    const dir = path.join(work, name);
    await mkdir(dir, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
    return dir;
  }

  async function recordKeys(): Promise<string[]> {
    return store.withMeta(async (meta) => {
      const keys: string[] = [];
      for await (const [key] of meta.buildCache.entries()) keys.push(key);
      return keys;
    });
  }

  async function cli(args: string[], stdin = ''): Promise<{ status: number; stdout: string }> {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    const input = new PassThrough();
    input.end(stdin);
    const status = await main(['--store', store.root, ...args], { stdout, stderr: new PassThrough(), stdin: input, env: { ...process.env, CAIRN_STORE: undefined } });
    return { status, stdout: out };
  }

  it('keeps what listed images were built through, drops what a moved tag and a builder stage left; -a drops all', async () => {
    const kept = await context('kept', { 'f.txt': 'kept', Dockerfile: 'FROM busybox\nCOPY f.txt /\nENV A=1\n' });
    const first = await build(store, { contextDir: kept, tags: ['prune:kept'] });
    // A tag that moves leaves the old image listed untagged (docker's `<none>`), still in use;
    // once that is removed too, its steps are dangling.
    const moved = await context('moved', { 'g.txt': 'version 1 '.repeat(1000), Dockerfile: 'FROM busybox\nCOPY g.txt /\nLABEL v=1\n' });
    const old = await build(store, { contextDir: moved, tags: ['prune:moved'] });
    await writeFile(path.join(moved, 'g.txt'), 'version 2');
    await build(store, { contextDir: moved, tags: ['prune:moved'] });
    expect((await store.readIndex()).manifests.some((d) => d.digest === old.descriptor.digest)).toBe(true);
    expect(await store.removeDigest(old.descriptor.digest)).toBe(1);
    // A builder stage whose image no listed image descends from.
    const staged = await context('staged', { 'h.txt': 'h', Dockerfile: 'FROM busybox AS builder\nCOPY h.txt /h\nFROM scratch\nCOPY --from=builder /h /h\n' });
    await build(store, { contextDir: staged, tags: ['prune:staged'] });
    const before = await recordKeys();
    expect(before).toHaveLength(2 + 2 + 2 + 1 + 1);

    // Asked first; anything but y keeps everything.
    const declined = await cli(['builder', 'prune'], 'n\n');
    expect(declined).toEqual({ status: 0, stdout: 'WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] Total reclaimed space: 0B\n' });
    expect(await recordKeys()).toHaveLength(before.length);

    const pruned = await cli(['builder', 'prune', '-f']);
    expect(pruned.status).toBe(0);
    const after = await recordKeys();
    const gone = before.filter((k) => !after.includes(k));
    expect(gone).toHaveLength(3); // the first g.txt COPY, its LABEL, the builder stage's COPY
    expect(pruned.stdout).toBe(`Deleted build cache objects:\n${gone.map((k) => `${k}\n`).join('')}\nTotal reclaimed space: ${pruned.stdout.match(/Total reclaimed space: (\S+)\n$/)?.[1]}\n`);
    expect(pruned.stdout).not.toMatch(/Total reclaimed space: 0B/); // the first g.txt layer was swept
    expect((await fsck(store)).problems).toEqual([]);

    // What is listed still comes from the cache at every step.
    const rebuilt = await build(store, { contextDir: kept, tags: ['prune:kept'], memo: false });
    expect([rebuilt.id, rebuilt.executed, rebuilt.cached]).toEqual([first.id, 0, 2]);
    expect((await build(store, { contextDir: moved, tags: ['prune:moved'], memo: false })).executed).toBe(0);
    // The builder stage reruns, and so does the COPY --from it (its key names the stage's image
    // ID), as after docker's classic builder lost the stage's dangling image to `image prune`.
    expect((await build(store, { contextDir: staged, tags: ['prune:staged'], memo: false })).executed).toBe(2);

    // -a: every record, the cache mounts and the memos.
    const mount = path.join(store.paths.cache, 'build', 'some-mount');
    await mkdir(mount, { recursive: true });
    await writeFile(path.join(mount, 'data'), 'x'.repeat(5000));
    const remaining = await recordKeys();
    const everything = await pruneBuildCache(store, { all: true });
    expect([...everything.removed].sort()).toEqual(remaining.sort());
    expect(await recordKeys()).toEqual([]);
    expect(everything.freedBytes).toBeGreaterThanOrEqual(5000);
    const cold = await build(store, { contextDir: kept, tags: ['prune:kept'] });
    expect([cold.executed, cold.cached]).toEqual([2, 0]);
    expect((await fsck(store)).problems).toEqual([]);
  }, 120_000);

  it('refuses an unknown subcommand', async () => {
    expect((await cli(['builder', 'purge'])).status).toBe(2);
  });
});
