/**
 * @module container/create
 * `create`: resolve the image, reserve the name, prepare the root filesystem. The name check
 * and the record write happen under the store lock (names are unique); layer preparation runs
 * inside the store's ingest lock so gc keeps the image while the container is being made, and
 * the record's `gcRoots` keep it afterwards.
 */
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { CairnError } from '../errors.js';
import { readConfig } from '../image/list.js';
import { resolveImage, type ResolvedImage } from '../image/resolve.js';
import type { ImageConfig, Platform } from '../oci/types.js';
import { parsePublish, type PortMapping } from '../runtime/ports.js';
import { processArgs } from '../runtime/spec.js';
import type { NetworkMode, RuntimeName } from '../runtime/types.js';
import type { Store } from '../store/store.js';
import { overlayAvailable } from '../sys/mount.js';
import { prepareLayers } from './layers.js';
import { randomName } from './names.js';
import { checkContainerName, containerDirs, listRecords, newContainerId, writeRecord, type ContainerRecord, type RootfsMode } from './record.js';

export interface CreateOptions {
  readonly image: string;
  /**
   * The image, already resolved: `image` is then only its name for the record. For images that
   * are in the store but not in index.json (the builder's step images, pinned by the build
   * cache).
   */
  readonly resolved?: ResolvedImage;
  readonly name?: string;
  /** Replaces the image's Cmd. */
  readonly args?: readonly string[];
  readonly entrypoint?: readonly string[];
  readonly env?: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly tty?: boolean;
  readonly interactive?: boolean;
  readonly network?: NetworkMode;
  /** `-p` values: `[IP:]HOST:CTR[/tcp]`. */
  readonly publish?: readonly string[];
  readonly runtime?: RuntimeName;
  /** Default: overlay when this process may mount it, else copy. */
  readonly rootfs?: RootfsMode;
  readonly autoRemove?: boolean;
  readonly platform?: Platform;
  readonly now?: Date;
}

function checkPorts(publish: readonly string[], network: NetworkMode): PortMapping[] {
  const ports = publish.map((p) => parsePublish(p));
  if (ports.length > 0 && network !== 'private') {
    throw new CairnError('invalid-argument', `-p cannot be used with --network ${network}: published ports reach the container's own network namespace`, {});
  }
  const seen = new Set<string>();
  for (const port of ports) {
    const key = `${port.hostIp}:${port.hostPort}`;
    if (port.hostPort !== 0 && seen.has(key)) throw new CairnError('invalid-argument', `-p: host port ${key} is given twice`, { port: key });
    seen.add(key);
  }
  return ports;
}

/** A container just made, with the image config `create` read (a `start` right after can reuse it). */
export interface CreatedContainer {
  readonly record: ContainerRecord;
  readonly imageConfig: ImageConfig;
}

export async function createContainer(store: Store, options: CreateOptions): Promise<ContainerRecord> {
  return (await createContainerWithConfig(store, options)).record;
}

/** `createContainer`, also returning the image config, for `run` (create, then start at once). */
export async function createContainerWithConfig(store: Store, options: CreateOptions): Promise<CreatedContainer> {
  const network = options.network ?? 'private';
  const ports = checkPorts(options.publish ?? [], network);
  if (options.name !== undefined) checkContainerName(options.name);
  const canOverlay = options.rootfs === 'copy' ? false : await overlayAvailable();
  const rootfs: RootfsMode = options.rootfs ?? (canOverlay ? 'overlay' : 'copy');
  if (rootfs === 'overlay' && !canOverlay) {
    throw new CairnError('unsupported', 'overlay root filesystems need root and a kernel with overlayfs; use --rootfs copy', {});
  }
  return store.ingest(async () => {
    // The manifest and config are taken as the store holds them, unchecked: their digests were
    // checked when they entered it (design §1; fsck checks again), as podman and containerd trust
    // their stores. Hashing them costs more than the rest of a `run --rm` up to its mount, and a
    // config over a kilobyte would load node:crypto (~7 ms) for nothing else.
    const image = options.resolved ?? (await resolveImage(store, options.image, { ...(options.platform ? { platform: options.platform } : {}), verify: false }));
    const config = await readConfig(store, image, { verify: false });
    const id = newContainerId();
    const dirs = containerDirs(store, id);
    // Layers first, so the record is written once and complete (each write is two fsyncs), and
    // no reader ever sees a container whose layers are still being unpacked.
    const layers = rootfs === 'overlay' ? await prepareLayers(store, image, config) : [];
    const record = await store.withLock(async (): Promise<ContainerRecord> => {
      const taken = new Set((await listRecords(store)).map((r) => r.name));
      const name = options.name ?? randomName((n) => taken.has(n));
      if (taken.has(name)) {
        throw new CairnError('conflict', `the container name "${name}" is already in use; remove that container or choose another name`, { name });
      }
      const made: ContainerRecord = {
        version: 1,
        id,
        name,
        image: { ref: options.image, manifest: image.descriptor.digest, id: image.id },
        created: (options.now ?? new Date()).toISOString(),
        command: processArgs(config, {
          ...(options.args && options.args.length > 0 ? { args: options.args } : {}),
          ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint } : {}),
        }),
        args: [...(options.args ?? [])],
        ...(options.entrypoint !== undefined ? { entrypoint: [...options.entrypoint] } : {}),
        env: [...(options.env ?? [])],
        ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
        ...(options.user !== undefined ? { user: options.user } : {}),
        hostname: options.hostname ?? id.slice(0, 12),
        tty: options.tty ?? false,
        interactive: options.interactive ?? false,
        network,
        ports,
        runtime: options.runtime ?? 'runc',
        rootfs,
        layers,
        autoRemove: options.autoRemove ?? false,
        gcRoots: [image.descriptor.digest],
      };
      try {
        // Synchronous mkdirs: three metadata syscalls cost less than thread-pool round trips.
        mkdirSync(dirs.dir, { recursive: true });
        // The upper exists from the start: diff and commit of a container never mounted read it.
        if (rootfs === 'overlay') for (const dir of [dirs.upper, dirs.work]) mkdirSync(dir);
        await writeRecord(store, made);
      } catch (err) {
        await rm(dirs.dir, { recursive: true, force: true });
        throw err;
      }
      return made;
    });
    if (rootfs === 'copy') {
      try {
        const { unpack } = await import('../layer/unpack.js');
        await unpack(store, image.descriptor.digest, dirs.rootfs);
      } catch (err) {
        await rm(dirs.dir, { recursive: true, force: true });
        throw err;
      }
    }
    return { record, imageConfig: config };
  });
}
