/**
 * Shared setup for the container tests: throwaway stores seeded with the busybox fixture, the
 * CLI in this process and as a child, and a teardown that leaves nothing behind and says so
 * when a test did.
 *
 * `teardown()` (afterEach/afterAll) first notes every supervisor and container process the
 * stores' state files name, then removes every container with `cairn rm -f`, and only then
 * looks for leftovers: mounts under the store (`/proc/self/mountinfo`), processes still alive,
 * published ports still listening. Whatever it finds it removes by force (lazy unmount,
 * SIGKILL, `runc delete --force`) before deleting the temp dirs, and then throws naming it, so
 * a leak fails the test instead of the next one. It never leaves anything running, even when
 * the test failed half-way.
 *
 * @module
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../src/store/store.js';
import { cairn, type CliResult } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { isListening } from '../support/ports.js';
import { inCI, REPO_ROOT, skipWithoutTools } from '../support/tools.js';

const execFileP = promisify(execFile);

export const BUSYBOX = 'busybox/oci-umoci:1';
export const CAIRN_BIN = path.join(REPO_ROOT, 'bin', 'cairn.js');

/**
 * For `describe.skipIf(...)`: containers need root (overlay mounts, runc), runc, the busybox
 * fixture and the built dist/ (detached supervisors run dist/runtime/supervisor-main.js).
 * Outside CI a missing piece skips with a warning; in CI it throws.
 */
export function skipWithoutContainers(...tools: string[]): boolean {
  if (process.getuid?.() !== 0) {
    const msg = 'container tests need root (overlay mounts, runc)';
    if (inCI) throw new Error(`${msg} — tests cannot be skipped in CI`);
    console.warn(`skipping: ${msg}`);
    return true;
  }
  if (skipWithoutTools('runc', ...tools) || skipWithoutFixtures(BUSYBOX)) return true;
  const supervisor = path.join(REPO_ROOT, 'dist', 'runtime', 'supervisor-main.js');
  if (!existsSync(supervisor)) throw new Error(`${supervisor} is missing: build first (npx tsc -p tsconfig.json)`);
  return false;
}

export interface TestStore {
  /** The temp dir holding the store (and anything else the test puts there). */
  readonly dir: string;
  /** The store's root: `<dir>/store`. */
  readonly root: string;
  readonly store: Store;
  /** `cairn --store ROOT ARGS...` in this process. */
  cli(...args: string[]): Promise<CliResult>;
  /** `node bin/cairn.js --store ROOT ARGS...` as a child process (dist/). */
  child(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<CliResult>;
}

const stores: TestStore[] = [];
const ports = new Set<number>();

/** A fresh store in a temp dir, with the busybox fixture copied in as `busybox` (unless `seed` is false). */
export async function newStore(options: { seed?: boolean } = {}): Promise<TestStore> {
  const dir = await realpath(await mkdtemp(path.join(tmpdir(), 'cairn-ctr-test-')));
  const root = path.join(dir, 'store');
  const store = await Store.open(root);
  const t: TestStore = {
    dir,
    root,
    store,
    cli: (...args) => cairn(root, ...args),
    child: (args, opts = {}) => runChild(['--store', root, ...args], opts),
  };
  stores.push(t);
  if (options.seed ?? true) {
    const r = await t.cli('copy', '-q', transportRef(fixture(BUSYBOX)), 'busybox');
    if (r.status !== 0) throw new Error(`seeding busybox failed: ${r.stderr}`);
  }
  return t;
}

/** `node bin/cairn.js ARGS...` without blocking the event loop (supervisors, proxies keep running). */
export function runChild(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.CAIRN_STORE;
    const child = spawn(process.execPath, [CAIRN_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 : -1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Registers a host port a test published, so teardown checks nothing listens on it any more. */
export function trackPort(port: number): number {
  ports.add(port);
  return port;
}

/** Mount points at or under `dir` in this process's mount namespace, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint === undefined) continue;
    const p = unescape(mountPoint);
    if (p === dir || p.startsWith(`${dir}/`)) found.push(p);
  }
  return found.sort((a, b) => b.length - a.length);
}

interface Proc {
  pid: number;
  startTime: number;
  what: string;
}

async function startTime(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return null;
  }
}

async function alive(p: Proc): Promise<boolean> {
  const now = await startTime(p.pid);
  if (now === null || now !== p.startTime) return false;
  try {
    const status = await readFile(`/proc/${p.pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status); // a zombie has exited
  } catch {
    return false;
  }
}

/** Supervisors and container processes the store's state files name. */
async function processesOf(root: string): Promise<Proc[]> {
  const dir = path.join(root, 'cairn', 'containers');
  const found: Proc[] = [];
  let ids: string[] = [];
  try {
    ids = await readdir(dir);
  } catch {
    return found;
  }
  for (const id of ids) {
    try {
      const state = JSON.parse(await readFile(path.join(dir, id, 'state.json'), 'utf8')) as {
        supervisor?: { pid: number; startTime: number };
        pid?: { pid: number; startTime: number } | null;
      };
      if (state.supervisor && state.supervisor.pid !== process.pid) found.push({ ...state.supervisor, what: `supervisor of ${id.slice(0, 12)}` });
      if (state.pid) found.push({ ...state.pid, what: `process of container ${id.slice(0, 12)}` });
    } catch {
      // no state (created only, or removed meanwhile)
    }
  }
  // Identities as recorded; keep only those that are the process they name right now.
  const live: Proc[] = [];
  for (const p of found) if (await alive(p)) live.push(p);
  return live;
}

/** runc containers still known in the private state roots under `root`. */
function runcLeftovers(root: string): { stateRoot: string; id: string }[] {
  const out: { stateRoot: string; id: string }[] = [];
  const dir = path.join(root, 'cairn', 'containers');
  let ids: string[] = [];
  try {
    ids = readdirSync(dir);
  } catch {
    return out;
  }
  for (const id of ids) {
    const stateRoot = path.join(dir, id, 'runtime');
    if (!existsSync(stateRoot)) continue;
    const r = spawnSync('runc', ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8' });
    for (const name of (r.stdout ?? '').split('\n').filter((l) => l !== '')) out.push({ stateRoot, id: name });
  }
  return out;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Removes every container of every store made since the last call (`cairn rm -f`), checks that
 * nothing is left (mounts, processes, runc containers, listening ports), forces away whatever
 * is, deletes the temp dirs, and throws if anything had to be forced.
 */
export async function teardown(): Promise<void> {
  const leaks: string[] = [];
  for (const t of stores.splice(0)) {
    try {
      const procs = await processesOf(t.root);
      const ps = await t.cli('ps', '-a', '-q', '--no-trunc');
      const ids = ps.stdout.split('\n').filter((l) => l !== '');
      if (ids.length > 0) {
        const r = await t.cli('rm', '-f', ...ids);
        if (r.status !== 0) leaks.push(`cairn rm -f failed (${r.status}): ${r.stderr.trim()}`);
      }
      for (const p of procs) {
        if (!(await waitUntil(async () => !(await alive(p)), 3000))) {
          leaks.push(`${p.what} (pid ${p.pid}) still alive after rm -f`);
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      for (const r of runcLeftovers(t.root)) {
        leaks.push(`runc container ${r.id} left in ${r.stateRoot}`);
        spawnSync('runc', ['--root', r.stateRoot, 'delete', '--force', r.id]);
      }
      const mounts = await mountsUnder(t.dir);
      for (const m of mounts) {
        leaks.push(`mount left: ${m}`);
        await execFileP('umount', ['-l', m]).catch(() => undefined);
      }
    } catch (err) {
      leaks.push(`teardown of ${t.dir}: ${(err as Error).message}`);
      for (const m of await mountsUnder(t.dir)) await execFileP('umount', ['-l', m]).catch(() => undefined);
    }
    await rm(t.dir, { recursive: true, force: true }).catch((err: unknown) => leaks.push(`cannot delete ${t.dir}: ${(err as Error).message}`));
  }
  for (const port of [...ports]) {
    ports.delete(port);
    if (!(await waitUntil(async () => !(await isListening(port, 300)), 3000))) leaks.push(`port ${port} still listening`);
  }
  if (leaks.length > 0) throw new Error(`the test left things behind (now removed):\n  ${leaks.join('\n  ')}`);
}

/** Lines of a command's stdout, without the trailing empty one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** A table printed by the CLI as rows of columns (split on runs of 2+ spaces). */
export function tableRows(text: string): string[][] {
  return lines(text).map((l) => l.split(/ {2,}/));
}

/** Reads a container's state.json as the runtime wrote it. */
export async function stateOf(t: TestStore, id: string): Promise<{ status: string; supervisor: { pid: number }; pid: { pid: number } | null; exitCode: number | null }> {
  return JSON.parse(await readFile(path.join(t.root, 'cairn', 'containers', id, 'state.json'), 'utf8'));
}
