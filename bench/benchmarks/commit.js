/**
 * Benchmark "commit" (issue 4): the library's `commitContainer` of a one-file change, in
 * process, on a busybox base and on the Debian bookworm base. "Cost follows the change, not the
 * image": the same one-file change must commit in under 10 ms on both, the Debian one within
 * ±20 % of the busybox one (ratio 0.8–1.2).
 *
 * Before every run (untimed, in the harness) a fresh overlay container of the base gets the file
 * `/f` through the file API, and a second one, for the warm-up, the file `/w`. In the measuring
 * process, `load` (untimed) opens the store, finds the container and commits the warm-up
 * container once, untagged — a process that has committed before: lazy imports done, the native
 * addon loaded, the code compiled — and then only `commitContainer(store, record, { reference })`
 * is timed: read the base's manifest and config, turn the upper into a gzip layer, write layer,
 * config and manifest, tag. The warm-up commits another change, so that the timed commit's layer
 * is new, as a real commit's is (the store does not write a blob it already holds). A third case,
 * without target, times the first commit of a fresh process instead, for scale.
 */
import { readdir, realpath } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  commitContainer,
  createContainer,
  findContainer,
  listRecords,
  removeContainer,
  unmountRootfs,
  writeContainerFile,
} from '../../dist/container/index.js';
import { resolveImage } from '../../dist/image/resolve.js';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';

const exec = promisify(execFile);

/**
 * @typedef {object} State
 * @property {string} store
 * @property {Record<string, number>} baseLayers  layer count of each base image
 */

/** @typedef {{ store: import('../../dist/store/store.js').Store, record: import('../../dist/container/index.js').ContainerRecord }} Loaded */

const BASES = [
  { name: 'busybox', fixture: 'busybox/oci-umoci:1' },
  { name: 'debian', fixture: 'debian/oci-umoci:bookworm' },
];
const BUSYBOX_CASE = 'commit() in-process, busybox';
const DEBIAN_CASE = 'commit() in-process, Debian';
/** For scale: the first commit of a fresh process (lazy imports, native module, cold JIT). */
const FIRST_CASE = 'commit() in-process, busybox, first call';

/** The container a run commits, one per base. @param {string} base */
const containerName = (base) => `commit-${base}`;
/** The container the warm-up commits: another change, so the timed commit's layer is new. @param {string} base */
const warmUpName = (base) => `commit-${base}-warm-up`;

/**
 * Fresh containers of `base`: the one to time with one added file, `/f`, and the warm-up's with
 * `/w`. @param {State} s @param {string} base
 */
async function freshContainer(s, base) {
  const store = await Store.open(s.store);
  /** @type {[string, string][]} */
  const containers = [
    [containerName(base), '/f'],
    [warmUpName(base), '/w'],
  ];
  for (const [name, file] of containers) {
    const old = await findContainer(store, name).catch(() => undefined);
    if (old) await removeContainer(store, old, { force: true });
    const record = await createContainer(store, { image: base, name });
    await writeContainerFile(store, record, file, 'x\n');
    await unmountRootfs(store, record);
  }
}

/**
 * Opens the store and finds the container. `warm`: and commits the warm-up container once,
 * untagged, so lazy imports, the native lock module and the JIT are done, as in a process that
 * has committed before (the timed commit then does the same work on another change: its layer
 * is not in the store yet).
 * @param {State} s @param {string} base @param {boolean} warm @returns {Promise<Loaded>}
 */
async function load(s, base, warm) {
  const store = await Store.open(s.store);
  const record = await findContainer(store, containerName(base));
  if (warm) await commitContainer(store, await findContainer(store, warmUpName(base)));
  return { store, record };
}

/** The tag a run commits to (warm-up runs have index -1). @param {number} index */
const tagOf = (index) => (index < 0 ? 'committed:warm-up' : `committed:${index}`);

/** @param {unknown} loaded @param {number} index */
async function commit(loaded, index) {
  const { store, record } = /** @type {Loaded} */ (loaded);
  await commitContainer(store, record, { reference: tagOf(index) });
}

/** The new image is the base plus one layer. @param {State} s @param {string} base @param {number} index */
async function verify(s, base, index) {
  const store = await Store.open(s.store);
  const image = await resolveImage(store, tagOf(index));
  const want = (s.baseLayers[base] ?? 0) + 1;
  if (image.manifest.layers.length !== want) throw new Error(`${tagOf(index)} has ${image.manifest.layers.length} layers, expected ${want}`);
}

/**
 * @param {string} base @param {string} label @param {boolean} warm
 * @returns {import('../lib/types.js').FunctionCase<State>}
 */
function commitCase(base, label, warm) {
  return {
    label,
    ...(base === 'busybox' && warm ? { baseline: true } : {}),
    prepare: (s) => freshContainer(s, base),
    load: (s) => load(s, base, warm),
    fn: (_s, run, loaded) => commit(loaded, run.index),
    verify: (s, run) => verify(s, base, run.index),
  };
}

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'commit',
  title: 'commit() of a one-file change in process: busybox against Debian bases (cost follows the change)',
  async setup(ctx) {
    const fixtures = await ctx.fixtures({ debian: true });
    // Mount points are recorded by real path (.cache may be a symlink): cairn compares them so.
    const storeDir = join(await realpath(ctx.scratch), 'store');
    const store = await Store.open(storeDir);
    /** @type {Record<string, number>} */
    const baseLayers = {};
    for (const base of BASES) {
      const img = fixtures.image(base.fixture);
      await copy(`oci:${img.path}:${img.ref}`, base.name, { store });
      baseLayers[base.name] = (await resolveImage(store, base.name)).manifest.layers.length;
    }
    await ctx.warm([storeDir]);
    return { store: storeDir, baseLayers };
  },
  describe: (s) =>
    `Input: the fixtures \`${BASES.map((b) => b.fixture).join('` and `')}\` copied into one store (${Object.entries(s.baseLayers)
      .map(([k, v]) => `${k}: ${v} layer${v === 1 ? '' : 's'}`)
      .join(', ')}). Before every run (untimed) a fresh overlay container of the base gets \`/f\` through the file API ` +
    '(its layer directories are unpacked once, at the first create). Timed: `commitContainer(store, record, { reference })` alone, ' +
    'in a process that opened the store, found the container and committed another container (`/w` added) once, untagged, before ' +
    'the clock started (`load`: lazy imports, the native lock module and the JIT warm; the timed layer is new to the store). ' +
    '"first call": the same without that warm-up commit.',
  cases: [commitCase('busybox', BUSYBOX_CASE, true), commitCase('debian', DEBIAN_CASE, true), commitCase('busybox', FIRST_CASE, false)],
  targets: [
    { case: BUSYBOX_CASE, maxMs: 10 },
    { case: DEBIAN_CASE, maxMs: 10 },
    { case: DEBIAN_CASE, vs: BUSYBOX_CASE, minRatio: 0.8, maxRatio: 1.2 },
  ],
  async teardown(s) {
    const store = await Store.open(s.store);
    for (const record of await listRecords(store)) await removeContainer(store, record, { force: true });
    // Anything still mounted under the store (a run that failed half-way).
    const containers = join(s.store, 'cairn', 'containers');
    for (const id of await readdir(containers).catch(() => [])) {
      await exec('umount', ['-l', join(containers, id, 'rootfs')]).catch(() => undefined);
    }
  },
};
