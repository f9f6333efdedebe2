/**
 * @module container/record
 * What a container is: `cairn/containers/<id>/container.json`, written once at create (and on
 * rename), beside the runtime's own files (state.json, config.json, logs; see runtime/state).
 *
 * Records are files rather than entries in the meta database (design §1 puts them in meta): a
 * detached supervisor and the CLI read them at the same time, LevelDB admits one process at a
 * time, and opening it costs ~0.09 s on every `ps`/`exec`. gc reads `gcRoots` from these files.
 *
 * IDs are 64 hex characters (docker's form; 12-character short form in tables). Names are
 * unique in a store: create and rename check them under the store lock.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomHex } from '../sys/crypto.js';
import type { Digest } from '../digest/index.js';
import { CairnError, errnoCode } from '../errors.js';
import type { PortMapping } from '../runtime/index.js';
import type { NetworkMode, RuntimeName } from '../runtime/index.js';
import type { Store } from '../store/store.js';
import { writeFileAtomic } from '../sys/atomic.js';

/** How the container's root filesystem is made. */
export type RootfsMode = 'overlay' | 'copy';

export interface ContainerRecord {
  readonly version: 1;
  readonly id: string;
  readonly name: string;
  /** The image as the user named it, and what it resolved to. */
  readonly image: { readonly ref: string; readonly manifest: Digest; readonly id: Digest };
  readonly created: string;
  /** What the process runs: the image's Entrypoint and Cmd with the options applied (for display). */
  readonly command: readonly string[];
  /** The options as given: `args` replaces the image's Cmd, `entrypoint` its Entrypoint. */
  readonly args: readonly string[];
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly env: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly network: NetworkMode;
  readonly ports: readonly PortMapping[];
  readonly runtime: RuntimeName;
  readonly rootfs: RootfsMode;
  /** Overlay mode: the image's layer directories (chainID hex under `cairn/layers`), bottom first. */
  readonly layers: readonly string[];
  /** Remove the container when its process exits (`run --rm`). */
  readonly autoRemove: boolean;
  /** Blobs gc must keep while the container exists: its image's manifest. */
  readonly gcRoots: readonly Digest[];
}

export interface ContainerDirs {
  readonly dir: string;
  readonly record: string;
  /** The overlay upperdir: every change the container made. */
  readonly upper: string;
  readonly work: string;
  /** Where the root filesystem is mounted (overlay) or copied (copy mode). */
  readonly rootfs: string;
}

export function containerDirs(store: Store, id: string): ContainerDirs {
  const dir = path.join(store.paths.containers, id);
  // Fixed names under a normalised dir: no path.join (each costs a cold command ~15 µs).
  return { dir, record: `${dir}/container.json`, upper: `${dir}/upper`, work: `${dir}/work`, rootfs: `${dir}/rootfs` };
}

export function newContainerId(): string {
  return randomHex(32);
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const FULL_ID = /^[0-9a-f]{64}$/;

export function checkContainerName(name: string): void {
  if (!NAME.test(name) || name.length > 253) {
    throw new CairnError('invalid-argument', `container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { name });
  }
}

/**
 * Writes the record, fsynced — except a `--rm` container's: one that did not survive a crash is
 * what `--rm` asks for anyway, and the two fsyncs cost a journal commit each (tens of ms when the
 * filesystem is busy).
 */
export async function writeRecord(store: Store, record: ContainerRecord): Promise<void> {
  await writeFileAtomic(containerDirs(store, record.id).record, `${JSON.stringify(record, null, 2)}\n`, 0o644, { durable: !record.autoRemove });
}

// Records are read with synchronous calls: each is one small file, and every container command
// looks one up first, where a thread-pool round trip per file (and starting the pool) costs more
// than the reads themselves.

export async function readRecord(store: Store, id: string): Promise<ContainerRecord | undefined> {
  return readRecordSync(store, id);
}

function readRecordSync(store: Store, id: string): ContainerRecord | undefined {
  let text: string;
  try {
    text = readFileSync(containerDirs(store, id).record, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as ContainerRecord;
  } catch (err) {
    throw new CairnError('corrupt', `container ${id}: container.json does not parse`, { id }, { cause: err });
  }
}

/** Every container record, oldest first. Directories without a record (half-removed) are skipped. */
export async function listRecords(store: Store): Promise<ContainerRecord[]> {
  let ids: string[];
  try {
    ids = readdirSync(store.paths.containers);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const records: ContainerRecord[] = [];
  for (const id of ids) {
    if (!FULL_ID.test(id)) continue;
    const record = readRecordSync(store, id);
    if (record) records.push(record);
  }
  // ISO 8601 UTC times order as strings. Not localeCompare: its first call loads ICU's
  // collation (~25 ms), which every command that looks a container up would pay.
  return records.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
}

/** Finds a container by name, full ID or unique ID prefix, as docker does. */
export async function findContainer(store: Store, text: string): Promise<ContainerRecord> {
  // A full ID names its directory: one read instead of every record (docker too tries the
  // full ID before names).
  if (FULL_ID.test(text)) {
    const record = readRecordSync(store, text);
    if (record) return record;
  }
  const records = await listRecords(store);
  const byName = records.find((r) => r.name === text || r.id === text);
  if (byName) return byName;
  if (/^[0-9a-f]{1,64}$/.test(text)) {
    const matches = records.filter((r) => r.id.startsWith(text));
    if (matches.length === 1) return matches[0] as ContainerRecord;
    if (matches.length > 1) {
      throw new CairnError('invalid-argument', `container ID prefix "${text}" is ambiguous: it matches ${matches.length} containers`, { reference: text });
    }
  }
  throw new CairnError('not-found', `no such container: ${text}`, { reference: text });
}
