/**
 * Fixture images for benchmarks: built by the project's own `scripts/build-fixtures` into
 * `.cache/fixtures` (the script keeps stamps and rebuilds only what is stale), described by its
 * `manifest.json`. $CAIRN_BENCH_FIXTURES points at another, already built fixture directory
 * instead (nothing is built then).
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** @typedef {import('./types.js').Fixtures} Fixtures */
/** @typedef {import('./types.js').FixtureImage} FixtureImage */
/** @typedef {import('./types.js').LayoutImage} LayoutImage */
/** @typedef {import('./types.js').LayoutBlob} LayoutBlob */

/**
 * @param {string} root the repository root
 * @param {{debian?: boolean}} options
 * @param {(message: string) => void} log
 * @returns {Promise<Fixtures>}
 */
export async function ensureFixtures(root, options, log) {
  const override = process.env.CAIRN_BENCH_FIXTURES;
  const dir = override !== undefined && override !== '' ? resolve(override) : join(root, '.cache', 'fixtures');
  if (override === undefined || override === '') {
    const script = join(root, 'scripts', 'build-fixtures');
    log(`fixtures: ${script} ${dir}${options.debian ? ' (DEBIAN=1)' : ''}`);
    const code = await new Promise((res, rej) => {
      const env = { ...process.env, ...(options.debian ? { DEBIAN: '1' } : {}) };
      // The script's output goes to our stderr: a first build takes minutes and says why.
      const child = spawn(script, [dir], { env, stdio: ['ignore', 2, 2] });
      child.on('error', rej);
      child.on('close', res);
    });
    if (code === 3) throw new Error('scripts/build-fixtures: tools missing on this host (run scripts/provision as root on Debian 12)');
    if (code !== 0) throw new Error(`scripts/build-fixtures ${dir} failed (exit ${code}); see its output above`);
  }
  /** @type {{images?: Record<string, {path: string, kind: string, ref: string}>}} */
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  const images = manifest.images ?? {};
  return {
    dir,
    image(name) {
      const entry = images[name];
      if (entry === undefined) {
        throw new Error(`fixture ${name} is not in ${join(dir, 'manifest.json')} (has: ${Object.keys(images).join(', ')})`);
      }
      return { name, path: join(dir, entry.path), kind: entry.kind, ref: entry.ref };
    },
  };
}

/**
 * Reads an image's manifest, config and layer blobs from an OCI layout (by its ref name).
 * @param {string} layout
 * @param {string} ref
 * @returns {Promise<LayoutImage>}
 */
export async function layoutImage(layout, ref) {
  /** @type {{manifests: {digest: string, size: number, annotations?: Record<string, string>}[]}} */
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (desc === undefined) throw new Error(`${layout}: no image tagged ${ref}`);
  /** @param {{digest: string, size: number}} d @returns {LayoutBlob} */
  const blob = (d) => ({ digest: d.digest, size: d.size, path: blobPath(layout, d.digest) });
  /** @type {{config: {digest: string, size: number}, layers: {digest: string, size: number}[]}} */
  const manifest = JSON.parse(await readFile(blobPath(layout, desc.digest), 'utf8'));
  return { manifest: blob(desc), config: blob(manifest.config), layers: manifest.layers.map(blob) };
}

/**
 * @param {string} layout
 * @param {string} digest
 */
export function blobPath(layout, digest) {
  const [alg, hex] = digest.split(':');
  if (alg === undefined || hex === undefined) throw new Error(`bad digest ${digest}`);
  return join(layout, 'blobs', alg, hex);
}

/**
 * Reads every regular file under `paths` once (page cache warm-up).
 * @param {readonly string[]} paths
 */
export async function warm(paths) {
  for (const p of paths) {
    const st = await stat(p);
    if (st.isDirectory()) {
      const entries = await readdir(p);
      await warm(entries.map((e) => join(p, e)));
    } else if (st.isFile()) {
      /** @type {Promise<void>} */
      const done = new Promise((res, rej) => {
        createReadStream(p, { highWaterMark: 1 << 20 }).on('data', () => {}).on('end', () => res()).on('error', rej);
      });
      await done;
    }
  }
}
