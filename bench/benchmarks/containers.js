/**
 * Benchmark "containers": cairn's container commands against a hermetic podman (its own
 * storage, config and runc: `scripts/build-fixtures --containers-env`, as the tests'
 * hermeticContainersEnv) on the busybox fixture image, as whole processes:
 *   (a) `run --rm IMAGE true`                     target: cairn ≤ 0.6× podman
 *   (b) `commit c img:n` of a one-file change     target: cairn ≤ 0.8× podman
 *   (c) `diff c` of a one-file change             target: cairn ≤ 1× podman
 * Containers for (b) are made fresh before every run (untimed, in `prepare`); (c) reads one
 * container per tool made in setup. Teardown removes every container and image of both tools
 * and unmounts whatever is still mounted under the scratch directory.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';

const exec = promisify(execFile);

/**
 * @typedef {object} State
 * @property {string} root
 * @property {string} scratch
 * @property {string} store
 * @property {string} file        host file with the one-file change, for `cairn cp`
 * @property {string[]} podmanEnv KEY=VALUE lines for `env` (hermetic podman)
 * @property {string} tmpdir      podman's TMPDIR
 */

const FIXTURE = 'busybox/oci-umoci:1';
const CAIRN_IMAGE = 'busybox';
const PODMAN_IMAGE = 'localhost/bb:1';
// Not hex: `rm -f NAME` of a name that does not exist yet falls back to an ID prefix (as in
// docker and podman), and "c" or "d" would then remove another container whose ID starts so.
const COMMIT_C = 'commit-c';
const DIFF_C = 'diff-d';

/** `sh -c TO_FILE sh FILE PROGRAM ARGS...`: runs PROGRAM (exec: the same process) with stdout to FILE. */
const TO_FILE = 'out=$1; shift; exec "$@" > "$out"';

/** @param {State} s @param {...string} args */
const cairnArgv = (s, ...args) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, ...args];
/** @param {State} s @param {...string} args */
const podmanArgv = (s, ...args) => ['env', ...s.podmanEnv, 'podman', ...args];

/** Environment for the untimed helper calls (NODE_EXTRA_CA_CERTS off, as for timed ones). */
function helperEnv() {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

/** @param {string[]} argv */
async function sh(argv) {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error('empty command');
  return (await exec(program, args, { env: helperEnv(), maxBuffer: 16 << 20 })).stdout;
}

/** @param {State} s @param {...string} args */
const cairn = (s, ...args) => sh(cairnArgv(s, ...args));
/** @param {State} s @param {...string} args */
const podman = (s, ...args) => sh(podmanArgv(s, ...args));

/** @param {State} s @param {string} name */
async function freshCairnContainer(s, name) {
  await cairn(s, 'rm', '-f', name).catch(() => undefined);
  await cairn(s, 'create', '--name', name, CAIRN_IMAGE);
  await cairn(s, 'cp', s.file, `${name}:/f`);
}

/** @param {State} s @param {string} name */
async function freshPodmanContainer(s, name) {
  await podman(s, 'rm', '-f', name).catch(() => undefined);
  await podman(s, 'run', '--name', name, PODMAN_IMAGE, 'sh', '-c', 'echo x > /f');
}

/** @param {{dir: string}} r */
const outFile = (r) => join(r.dir, 'out.txt');

/** @param {State} _s @param {{dir: string}} r */
async function verifyDiff(_s, r) {
  const lines = (await readFile(outFile(r), 'utf8')).split('\n');
  if (!lines.includes('A /f')) throw new Error(`diff does not list "A /f":\n${lines.join('\n')}`);
}

/** Unmounts everything mounted under `dir`, deepest first. @param {string} dir */
async function unmountUnder(dir) {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await exec('umount', ['-l', p]).catch(() => undefined);
  return points.length;
}

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'containers',
  title: 'run --rm true, commit and diff of a one-file change: cairn against a hermetic podman (busybox)',
  versions: [['podman', '--version'], ['runc', '--version']],
  async setup(ctx) {
    const fixtures = await ctx.fixtures();
    const img = fixtures.image(FIXTURE);
    const storeDir = join(ctx.scratch, 'store');
    const store = await Store.open(storeDir);
    await copy(`oci:${img.path}:${img.ref}`, CAIRN_IMAGE, { store });
    const podmanDir = join(ctx.scratch, 'podman');
    const out = await sh(['bash', join(ctx.root, 'scripts', 'build-fixtures'), '--containers-env', podmanDir]);
    const podmanEnv = out.split('\n').filter((l) => l.indexOf('=') > 0);
    const tmpdir = podmanEnv.find((l) => l.startsWith('TMPDIR='))?.slice('TMPDIR='.length) ?? join(podmanDir, 'tmp');
    const file = join(ctx.scratch, 'f');
    await writeFile(file, 'x\n');
    /** @type {State} */
    const s = { root: ctx.root, scratch: ctx.scratch, store: storeDir, file, podmanEnv, tmpdir };
    await sh(['env', ...podmanEnv, 'skopeo', '--tmpdir', tmpdir, 'copy', '-q', `oci:${img.path}:${img.ref}`, `containers-storage:${PODMAN_IMAGE}`]);
    await freshCairnContainer(s, DIFF_C);
    await freshPodmanContainer(s, DIFF_C);
    ctx.log(`podman storage driver: ${(await podman(s, 'info', '--format', '{{.Store.GraphDriverName}}')).trim()}`);
    await ctx.warm([img.path, storeDir]);
    return s;
  },
  describe: () =>
    `Input: fixture \`${FIXTURE}\` (scripts/build-fixtures), copied into a cairn store as \`${CAIRN_IMAGE}\` and with skopeo into a ` +
    `hermetic podman's containers-storage as \`${PODMAN_IMAGE}\` (\`scripts/build-fixtures --containers-env\`: own storage, runc, cgroupfs, ` +
    `netns none, file locks). podman runs through \`env K=V… podman\` (env execs podman: same process). ` +
    `Commit: before every run (untimed) a fresh container \`${COMMIT_C}\` with one added file \`/f\` — cairn: \`create\` + \`cp\`; podman: ` +
    `\`run --name ${COMMIT_C} IMG sh -c 'echo x > /f'\` — then \`commit ${COMMIT_C} img:n\` is timed. Diff: one such container per tool made ` +
    `in setup; every run's output must list \`A /f\`. \`node, empty script\` is a bare Node start (\`node -e ''\`), the floor under any ` +
    `cairn command.`,
  cases: [
    {
      label: 'cairn run --rm true',
      command: (s) => cairnArgv(s, 'run', '--rm', CAIRN_IMAGE, 'true'),
    },
    {
      label: 'podman run --rm true',
      baseline: true,
      command: (s) => podmanArgv(s, 'run', '--rm', PODMAN_IMAGE, 'true'),
    },
    {
      label: 'cairn commit',
      prepare: (s) => freshCairnContainer(s, COMMIT_C),
      command: (s) => cairnArgv(s, 'commit', COMMIT_C, 'img:n'),
    },
    {
      label: 'podman commit',
      baseline: true,
      prepare: (s) => freshPodmanContainer(s, COMMIT_C),
      command: (s) => podmanArgv(s, 'commit', '-q', COMMIT_C, 'img:n'),
    },
    {
      label: 'cairn diff',
      command: (s, r) => ['sh', '-c', TO_FILE, 'sh', outFile(r), ...cairnArgv(s, 'diff', DIFF_C)],
      verify: verifyDiff,
    },
    {
      label: 'podman diff',
      baseline: true,
      command: (s, r) => ['sh', '-c', TO_FILE, 'sh', outFile(r), ...podmanArgv(s, 'diff', DIFF_C)],
      verify: verifyDiff,
    },
    {
      // No target: the floor under every cairn command, measured in the same run and the same way
      // (stdout to a file), so the diff ratio can be read against what Node alone costs.
      label: 'node, empty script (reference)',
      command: (_s, r) => ['sh', '-c', TO_FILE, 'sh', outFile(r), process.execPath, '-e', ''],
    },
  ],
  targets: [
    { case: 'cairn run --rm true', vs: 'podman run --rm true', maxRatio: 0.6 },
    { case: 'cairn commit', vs: 'podman commit', maxRatio: 0.8 },
    { case: 'cairn diff', vs: 'podman diff', maxRatio: 1 },
  ],
  async teardown(s) {
    const ids = (await cairn(s, 'ps', '-a', '-q', '--no-trunc').catch(() => '')).split('\n').filter((l) => l !== '');
    if (ids.length > 0) await cairn(s, 'rm', '-f', ...ids).catch(() => undefined);
    await podman(s, 'rm', '-af').catch(() => undefined);
    await podman(s, 'rmi', '-af').catch(() => undefined);
    await unmountUnder(s.scratch);
  },
};
