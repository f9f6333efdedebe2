/**
 * Benchmark "build" (issue Build): `cairn build` against `podman build` of the same 5-step
 * Dockerfile (FROM busybox, RUN, COPY, RUN, CMD) on the busybox fixture, both with the base
 * image already in their storage and unpacked (one untimed build in setup):
 *
 * - cold: `--no-cache`, every step runs (two RUN containers, one COPY layer);
 * - cached: nothing changed, every step comes from the cache (cairn answers from its build
 *   memo without parsing: build/memo);
 * - cached after `touch`: the context file's times changed, not its bytes; cairn's memo no
 *   longer holds, so it parses and looks every step up in its cache (file times are not in
 *   step keys), which is its step-by-step cached path.
 *
 * podman keeps its storage and config in a hermetic directory (scripts/build-fixtures
 * --containers-env: runc, cgroupfs, no network). Targets: the cached cairn rebuild under 0.3 s
 * (a `sleep 0.3` case stands for it, the harness having ratio targets only) and at least 4×
 * faster than podman's; the cold build no slower than podman's.
 */
import { execFile } from 'node:child_process';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';

const run = promisify(execFile);

const FIXTURE = 'busybox/oci-umoci:1';
const BASE = 'localhost/busybox:latest';
const TAG = 'bench/build:latest';

const DOCKERFILE = `FROM ${BASE}
RUN echo one > /one && mkdir -p /app
COPY app.txt /app/
RUN cat /app/app.txt > /app/copy && ls / > /app/root
CMD ["sh"]
`;

/**
 * @typedef {object} State
 * @property {string} root
 * @property {string} store
 * @property {string} context
 * @property {Record<string, string>} podmanEnv  the hermetic variables only
 */

/** @param {State} s */
const cairnArgs = (s) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'build', '-q', '-t', TAG, s.context];
/**
 * podman with its hermetic configuration (through env(1): a case's own `env` is fixed, the
 * storage directory is made in setup).
 * @param {State} s
 */
const podmanArgs = (s) => ['env', ...Object.entries(s.podmanEnv).map(([k, v]) => `${k}=${v}`), 'podman', 'build', '--pull=never', '--network=none', '-q', '-t', TAG, s.context];

/**
 * The image has what the Dockerfile makes.
 * @param {State} s
 */
async function verifyCairn(s) {
  const { stdout } = await run(process.execPath, [join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'history', TAG]);
  if (!stdout.includes('cat /app/app.txt > /app/copy')) throw new Error(`unexpected history:\n${stdout}`);
}

/** @param {State} s */
async function verifyPodman(s) {
  const { stdout } = await run('podman', ['history', TAG], { env: { ...process.env, ...s.podmanEnv } });
  if (!stdout.includes('cat /app/app.txt > /app/copy')) throw new Error(`unexpected podman history:\n${stdout}`);
}

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'build',
  title: 'build a 5-step Dockerfile on busybox (cold with --no-cache, and cached) against podman build',
  versions: [['podman', '--version'], ['runc', '--version']],
  async setup(ctx) {
    const fixtures = await ctx.fixtures();
    const img = fixtures.image(FIXTURE);
    const context = join(ctx.scratch, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), DOCKERFILE);
    await writeFile(join(context, 'app.txt'), 'hello from the context\n');

    const storeDir = join(ctx.scratch, 'store');
    await copy(`oci:${img.path}:${img.ref}`, BASE, { store: await Store.open(storeDir) });

    const envOut = await run('bash', [join(ctx.root, 'scripts', 'build-fixtures'), '--containers-env', join(ctx.scratch, 'containers')]);
    /** @type {Record<string, string>} */
    const podmanEnv = {};
    for (const line of envOut.stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) podmanEnv[line.slice(0, eq)] = line.slice(eq + 1);
    }
    const env = { ...process.env, ...podmanEnv };
    await run('skopeo', ['--tmpdir', podmanEnv.TMPDIR ?? ctx.scratch, 'copy', '-q', `oci:${img.path}:${img.ref}`, `containers-storage:${BASE}`], { env });

    /** @type {State} */
    const state = { root: ctx.root, store: storeDir, context, podmanEnv };
    // One build each, untimed: base layers unpacked, the cache filled.
    const [cairnBin, ...cairnRest] = cairnArgs(state);
    await run(/** @type {string} */ (cairnBin), cairnRest);
    const [podmanBin, ...podmanRest] = podmanArgs(state);
    await run(/** @type {string} */ (podmanBin), podmanRest);
    await ctx.warm([img.path, storeDir]);
    return state;
  },
  describe() {
    return `Input: fixture \`${FIXTURE}\` as \`${BASE}\` in a cairn store and in hermetic podman storage (runc, cgroupfs, no network); the Dockerfile:\n\n\`\`\`\n${DOCKERFILE}\`\`\`\n\nBoth tools keep their store between runs; each built once in setup.`;
  },
  cases: [
    {
      label: 'cairn build (cached)',
      command: (s) => cairnArgs(s),
      verify: (s) => verifyCairn(s),
    },
    {
      label: 'cairn build (cached, context touched)',
      prepare: async (s) => {
        const now = new Date();
        await utimes(join(s.context, 'app.txt'), now, now);
      },
      command: (s) => cairnArgs(s),
      verify: (s) => verifyCairn(s),
    },
    {
      label: 'podman build (cached)',
      baseline: true,
      command: (s) => podmanArgs(s),
      verify: (s) => verifyPodman(s),
    },
    {
      label: 'cairn build --no-cache (cold)',
      command: (s) => [...cairnArgs(s).slice(0, -1), '--no-cache', s.context],
      verify: (s) => verifyCairn(s),
    },
    {
      label: 'podman build --no-cache (cold)',
      baseline: true,
      command: (s) => [...podmanArgs(s).slice(0, -1), '--no-cache', s.context],
      verify: (s) => verifyPodman(s),
    },
    {
      label: 'sleep 0.3 (the cached target)',
      command: () => ['sleep', '0.3'],
    },
  ],
  async teardown(s) {
    // podman's storage holds overlay mounts under the scratch directory: let podman undo them.
    await run('podman', ['system', 'reset', '-f'], { env: { ...process.env, ...s.podmanEnv } }).catch(() => undefined);
  },
  targets: [
    { case: 'cairn build (cached)', vs: 'sleep 0.3 (the cached target)', maxRatio: 1 },
    { case: 'cairn build (cached)', vs: 'podman build (cached)', maxRatio: 0.25 },
    { case: 'cairn build (cached, context touched)', vs: 'sleep 0.3 (the cached target)', maxRatio: 1 },
    { case: 'cairn build --no-cache (cold)', vs: 'podman build --no-cache (cold)', maxRatio: 1 },
  ],
};
