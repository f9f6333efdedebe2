/**
 * Shared setup for the runtime tests: a writable copy of the busybox fixture rootfs, container
 * directories that are always torn down (runtime state, processes, supervisors), and small
 * probes (free ports, HTTP GETs, runc's view of a state root).
 *
 * Teardown is `teardownAll()` in afterEach: for every container dir handed out it force-cleans
 * through the API, SIGKILLs any supervisor or container process the state still names, runs
 * `runc delete --force` on whatever `runc list` shows in the private root, then deletes the
 * temp dirs. It never throws: a failing test must not leave processes behind.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { cleanup } from '../../src/runtime/control.js';
import { isAlive } from '../../src/runtime/proc.js';
import { containerPaths, readRecordedState } from '../../src/runtime/state.js';
import type { ImageConfig } from '../../src/oci/types.js';
import { fixtures } from '../support/fixtures.js';
import { REPO_ROOT } from '../support/tools.js';
export { freePort } from '../support/ports.js';

const run = promisify(execFile);

const temps: string[] = [];
const containers: string[] = [];

/** A busybox image config like the fixture's (`PATH=/bin`, `CMD ["/bin/sh"]`). */
export function busyboxImage(config: ImageConfig['config'] = {}): ImageConfig {
  return {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/', ...config },
    rootfs: { type: 'layers', diff_ids: [] },
  };
}

export async function tempDir(prefix = 'cairn-runtime-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/**
 * A writable copy of the busybox fixture rootfs with an `httpd` link and `/www/index.html`
 * (`page`), and optionally extra files (path → content).
 */
export async function busyboxRootfs(page = 'hello from cairn\n', extra: Record<string, string> = {}): Promise<string> {
  const src = fixtures().set?.rootfs.busybox;
  if (!src) throw new Error(`busybox rootfs fixture unavailable: ${fixtures().reason}`);
  const root = path.join(await tempDir('cairn-rootfs-'), 'rootfs');
  await cp(src, root, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  await symlink('busybox', path.join(root, 'bin', 'httpd'));
  await mkdir(path.join(root, 'www'));
  await writeFile(path.join(root, 'www', 'index.html'), page);
  for (const [rel, content] of Object.entries(extra)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content);
  }
  return root;
}

/** A fresh container directory, torn down by `teardownAll`. */
export async function containerDir(name = 'c'): Promise<string> {
  const dir = path.join(await tempDir('cairn-ctr-'), name);
  await mkdir(dir);
  containers.push(dir);
  return dir;
}

/** Container ids seen by `runc list` in the container's private root. */
export async function runcList(dir: string): Promise<string[]> {
  const root = containerPaths(dir).runtimeState;
  if (!existsSync(root)) return [];
  const { stdout } = await run('runc', ['--root', root, 'list', '-q']);
  return stdout.split('\n').filter((l) => l !== '');
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Tears down every container and temp dir of this test (afterEach). Never throws. */
export async function teardownAll(): Promise<void> {
  for (const dir of containers.splice(0)) {
    try {
      await cleanup(dir, { force: true });
    } catch {
      // fall through to the blunt instruments
    }
    try {
      const state = await readRecordedState(containerPaths(dir));
      if (state && (await isAlive(state.supervisor)) && state.supervisor.pid !== process.pid) killQuietly(state.supervisor.pid);
      if (state?.pid && (await isAlive(state.pid))) killQuietly(state.pid.pid);
      for (const id of await runcList(dir)) spawnSync('runc', ['--root', containerPaths(dir).runtimeState, 'delete', '--force', id]);
    } catch {
      // nothing more to do
    }
  }
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** GET http://127.0.0.1:PORT/PATH → body (no keep-alive, so no socket outlives the test). */
export async function httpGet(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { headers: { connection: 'close' } });
  return { status: res.status, body: await res.text() };
}

/** Whether anything accepts TCP connections on 127.0.0.1:PORT. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The compiled runtime (dist/runtime), which the supervisor and TTY tests run as processes. */
export function requireBuiltRuntime(): void {
  const built = path.join(REPO_ROOT, 'dist', 'runtime', 'supervisor-main.js');
  if (!existsSync(built)) throw new Error(`${built} is missing: build first (npx tsc -p tsconfig.json)`);
  const src = path.join(REPO_ROOT, 'src', 'runtime');
  for (const file of readdirSync(src)) {
    const out = path.join(REPO_ROOT, 'dist', 'runtime', file.replace(/\.ts$/, '.js'));
    if (!existsSync(out) || statSync(path.join(src, file)).mtimeMs > statSync(out).mtimeMs + 1000) {
      console.warn(`warning: dist/runtime is older than src/runtime/${file}; supervisors run the old build (npx tsc -p tsconfig.json)`);
      return;
    }
  }
}

/** A collecting writable for a container's stdout/stderr. */
export function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Reads a file, or '' when missing. */
export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}
