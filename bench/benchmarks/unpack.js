/**
 * Benchmark "unpack": `cairn unpack` of the Debian bookworm fixture (imported into a store in
 * setup) into a fresh directory, against `umoci unpack` of the same image into a bundle and
 * against the floor `gzip -dc LAYER | tar -x`. Also the memory case: `cairn unpack` of a
 * generated image with one ~1 GiB (uncompressed) gzip layer, for its peak RSS.
 * Targets: cairn CLI ≤ 0.6× umoci's wall time; peak RSS < 150 MiB unpacking the big layer.
 *
 * No run follows a deletion: the harness keeps every run's directory until all benchmarks are
 * done, and the tmpfs ones stay until teardown. On this VM's ext4 (no journal) the inode
 * allocator skips inodes freed in the last minute or more, rescanning them for every new inode:
 * when each run deleted the previous run's 6,662-entry tree first, that scan was 30-65 % of
 * every tool's CPU (`perf`: `find_inode_bit` → `recently_deleted`) and the disk ratios measured
 * the harness's `rm -rf` more than the tools. spec-notes/benchmarks.md has the numbers.
 *
 * The big layer's size is CAIRN_BENCH_UNPACK_MIB (default 1024): four files of a quarter each,
 * pseudo-random base64 text (compresses to ~76 %, so gzip cannot shortcut it), gzip level 1,
 * streamed into the store with appendLayer + writeImage + setTag (never whole in memory).
 */
import { randomBytes } from 'node:crypto';
import { access, cp, mkdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';
import { appendLayer, scratchImage, writeImage } from '../../dist/image/draft.js';
import { createTarWriter } from '../../dist/tar/write.js';
import { layoutImage } from '../lib/fixtures.js';

/**
 * @typedef {object} State
 * @property {string} root
 * @property {string} store       holds debian:bookworm and big:1
 * @property {string} layout      a copy of the fixture layout, for umoci
 * @property {string} ref
 * @property {string} layerBlob   the bookworm layer blob (gzip), for the gzip | tar floor
 * @property {number} layerSize
 * @property {number} bigMiB      uncompressed content of the big layer, MiB
 * @property {number} bigBlob     compressed size of the big layer, bytes
 * @property {number} bigSeconds  how long generating it took
 */

const FIXTURE = 'debian/oci-umoci:bookworm';
const NAME = 'debian:bookworm';
const BIG = 'big:1';
const FILES = 4;
const CHUNK = 1 << 20;

/**
 * Pseudo-random text, `size` bytes in 1 MiB chunks: windows of a 16 MiB base64 pool at
 * pseudo-random offsets (further apart than deflate's 32 KiB window, so nothing repeats for it).
 * @param {number} size
 * @param {Buffer} pool
 * @param {number} seed
 */
async function* content(size, pool, seed) {
  let x = seed >>> 0 || 1;
  for (let done = 0; done < size; ) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const n = Math.min(CHUNK, size - done);
    const off = x % (pool.length - n);
    yield pool.subarray(off, off + n);
    done += n;
  }
}

/**
 * Writes image `BIG` into `store`: one gzip (level 1) layer of FILES files, `mib` MiB in all.
 * @param {Store} store
 * @param {number} mib
 */
async function makeBigImage(store, mib) {
  const pool = Buffer.from(randomBytes(12 << 20).toString('base64'));
  const per = Math.floor((mib * CHUNK) / FILES);
  const tar = createTarWriter();
  const adding = (async () => {
    await tar.add({ path: 'data', type: 'directory' });
    for (let i = 0; i < FILES; i++) await tar.add({ path: `data/file-${i}`, type: 'file', size: per }, content(per, pool, 0x9e3779b9 + i));
    await tar.finish();
  })();
  const [draft] = await Promise.all([appendLayer(store, scratchImage(), tar.stream, { level: 1, what: 'big layer' }), adding]);
  await store.setTag(BIG, await writeImage(store, draft));
  return draft.layers[0]?.size ?? 0;
}

/**
 * @param {string} path
 */
async function mustExist(path) {
  await access(path).catch(() => {
    throw new Error(`${path} is missing after unpacking`);
  });
}

/** @param {{dir: string}} run */
const target = (run) => join(run.dir, 'rootfs');
const TMPFS = '/dev/shm/cairn-bench-unpack';
/**
 * A run's directory on tmpfs (/dev/shm): the same unpacks without the filesystem's own costs,
 * so what is left is the tools' work. Named after the run's directory (new for every run), made
 * by `prepare`; like the runs on disk, all of them are deleted only at teardown.
 * @param {{dir: string}} run
 */
const onTmpfs = (run) => join(TMPFS, basename(run.dir));
/** @param {unknown} _s @param {{dir: string}} run */
const freshTmpfs = async (_s, run) => {
  await mkdir(onTmpfs(run), { recursive: true });
};
/** @param {{dir: string}} run */
const bundle = (run) => join(run.dir, 'bundle');

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'unpack',
  title: 'unpack the Debian bookworm fixture into a fresh directory; peak RSS unpacking a ~1 GiB layer',
  versions: [['umoci', '--version'], ['tar', '--version'], ['gzip', '--version']],
  async setup(ctx) {
    await rm(TMPFS, { recursive: true, force: true }); // left by an interrupted run
    const fixtures = await ctx.fixtures({ debian: true });
    const img = fixtures.image(FIXTURE);
    const image = await layoutImage(img.path, img.ref);
    const layer = image.layers[0];
    if (image.layers.length !== 1 || layer === undefined) throw new Error(`${FIXTURE}: expected one layer`);
    const layout = join(ctx.scratch, 'layout');
    await cp(img.path, layout, { recursive: true, verbatimSymlinks: true });
    const storeDir = join(ctx.scratch, 'store');
    const store = await Store.open(storeDir);
    await copy(`oci:${img.path}:${img.ref}`, NAME, { store });
    const bigMiB = Number(process.env.CAIRN_BENCH_UNPACK_MIB ?? 1024);
    ctx.log(`generating a ${bigMiB} MiB layer (gzip -1)`);
    const t0 = process.hrtime.bigint();
    const bigBlob = await makeBigImage(store, bigMiB);
    const bigSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    ctx.log(`big layer: ${(bigBlob / 1e6).toFixed(1)} MB compressed in ${bigSeconds.toFixed(1)} s`);
    await ctx.warm([layout, join(storeDir)]);
    return { root: ctx.root, store: storeDir, layout, ref: img.ref, layerBlob: layer.path, layerSize: layer.size, bigMiB, bigBlob, bigSeconds };
  },
  describe: (s) =>
    `Input: fixture \`${FIXTURE}\` (scripts/build-fixtures, DEBIAN=1; one ${(s.layerSize / 1e6).toFixed(1)} MB gzip layer), imported into a ` +
    `store in setup; umoci unpacks from a copy of the fixture layout (a full \`umoci unpack\`: rootfs, config.json and its mtree manifest). ` +
    `Each run unpacks into a new empty directory; all of them are deleted only after the last run (a deletion of thousands of inodes ` +
    `makes the next minutes of inode allocation slower on this VM's journal-less ext4; see spec-notes/benchmarks.md). ` +
    `Every run is checked for \`etc/debian_version\`. ` +
    `\`gzip -dc | tar -x\` is the floor (no digest checks, GNU tar as root). ` +
    `Memory case: image \`${BIG}\`, one gzip -1 layer of ${FILES} files, ${s.bigMiB} MiB uncompressed, ${(s.bigBlob / 1e6).toFixed(0)} MB compressed, ` +
    `generated in setup by streaming through appendLayer + writeImage (${s.bigSeconds.toFixed(1)} s); its time is for scale only.`,
  cases: [
    {
      label: 'cairn unpack (CLI)',
      command: (s, run) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'unpack', '-q', NAME, target(run)],
      verify: (s, run) => mustExist(join(target(run), 'etc', 'debian_version')),
    },
    {
      label: 'umoci unpack',
      baseline: true,
      command: (s, run) => ['umoci', 'unpack', '--image', `${s.layout}:${s.ref}`, bundle(run)],
      verify: (s, run) => mustExist(join(bundle(run), 'rootfs', 'etc', 'debian_version')),
    },
    {
      label: 'gzip -dc piped to tar -x',
      baseline: true,
      command: (s, run) => ['sh', '-c', 'gzip -dc "$1" | tar -x -C "$2"', 'sh', s.layerBlob, run.dir],
      verify: (s, run) => mustExist(join(run.dir, 'etc', 'debian_version')),
    },
    {
      label: 'cairn unpack to tmpfs (CLI)',
      prepare: freshTmpfs,
      command: (s, run) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'unpack', '-q', NAME, join(onTmpfs(run), 'rootfs')],
      verify: (s, run) => mustExist(join(onTmpfs(run), 'rootfs', 'etc', 'debian_version')),
    },
    {
      label: 'umoci unpack to tmpfs',
      prepare: freshTmpfs,
      command: (s, run) => ['umoci', 'unpack', '--image', `${s.layout}:${s.ref}`, join(onTmpfs(run), 'bundle')],
      verify: (s, run) => mustExist(join(onTmpfs(run), 'bundle', 'rootfs', 'etc', 'debian_version')),
    },
    {
      label: 'cairn unpack big layer (CLI)',
      command: (s, run) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'unpack', '-q', BIG, target(run)],
      verify: async (s, run) => {
        const size = (await stat(join(target(run), 'data', `file-${FILES - 1}`))).size;
        const want = Math.floor((s.bigMiB * CHUNK) / FILES);
        if (size !== want) throw new Error(`big layer: file-${FILES - 1} is ${size} bytes, expected ${want}`);
      },
    },
  ],
  targets: [
    { case: 'cairn unpack (CLI)', vs: 'umoci unpack', maxRatio: 0.6 },
    { case: 'cairn unpack to tmpfs (CLI)', vs: 'umoci unpack to tmpfs', maxRatio: 0.6 },
    { case: 'cairn unpack big layer (CLI)', maxRssMiB: 150 },
  ],
  async teardown() {
    await rm(TMPFS, { recursive: true, force: true });
  },
};
