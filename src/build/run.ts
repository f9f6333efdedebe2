/**
 * @module build/run
 * RUN: a container from the step's parent image (the container module: a record, the
 * image's chainID layer dirs as overlay lowers, a fresh upper), the command run attached under
 * runc with its output captured for the build log, then the upper → one layer holding only this
 * step's changes (`layerFromOverlayUpper`, what `commit` stores), and the container removed.
 * Without overlay (not root) the container is a copy and its changes are found by a snapshot
 * diff against the image (correct, O(files)).
 *
 * The parent is a real image in the store (the previous step wrote it, untagged and pinned by
 * the build cache), handed to `createContainer` already resolved: step images never appear in
 * index.json.
 *
 * Mounts (`RUN --mount`): `type=cache` binds a directory kept under the store's
 * `cairn/cache/build/<sha256 of the id>` (id defaults to the target), created with the mount's
 * uid/gid/mode; `type=tmpfs` a tmpfs; `type=bind` a context path, read-only. A mount point
 * the runtime had to create (its target was not in the image) is removed from the upper before
 * the layer is made, as BuildKit removes its mount stubs. A heredoc RUN (`RUN <<EOF`) runs
 * the body as a file bound at `/dev/pipes/EOF` (BuildKit's way; its `#!` line is honoured).
 */
import { chmod, chown, mkdir, mkdtemp, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createHash } from '../sys/crypto.js';
import { createContainerWithConfig, mountRootfs, removeContainer, startContainer } from '../container/index.js';
import { containerDirs } from '../container/record.js';
import { diffDirectoryAgainstImage, layerFromOverlayUpper, writeChangesetLayer } from '../diff/index.js';
import { CairnError, errnoCode } from '../errors.js';
import type { ResolvedImage } from '../image/resolve.js';
import type { SpecMount } from '../runtime/index.js';
import type { Store } from '../store/store.js';
import { chompHeredocContent, parseMount, type RunMount, type ShellInlineFile } from './parser/index.js';

export interface RunStepOptions {
  /** The parent image (the previous step's). */
  readonly image: ResolvedImage;
  /** What the container runs. */
  readonly argv: readonly string[];
  /** Build args for the process (`K=v`), over the image's Env. */
  readonly env: readonly string[];
  readonly network: 'default' | 'none' | 'host';
  /** `--mount` values, expanded (`parseMount` with the step's expansion). */
  readonly mounts: readonly RunMount[];
  /** `RUN <<EOF`: the body to run as a file. */
  readonly script?: ShellInlineFile;
  readonly workdir: string;
  /**
   * The image's VOLUMEs: what the command changes there is discarded (docker's classic builder
   * mounts an anonymous volume there); a volume path the image lacks stays as an empty dir.
   */
  readonly volumes?: readonly string[];
  /** The context root, for `type=bind` mounts. */
  readonly contextRoot?: string;
  /** SOURCE_DATE_EPOCH: no layer entry newer than this. */
  readonly clampMtime?: Date;
  /** The process's output, as it comes. */
  readonly onOutput: (chunk: string) => void;
  readonly onContainer: (id: string) => void;
}

export interface RunStepResult {
  /** The layer tar of the step's changes; `done` removes the container once it was read. */
  readonly tar: Readable;
  done(): Promise<void>;
}

/** Thrown when the command exits non-zero; `data.exitCode`. */
export class RunFailed extends CairnError {
  constructor(argv: readonly string[], exitCode: number) {
    super('process-failed', `The command '${argv.join(' ')}' returned a non-zero code: ${exitCode}`, { exitCode, command: [...argv] });
  }
}

const NETWORK = { default: 'private', none: 'none', host: 'host' } as const;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

/** The runtime mounts for a step's `--mount`s, and their targets (absolute). */
async function specMounts(store: Store, options: RunStepOptions, scratch: string): Promise<{ mounts: SpecMount[]; targets: string[] }> {
  const mounts: SpecMount[] = [];
  const targets: string[] = [];
  for (const m of options.mounts) {
    if (m.target === undefined || m.target === '') throw new CairnError('invalid-argument', `RUN --mount type=${m.type}: a target is required`, {});
    const target = path.posix.resolve(options.workdir || '/', m.target);
    targets.push(target);
    switch (m.type) {
      case 'cache': {
        const id = m.id !== undefined && m.id !== '' ? m.id : target;
        const dir = path.join(store.paths.cache, 'build', createHash('sha256').update(id).digest('hex'));
        if (!(await exists(dir))) {
          await mkdir(dir, { recursive: true });
          await chmod(dir, m.mode ?? 0o755);
          await chown(dir, m.uid ?? 0, m.gid ?? 0);
        }
        mounts.push({ destination: target, type: 'bind', source: dir, options: ['rbind', m.readOnly ? 'ro' : 'rw', 'rprivate'] });
        break;
      }
      case 'tmpfs':
        mounts.push({ destination: target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', ...(m.sizeLimit ? [`size=${m.sizeLimit}`] : [])] });
        break;
      case 'bind': {
        if (m.from !== undefined && m.from !== '') {
          throw new CairnError('unsupported', `RUN --mount type=bind,from=${m.from}: binding from another stage or image is not supported yet; COPY --from the files instead`, {});
        }
        if (!options.contextRoot) throw new CairnError('unsupported', 'RUN --mount type=bind needs a build context', {});
        if (!m.readOnly) {
          throw new CairnError('unsupported', 'RUN --mount type=bind,rw: writable bind mounts of the context are not supported (they would change your files)', {});
        }
        const { rootPath } = await import('../layer/scoped-path.js');
        const source = await rootPath(options.contextRoot, (m.source ?? '').replace(/^\/+/, ''));
        mounts.push({ destination: target, type: 'bind', source, options: ['rbind', 'ro', 'rprivate'] });
        break;
      }
      default:
        throw new CairnError('unsupported', `RUN --mount type=${m.type} is not supported (cairn builds have no secrets or ssh agent)`, { type: m.type });
    }
  }
  if (options.script) {
    const dir = await mkdtemp(path.join(scratch, 'heredoc-'));
    const file = path.join(dir, options.script.name);
    const data = options.script.chomp ? chompHeredocContent(options.script.data) : options.script.data;
    await writeFile(file, data, { mode: 0o755 });
    mounts.push({ destination: `/dev/pipes/${options.script.name}`, type: 'bind', source: file, options: ['rbind', 'ro', 'rprivate'] });
  }
  return { mounts, targets };
}

/** The paths among `targets` and their parents that do not exist in the mounted `rootfs`, deepest first. */
async function missingIn(rootfs: string, targets: readonly string[]): Promise<string[]> {
  const { resolveInRoot } = await import('../layer/scoped-path.js');
  const out: string[] = [];
  for (const target of targets) {
    let p = path.posix.resolve('/', target);
    while (p !== '/' && !(await exists(path.join(rootfs, await resolveInRoot(rootfs, p.slice(1)))))) {
      out.push(p);
      p = path.posix.dirname(p);
    }
  }
  return out;
}

/** Removes mount points the runtime created in `root` (the upper or a copied rootfs): empty directories the image lacked. */
async function removeStubs(root: string, stubs: readonly string[]): Promise<void> {
  for (const stub of stubs) {
    try {
      if ((await readdir(path.join(root, stub))).length === 0) await rmdir(path.join(root, stub));
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENOTEMPTY') throw err;
    }
  }
}

/**
 * Drops what the command did under the image's volumes (overlay: the upper's entries there,
 * so the lower shows through); a volume the image lacked is left as an empty directory.
 */
async function discardVolumes(upper: string, volumes: readonly string[], missing: ReadonlySet<string>): Promise<void> {
  for (const volume of volumes) {
    const p = path.posix.resolve('/', volume);
    const abs = path.join(upper, p);
    await rm(abs, { recursive: true, force: true });
    if (missing.has(p)) await mkdir(abs, { recursive: true, mode: 0o755 });
  }
}

/**
 * Runs one RUN step. Resolves with the layer once the command exited 0.
 *
 * @throws RunFailed (exit code in `data.exitCode`) when the command fails; CairnError
 *   'process-failed' when it cannot start. The container is removed either way.
 */
export async function runStep(store: Store, options: RunStepOptions): Promise<RunStepResult> {
  await mkdir(store.paths.tmp, { recursive: true });
  const scratch = await mkdtemp(path.join(store.paths.tmp, 'build-run-'));
  let record;
  try {
    const { mounts, targets } = await specMounts(store, options, scratch);
    const created = await createContainerWithConfig(store, {
      image: options.image.id,
      resolved: options.image,
      args: options.argv,
      entrypoint: [],
      env: options.env,
      network: NETWORK[options.network],
    });
    record = created.record;
    options.onContainer(record.id);
    const rootfs = await mountRootfs(store, record);
    const volumes = record.rootfs === 'overlay' ? (options.volumes ?? []) : [];
    const stubs = await missingIn(rootfs, targets);
    const missingVolumes = new Set(await missingIn(rootfs, volumes));
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => options.onOutput(chunk.toString('utf8')));
    // Ctrl-C (and TERM, HUP, QUIT) while it runs goes to the command, as docker's builder does:
    // it ends, the step fails, and the container is removed below instead of left running.
    const status = await startContainer(store, record, { attach: { stdout: out, stderr: out }, mounts, forwardSignals: true, imageConfig: created.imageConfig });
    out.end();
    const code = typeof status === 'number' ? status : 0;
    if (code !== 0) throw new RunFailed(options.argv, code);
    const dirs = containerDirs(store, record.id);
    const clamp = options.clampMtime ? { clampMtime: options.clampMtime } : {};
    let tar: Readable;
    if (record.rootfs === 'overlay') {
      await mkdir(dirs.upper, { recursive: true });
      await removeStubs(dirs.upper, stubs);
      await discardVolumes(dirs.upper, volumes, missingVolumes);
      // No lower view needed: overlayfs only makes whiteouts for what a lower has.
      tar = layerFromOverlayUpper(dirs.upper, clamp);
    } else {
      await removeStubs(dirs.rootfs, stubs);
      const { UnionView } = await import('../union/index.js');
      const lower = await UnionView.open(store, options.image);
      const changes = await diffDirectoryAgainstImage(dirs.rootfs, lower);
      tar = writeChangesetLayer(changes, { sourceDir: dirs.rootfs, ...clamp });
    }
    const made = record;
    return {
      tar,
      done: async () => {
        await removeContainer(store, made, { force: true });
        await rm(scratch, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (record) await removeContainer(store, record, { force: true }).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

export { parseMount };
