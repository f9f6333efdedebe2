/**
 * Small real images for store tests, made with the library itself (draft → appendLayer →
 * writeImage), plus what tests around them need: temp dirs and stores in them, a seeded byte
 * stream for big layers, the list of an image's blobs, captured CLI streams, and child processes
 * that run scripts in `test/support/` against the built `dist/` (every child is killed when the
 * test ends or the process exits, whatever happened).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { CliIO } from '../../src/cli/context.js';
import type { Digest } from '../../src/digest/index.js';
import { appendLayer, scratchImage, writeImage } from '../../src/image/draft.js';
import { parseManifest, type Descriptor, type ImageManifest } from '../../src/oci/index.js';
import { Store } from '../../src/store/store.js';
import { packTar, type Compression, type TarEntryInit } from '../../src/tar/index.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SUPPORT_DIR = path.join(REPO_ROOT, 'test', 'support');
export const DIST_DIR = path.join(REPO_ROOT, 'dist');
const EPOCH = new Date('2024-01-01T00:00:00Z');

/** A fresh directory under the OS temp dir; remove it with `removeDir` (in afterEach). */
export function tempDir(prefix = 'cairn-store-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** A store in a temp dir of its own (`tempStore`). */
export interface TempStore {
  /** The temp dir: remove it with `removeDir` (in afterEach or afterAll). */
  readonly dir: string;
  readonly store: Store;
}

export interface TempStoreOptions {
  /** Open the store at `<dir>/<subdir>`, leaving the temp dir for other files; default: the dir itself. */
  readonly subdir?: string;
  /** Create the store's directories now (`Store.prepare`), for tests that look at them. */
  readonly prepare?: boolean;
}

/**
 * A store in a fresh temp dir, the setup most store tests share.
 *
 * @example
 * let dir: string;
 * let store: Store;
 * beforeEach(async () => ({ dir, store } = await tempStore('cairn-gc-')));
 * afterEach(() => removeDir(dir));
 */
export async function tempStore(prefix?: string, options: TempStoreOptions = {}): Promise<TempStore> {
  const dir = await tempDir(prefix);
  const store = await Store.open(options.subdir === undefined ? dir : path.join(dir, options.subdir));
  if (options.prepare) await store.prepare();
  return { dir, store };
}

/** Files of a layer: path → content. Directories on the way are added. */
export type LayerFiles = Readonly<Record<string, string | Uint8Array>>;

export interface MakeImageOptions {
  /** One layer of files. Ignored when `layers` is given. */
  readonly files?: LayerFiles;
  /** Several layers, bottom first. */
  readonly layers?: readonly LayerFiles[];
  /** `name:tag` to tag it; `null` records it as an untagged index.json entry; undefined: not recorded at all. */
  readonly tag?: string | null;
  readonly compression?: Compression;
  /** Wrap the writes in `store.ingest()` (default true); false when the caller already holds it. */
  readonly ingest?: boolean;
  /** Config `created` (default a fixed date, so the same files give the same image). */
  readonly created?: Date;
  /** Replace the config's diff_ids before writing (to make a lying config). */
  readonly diffIds?: (real: readonly Digest[]) => Digest[];
}

export interface TestImage {
  /** The manifest descriptor (as tagged). */
  readonly descriptor: Descriptor;
  readonly manifest: ImageManifest;
  readonly config: Digest;
  readonly layers: readonly Digest[];
  /** Manifest, config and layer digests. */
  readonly blobs: readonly Digest[];
  /** diffIDs as the config records them. */
  readonly diffIds: readonly Digest[];
}

function layerItems(files: LayerFiles): { entry: TarEntryInit; body?: Uint8Array }[] {
  const dirs = new Set<string>();
  for (const name of Object.keys(files)) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const items: { entry: TarEntryInit; body?: Uint8Array }[] = [];
  for (const dir of [...dirs].sort()) items.push({ entry: { path: dir, type: 'directory', mtime: EPOCH } });
  for (const [name, content] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    items.push({ entry: { path: name, type: 'file', mtime: EPOCH }, body: typeof content === 'string' ? Buffer.from(content) : content });
  }
  return items.sort((a, b) => (a.entry.path < b.entry.path ? -1 : a.entry.path > b.entry.path ? 1 : 0));
}

/**
 * Writes an image with the given layers into the store and optionally tags it.
 *
 * @example
 * const img = await makeImage(store, { files: { 'etc/motd': 'hi\n' }, tag: 'demo:1' });
 */
export async function makeImage(store: Store, options: MakeImageOptions = {}): Promise<TestImage> {
  const write = async (): Promise<TestImage> => {
    let draft = scratchImage(EPOCH);
    const layers = options.layers ?? [options.files ?? { 'hello.txt': 'hello\n' }];
    for (const [i, files] of layers.entries()) {
      draft = await appendLayer(store, draft, packTar(layerItems(files)), {
        compression: options.compression ?? 'gzip',
        history: { created_by: `test layer ${i}` },
      });
    }
    if (options.diffIds) {
      draft = { ...draft, config: { ...draft.config, rootfs: { type: 'layers', diff_ids: options.diffIds(draft.config.rootfs.diff_ids as Digest[]) } } };
    }
    const descriptor = await writeImage(store, draft, { created: options.created ?? EPOCH });
    if (options.tag !== undefined) await store.setTag(options.tag ?? undefined, descriptor);
    return imageOf(store, descriptor);
  };
  return options.ingest === false ? write() : store.ingest(write);
}

/** The image a manifest descriptor names, with its blob digests. */
export async function imageOf(store: Store, descriptor: Descriptor): Promise<TestImage> {
  const manifest = parseManifest(await store.blobs.readBytes(descriptor.digest), `manifest ${descriptor.digest}`);
  const config = JSON.parse((await store.blobs.readBytes(manifest.config.digest)).toString('utf8')) as { rootfs: { diff_ids: Digest[] } };
  const layers = manifest.layers.map((l) => l.digest);
  return {
    descriptor,
    manifest,
    config: manifest.config.digest,
    layers,
    blobs: [descriptor.digest, manifest.config.digest, ...layers],
    diffIds: config.rootfs.diff_ids,
  };
}

/** Every blob digest in the store. */
export async function listBlobs(store: Store): Promise<Digest[]> {
  const out: Digest[] = [];
  for await (const d of store.blobs.list()) out.push(d);
  return out;
}

/** Names in a directory, [] when it does not exist. */
export async function dirEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/**
 * `size` bytes from a xorshift32 generator seeded with `seed`: incompressible enough to make a
 * big gzip layer, the same bytes for the same seed, produced a chunk at a time (never all in memory).
 */
export function seededStream(seed: number, size: number, chunkSize = 1 << 16): Readable {
  let state = seed >>> 0 || 0x9e3779b9;
  let left = size;
  return new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, left);
      const words = new Uint32Array(Math.ceil(n / 4));
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state >>>= 0;
        state ^= state >>> 17;
        state ^= state << 5;
        state >>>= 0;
        words[i] = state;
      }
      left -= n;
      this.push(Buffer.from(words.buffer, 0, n));
    },
  });
}

/** CLI streams that collect what a command writes, for `main(argv, io)`. */
export interface CapturedIO extends CliIO {
  out(): string;
  err(): string;
}

export function captureIO(env: Record<string, string | undefined> = {}): CapturedIO {
  const collect = (): { stream: PassThrough; text: () => string } => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const stdout = collect();
  const stderr = collect();
  return {
    stdout: stdout.stream,
    stderr: stderr.stream,
    stdin: Readable.from([]),
    env: { ...env },
    out: stdout.text,
    err: stderr.text,
  };
}

/**
 * Throws a clear error when `dist/` is missing or older than `src/store` (child processes run
 * the built library: `npx tsc -p tsconfig.json`).
 */
export function requireDist(): void {
  const probe = path.join(DIST_DIR, 'store', 'store.js');
  if (!existsSync(probe)) throw new Error(`${probe} is missing: build first (npx tsc -p tsconfig.json)`);
  const built = statSync(probe).mtimeMs;
  const srcDir = path.join(REPO_ROOT, 'src', 'store');
  for (const file of ['blobs.ts', 'store.ts', 'layout.ts', 'tags.ts', 'gc.ts']) {
    const src = path.join(srcDir, file);
    const out = path.join(DIST_DIR, 'store', file.replace(/\.ts$/, '.js'));
    if (!existsSync(out) || statSync(src).mtimeMs > Math.max(statSync(out).mtimeMs, built) + 1000) {
      console.warn(`warning: dist/ is older than src/store/${file}; child processes run the old build (npx tsc -p tsconfig.json)`);
      return;
    }
  }
}

/** A child process running a script of `test/support/`, with its output collected. */
export interface Child {
  readonly process: ChildProcess;
  /** Lines written to stdout so far. */
  readonly lines: string[];
  stderr(): string;
  /** Resolves with the exit code (null) and signal when it ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a stdout line matches, rejects when the child exits first. */
  waitForLine(match: (line: string) => boolean): Promise<string>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts `node test/support/<script> ...args`. Kill leftovers with `killChildren()` in afterEach. */
export function runScript(script: string, args: readonly string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [path.join(SUPPORT_DIR, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  live.add(child);
  const lines: string[] = [];
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let partial = '';
  let errText = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    errText += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close' comes after 'exit' and after stdout and stderr ended, so every line has been seen.
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    process: child,
    lines,
    stderr: () => errText,
    exited,
    waitForLine(match) {
      const hit = lines.find(match);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise<string>((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(({ code, signal }) => reject(new Error(`${script} exited (${code ?? signal}) before the line; stderr: ${errText}`)));
      });
    },
  };
}

/** SIGKILLs every child still running and waits for them. */
export async function killChildren(): Promise<void> {
  const waiting = [...live].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(waiting);
}
