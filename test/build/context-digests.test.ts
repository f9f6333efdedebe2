/**
 * Saved content digests of a context directory: a later build reads only files whose stat
 * identity changed; an edit of the same size with the mtime put back still changes the ctime
 * and is hashed again; racily new entries are not trusted; through `build`, such an edit
 * reruns the COPY that reads the file.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/builder.js';
import { ContextDigests, RACY_MARGIN_MS } from '../../src/build/context-digests.js';
import { DiskTree, type SourceStat } from '../../src/build/sources.js';
import { unpack } from '../../src/layer/unpack.js';
import { Store } from '../../src/store/store.js';

const ROUND_TIME = 1_600_000_000;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('context digests', () => {
  let work: string;
  let ctx: string;
  let cache: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cairn-ctx-digests-'));
    ctx = path.join(work, 'ctx');
    cache = path.join(work, 'cache');
    await mkdir(path.join(ctx, 'sub'), { recursive: true });
    await writeFile(path.join(ctx, 'a.txt'), 'aaaa');
    // A whole second, so utimes can put it back exactly (it takes no nanoseconds).
    await utimes(path.join(ctx, 'a.txt'), ROUND_TIME, ROUND_TIME);
    await writeFile(path.join(ctx, 'sub', 'b.txt'), 'b'.repeat(2 << 20)); // streamed, not read whole
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A tree over `ctx` whose clock runs `ahead` ms in the future (so new entries are not racy). */
  async function digestsOf(ahead: number, rels: string[]): Promise<{ digests: ContextDigests; values: string[] }> {
    const digests = ContextDigests.of(cache, ctx, () => Date.now() + ahead);
    const tree = new DiskTree(ctx, undefined, digests);
    const values: string[] = [];
    for (const rel of rels) values.push(await tree.digest(rel, (await tree.lstat(rel)) as SourceStat));
    await digests.save();
    return { digests, values };
  }

  it('reads a file again only when its stat identity changed', async () => {
    const rels = ['a.txt', 'sub/b.txt'];
    const first = await digestsOf(10 * RACY_MARGIN_MS, rels);
    expect(first.values).toEqual([sha256('aaaa'), sha256('b'.repeat(2 << 20))]);
    expect(first.digests.hashed).toBe(2);
    const again = await digestsOf(10 * RACY_MARGIN_MS, rels);
    expect([again.digests.hashed, again.values]).toEqual([0, first.values]);

    // Same size, mtime restored: only the ctime tells, and it is enough.
    const file = path.join(ctx, 'a.txt');
    const before = await stat(file, { bigint: true });
    await writeFile(file, 'AAAA');
    await utimes(file, ROUND_TIME, ROUND_TIME);
    const after = await stat(file, { bigint: true });
    expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);
    const edited = await digestsOf(10 * RACY_MARGIN_MS, rels);
    expect([edited.digests.hashed, edited.values]).toEqual([1, [sha256('AAAA'), first.values[1]]]);
  });

  it('does not trust a digest taken within the racy margin of the file\'s last change', async () => {
    await writeFile(path.join(ctx, 'racy.txt'), 'r');
    await digestsOf(0, ['racy.txt']);
    const again = await digestsOf(0, ['racy.txt']);
    expect(again.digests.hashed).toBe(1);
  });

  it('without saved entries (a tar context) every file is hashed', async () => {
    const tree = new DiskTree(ctx);
    await tree.digest('a.txt', (await tree.lstat('a.txt')) as SourceStat);
    await tree.digests.save();
    expect(tree.digests.hashed).toBe(1);
  });

  it('through build: a same-size edit with the mtime restored reruns the COPY that reads it', async () => {
    const store = await Store.open(path.join(work, 'store'));
    const dir = path.join(work, 'build-ctx');
    await mkdir(dir);
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY f.txt /\n');
    const file = path.join(dir, 'f.txt');
    await writeFile(file, 'one');
    await utimes(file, ROUND_TIME, ROUND_TIME);
    const first = await build(store, { contextDir: dir });
    await writeFile(file, 'two');
    await utimes(file, ROUND_TIME, ROUND_TIME);
    const second = await build(store, { contextDir: dir });
    expect(second.executed).toBe(1);
    expect(second.id).not.toBe(first.id);
    await unpack(store, second.id, path.join(work, 'out'));
    expect(await readFile(path.join(work, 'out', 'f.txt'), 'utf8')).toBe('two');
    const third = await build(store, { contextDir: dir, memo: false });
    expect([third.id, third.executed]).toEqual([second.id, 0]);
  });
});
