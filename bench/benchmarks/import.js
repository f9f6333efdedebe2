/**
 * Benchmark "import" (issue Foundation): copying the Debian bookworm fixture from an OCI layout
 * into a fresh store, against skopeo copying it into a fresh OCI layout and against the floor of
 * hashing its layer blob. cairn and skopeo both verify every blob's digest while copying.
 * Target: cairn CLI ≤ 1.5× skopeo's wall time, peak RSS < 150 MiB.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';
import { layoutImage } from '../lib/fixtures.js';

/** @typedef {import('../lib/types.js').LayoutImage} LayoutImage */

/**
 * @typedef {object} State
 * @property {string} root
 * @property {string} layout
 * @property {string} ref
 * @property {LayoutImage} image
 */

const FIXTURE = 'debian/oci-umoci:bookworm';
const NAME = 'debian:bookworm';

/**
 * Checks that `layout` holds `ref` as the same manifest as the source, with every blob at its size.
 * @param {State} s
 * @param {string} layout
 * @param {string} ref
 */
async function verifyCopy(s, layout, ref) {
  const got = await layoutImage(layout, ref);
  if (got.manifest.digest !== s.image.manifest.digest) {
    throw new Error(`${layout}: ${ref} is ${got.manifest.digest}, expected ${s.image.manifest.digest}`);
  }
  for (const b of [got.manifest, got.config, ...got.layers]) {
    const size = (await stat(b.path)).size;
    if (size !== b.size) throw new Error(`${b.path}: ${size} bytes, expected ${b.size}`);
  }
}

/** @param {State} s */
const source = (s) => `oci:${s.layout}:${s.ref}`;
/** @param {{dir: string}} run */
const storeDir = (run) => join(run.dir, 'store');
/** @param {{dir: string}} run */
const skopeoDir = (run) => join(run.dir, 'layout');

/** @param {State} s */
function layerBlob(s) {
  if (s.image.layers.length !== 1) throw new Error(`${FIXTURE}: expected one layer, found ${s.image.layers.length}`);
  return /** @type {import('../lib/types.js').LayoutBlob} */ (s.image.layers[0]).path;
}

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'import',
  title: 'import the Debian bookworm fixture from an OCI layout into a fresh store',
  versions: [['skopeo', '--version'], ['sha256sum', '--version'], ['openssl', 'version']],
  async setup(ctx) {
    const fixtures = await ctx.fixtures({ debian: true });
    const img = fixtures.image(FIXTURE);
    const image = await layoutImage(img.path, img.ref);
    await ctx.warm([img.path]);
    return { root: ctx.root, layout: img.path, ref: img.ref, image };
  },
  describe(s) {
    const mb = (/** @type {number} */ n) => `${(n / 1e6).toFixed(1)} MB`;
    const layers = s.image.layers.map((l) => mb(l.size)).join(' + ');
    return (
      `Input: fixture \`${FIXTURE}\` (scripts/build-fixtures, DEBIAN=1): manifest ${s.image.manifest.digest.slice(0, 19)}…, ` +
      `${s.image.layers.length} gzip layer(s) of ${layers}. Each run copies into a new empty directory on the same filesystem.`
    );
  },
  cases: [
    {
      label: 'cairn copy (CLI)',
      command: (s, run) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', storeDir(run), 'copy', '-q', source(s), NAME],
      verify: (s, run) => verifyCopy(s, storeDir(run), NAME),
    },
    {
      label: 'cairn copy() in-process',
      fn: async (s, run) => {
        const store = await Store.open(storeDir(run));
        await copy(source(s), NAME, { store });
      },
      verify: (s, run) => verifyCopy(s, storeDir(run), NAME),
    },
    {
      label: 'skopeo copy',
      baseline: true,
      command: (s, run) => ['skopeo', '--insecure-policy', 'copy', '-q', source(s), `oci:${skopeoDir(run)}:${s.ref}`],
      verify: (s, run) => verifyCopy(s, skopeoDir(run), s.ref),
    },
    {
      label: 'sha256sum layer blob',
      baseline: true,
      command: (s) => ['sha256sum', layerBlob(s)],
    },
    {
      label: 'openssl sha256 layer blob',
      command: (s) => ['openssl', 'dgst', '-sha256', layerBlob(s)],
    },
  ],
  targets: [
    { case: 'cairn copy (CLI)', vs: 'skopeo copy', maxRatio: 1.5 },
    { case: 'cairn copy (CLI)', maxRssMiB: 150 },
    { case: 'cairn copy() in-process', maxRssMiB: 150 },
  ],
};
