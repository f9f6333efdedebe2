// Measures running `true` in a container: cairn's runtime layer vs podman (not a unit test).
//
//   npm run build && node test/runtime/measure-run-true.mjs [runs=10]
//
// Prints medians (ms) of, interleaved run by run so machine noise hits all alike:
//   runc        `runc run` of the same bundle from a shell-less spawnSync: the floor
//   in-process  runAttached() of a ready spec (library call, what `cairn run` spends in the runtime)
//   process     a fresh `node` that imports dist/runtime, generates the spec and runs it attached
//               (NODE_EXTRA_CA_CERTS unset, as on a user's machine): `cairn run --rm` minus the
//               store lookup and overlay mount
//   podman      `podman run --rm IMG true`, hermetic storage/config (scripts/build-fixtures
//               --containers-env), the busybox fixture image
// Needs root, runc, podman, skopeo and the fixtures (.cache/fixtures or $CAIRN_FIXTURES).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Number(process.argv[2] ?? 10);
const fixtures = path.resolve(process.env.CAIRN_FIXTURES ?? path.join(repo, '.cache', 'fixtures'));
const manifest = JSON.parse(readFileSync(path.join(fixtures, 'manifest.json'), 'utf8'));
const runtime = await import(path.join(repo, 'dist', 'runtime', 'index.js'));

const work = mkdtempSync(path.join(tmpdir(), 'cairn-measure-'));
const podmanDir = path.join(work, 'podman');
let podmanEnv;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  const rootfs = path.join(work, 'rootfs');
  cpSync(path.join(fixtures, manifest.rootfs.busybox), rootfs, { recursive: true, verbatimSymlinks: true });
  const image = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [] } };
  const spec = await runtime.generateSpec(image, { rootfs, args: ['true'] });
  const bare = path.join(work, 'bare');
  mkdirSync(bare);
  writeFileSync(path.join(bare, 'config.json'), JSON.stringify(spec));

  // The same thing as a whole process: import, spec, run, clean up.
  const childScript = path.join(work, 'run-true.mjs');
  writeFileSync(
    childScript,
    `import { generateSpec, runAttached, cleanup } from ${JSON.stringify(path.join(repo, 'dist', 'runtime', 'index.js'))};
const [rootfs, dir] = process.argv.slice(2);
const spec = await generateSpec(${JSON.stringify(image)}, { rootfs, args: ['true'] });
process.exitCode = await runAttached({ containerDir: dir, spec });
await cleanup(dir);
`,
  );
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;

  // podman with its own storage and config, the fixture image loaded.
  const conf = execFileSync('bash', [path.join(repo, 'scripts', 'build-fixtures'), '--containers-env', podmanDir], { encoding: 'utf8' });
  podmanEnv = { ...env };
  for (const line of conf.split('\n')) if (line.includes('=')) podmanEnv[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  const bb = manifest.images['busybox/oci-umoci:1'];
  execFileSync('skopeo', ['--tmpdir', podmanEnv.TMPDIR, 'copy', '-q', `oci:${path.join(fixtures, bb.path)}:1`, 'containers-storage:localhost/cairn-measure:1'], { env: podmanEnv, stdio: 'inherit' });

  const t = { runc: [], 'in-process': [], process: [], podman: [] };
  const time = async (fn) => {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };
  const check = (r, what) => {
    if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr}`);
  };
  for (let i = -1; i < runs; i++) {
    // i = -1 warms every path up (page cache, podman's first-run work); it is not counted.
    const sample = {
      runc: await time(async () => check(spawnSync('runc', ['--root', path.join(bare, 'state'), 'run', '--bundle', bare, `b${i + 1}`], { stdio: 'pipe', encoding: 'utf8' }), 'runc')),
      'in-process': await time(async () => {
        if ((await runtime.runAttached({ containerDir: path.join(work, `ip${i + 1}`), spec })) !== 0) throw new Error('runAttached failed');
      }),
      process: await time(async () => check(spawnSync(process.execPath, [childScript, rootfs, path.join(work, `p${i + 1}`)], { env, encoding: 'utf8' }), 'node')),
      podman: await time(async () => check(spawnSync('podman', ['run', '--rm', 'localhost/cairn-measure:1', 'true'], { env: podmanEnv, encoding: 'utf8' }), 'podman')),
    };
    if (i >= 0) for (const [k, v] of Object.entries(sample)) t[k].push(v);
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  for (const [k, v] of Object.entries(t)) console.log(`${k.padEnd(11)} median ${m[k].toFixed(1)} ms   [${v.map((x) => x.toFixed(0)).join(' ')}]`);
  console.log(`ratio in-process/podman ${(m['in-process'] / m.podman).toFixed(2)}, process/podman ${(m.process / m.podman).toFixed(2)}, runc/podman ${(m.runc / m.podman).toFixed(2)}`);
} finally {
  if (podmanEnv && existsSync(path.join(podmanDir, 'containers.conf'))) {
    spawnSync('podman', ['rm', '-af', '-t', '0'], { env: podmanEnv, stdio: 'ignore' });
    spawnSync('podman', ['rmi', '-af'], { env: podmanEnv, stdio: 'ignore' });
  }
  // podman may leave overlay mounts under its storage: unmount before deleting.
  const mounts = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).stdout.split('\n').filter((m) => m.startsWith(`${work}/`));
  for (const m of mounts.sort().reverse()) spawnSync('umount', ['-l', m]);
  rmSync(work, { recursive: true, force: true });
}
