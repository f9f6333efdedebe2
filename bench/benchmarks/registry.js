/**
 * Benchmark "registry": pull and push of the Debian bookworm fixture through Debian's
 * `docker-registry` on 127.0.0.1 (plain HTTP, filesystem storage under the scratch dir), cairn
 * against skopeo on the same registry in the same run. Pull: into a fresh store (cairn) / a fresh
 * OCI layout (skopeo). Push: from the store (cairn) / the fixture layout (skopeo) into a
 * repository name of its own per run, so every blob is uploaded. No target: the issue that asks
 * for registry transfers has not been filed; the numbers are for the record.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';

const exec = promisify(execFile);
const FIXTURE = 'debian/oci-umoci:bookworm';

/**
 * @typedef {object} State
 * @property {string} root
 * @property {string} host      127.0.0.1:PORT
 * @property {string} store     a store holding the image as `debian:bookworm`
 * @property {string} layout
 * @property {string} ref
 * @property {string} tmp       skopeo's --tmpdir
 */

/** @type {import('node:child_process').ChildProcess | undefined} */
let registry;

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** @param {string} dir */
async function startRegistry(dir) {
  const port = await freePort();
  const config = join(dir, 'registry.yml');
  await writeFile(
    config,
    ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'),
  );
  // REGISTRY_* variables would override the config (REGISTRY_AUTH_FILE is read as auth config).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  registry = spawn('docker-registry', ['serve', config], { env, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/v2/`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).status === 200) return `127.0.0.1:${port}`;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('docker-registry did not start');
}

/** @param {{dir: string, index: number}} run */
const repo = (run) => `push/run${run.index < 0 ? 'w' + Math.random().toString(36).slice(2, 8) : run.index}-${Date.now()}`;

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'registry',
  title: 'pull and push the Debian bookworm fixture through a local docker-registry, cairn against skopeo',
  versions: [['skopeo', '--version'], ['docker-registry', '--version']],
  async setup(ctx) {
    const fixtures = await ctx.fixtures({ debian: true });
    const img = fixtures.image(FIXTURE);
    const host = await startRegistry(ctx.scratch);
    const tmp = join(ctx.scratch, 'tmp');
    await exec('mkdir', ['-p', tmp]);
    await exec('skopeo', ['--tmpdir', tmp, '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${img.path}:${img.ref}`, `docker://${host}/debian:bookworm`]);
    const storeDir = join(ctx.scratch, 'store');
    await copy(`oci:${img.path}:${img.ref}`, 'debian:bookworm', { store: await Store.open(storeDir) });
    await ctx.warm([img.path, storeDir, join(ctx.scratch, 'data')]);
    return { root: ctx.root, host, store: storeDir, layout: img.path, ref: img.ref, tmp };
  },
  describe: (s) =>
    `Input: fixture \`${FIXTURE}\` (one gzip layer of ~51 MB), pushed by skopeo into \`docker-registry\` at ${s.host} in setup. ` +
    'Pull cases write into a fresh store / layout per run; push cases push to a new repository per run (every blob uploaded).',
  cases: [
    {
      label: 'cairn pull',
      command: (s, run) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', join(run.dir, 'store'), 'pull', '-q', `${s.host}/debian:bookworm`],
    },
    {
      label: 'skopeo copy docker:// → oci:',
      baseline: true,
      command: (s, run) => ['skopeo', '--tmpdir', s.tmp, '--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${s.host}/debian:bookworm`, `oci:${join(run.dir, 'layout')}:x`],
    },
    {
      label: 'cairn push',
      command: (s, run) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'push', '-q', 'debian:bookworm', `${s.host}/${repo(run)}:1`],
    },
    {
      label: 'skopeo copy oci: → docker://',
      baseline: true,
      command: (s, run) => ['skopeo', '--tmpdir', s.tmp, '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${s.layout}:${s.ref}`, `docker://${s.host}/${repo(run)}:1`],
    },
  ],
  targets: [
    { case: 'cairn pull', maxRssMiB: 150 },
    { case: 'cairn push', maxRssMiB: 150 },
  ],
  async teardown() {
    registry?.kill('SIGTERM');
    registry = undefined;
  },
};
