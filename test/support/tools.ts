/**
 * Host tools for tests: which external programs exist, a CI-aware skip rule, hermetic
 * configuration for podman/buildah/skopeo, and a throwaway `docker-registry`.
 *
 * The skip rule everywhere: outside CI a test that needs a missing tool is skipped with a
 * warning naming the tool; with `CI=true` the same situation throws, so CI can never pass by
 * skipping. `scripts/provision` installs every tool named here.
 *
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

export const inCI = process.env.CI === 'true';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD_FIXTURES = path.join(REPO_ROOT, 'scripts', 'build-fixtures');

const found = new Map<string, string | null>();

/** The absolute path of `name` on PATH (like `which`), or null. Cached per process. */
export function whichTool(name: string): string | null {
  let hit = found.get(name);
  if (hit !== undefined) return hit;
  hit = null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      hit = candidate;
      break;
    } catch {
      // not here
    }
  }
  found.set(name, hit);
  return hit;
}

/** Whether `name` is an executable on PATH. */
export function hasTool(name: string): boolean {
  return whichTool(name) !== null;
}

/** Which of `names` are present. `ok` is true when none is missing. */
export function requireTools(...names: string[]): { ok: boolean; missing: string[] } {
  const missing = names.filter((n) => !hasTool(n));
  return { ok: missing.length === 0, missing };
}

/**
 * For `describe.skipIf(...)` / `it.skipIf(...)`: true (skip) when a tool is missing, after a
 * warning naming it; in CI it throws instead, failing the file.
 *
 * @example
 * describe.skipIf(skipWithoutTools('podman', 'skopeo'))('podman interop', () => { ... });
 */
export function skipWithoutTools(...names: string[]): boolean {
  const { ok, missing } = requireTools(...names);
  if (ok) return false;
  const msg = `missing tool${missing.length > 1 ? 's' : ''}: ${missing.join(', ')} (install with: sudo bash scripts/provision)`;
  if (inCI) throw new Error(`${msg} — tests cannot be skipped in CI`);
  console.warn(`skipping: ${msg}`);
  return true;
}

/**
 * Environment variables that make podman, buildah and skopeo keep all their state and config
 * under `dir` (storage, run root, locks, containers.conf with runc/cgroupfs/no network/ulimits
 * within the hard limits, registries.conf, policy.json via HOME, auth file). The files are
 * written by `scripts/build-fixtures --containers-env`, the same code the fixture build uses.
 * Merge it over `process.env`. Pass `--tmpdir <TMPDIR>` to skopeo: skopeo 1.9 ignores TMPDIR
 * for big files. Remove the containers before deleting `dir` (`podman rm -af`).
 *
 * @example
 * const env = { ...process.env, ...hermeticContainersEnv(dir) };
 * execFileSync('skopeo', ['--tmpdir', env.TMPDIR, 'copy', src, dst], { env });
 */
export function hermeticContainersEnv(dir: string): Record<string, string> {
  const r = spawnSync('bash', [BUILD_FIXTURES, '--containers-env', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-fixtures --containers-env failed: ${r.stderr || r.error?.message}`);
  const env: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** A running `docker-registry` on 127.0.0.1 with its own storage. */
export interface Registry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, for `docker://HOST/repo:tag` references. */
  host: string;
  port: number;
  /** The registry's storage root (filesystem driver). */
  dataDir: string;
  /** Kill the registry, wait for it to exit and delete its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `docker-registry serve` with its own config (127.0.0.1 on a free port, filesystem
 * storage in a temp dir, deletes enabled, no auth unless `htpasswd` (the file's lines) is given:
 * Debian's packaged config turns on htpasswd) and resolves once `GET /v2/` answers.
 *
 * @example
 * const reg = await startRegistry();
 * try { ...push to `docker://${reg.host}/busybox:3` with --dest-tls-verify=false... }
 * finally { await reg.stop(); }
 */
export async function startRegistry(opts: { timeoutMs?: number; htpasswd?: string } = {}): Promise<Registry> {
  const bin = whichTool('docker-registry');
  if (!bin) throw new Error('docker-registry is not installed (sudo bash scripts/provision)');
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const root = mkdtempSync(path.join(tmpdir(), 'cairn-registry-'));
    const port = await freePort();
    const dataDir = path.join(root, 'data');
    const config = path.join(root, 'config.yml');
    const logFile = path.join(root, 'registry.log');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${dataDir}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        ...(opts.htpasswd === undefined ? [] : ['auth:', '  htpasswd:', '    realm: cairn-test', `    path: ${path.join(root, 'htpasswd')}`]),
        '',
      ].join('\n'),
    );
    if (opts.htpasswd !== undefined) writeFileSync(path.join(root, 'htpasswd'), opts.htpasswd);
    // The registry reads REGISTRY_* variables as config overrides (REGISTRY_AUTH_FILE, which
    // hermeticContainersEnv sets, would be taken as auth config): start it without them.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
    const logFd = openSync(logFile, 'w');
    const child = spawn(bin, ['serve', config], { env, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    live.add(child);
    const url = `http://127.0.0.1:${port}`;
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited(child);
          clearTimeout(timer);
        }
        live.delete(child);
        rmSync(root, { recursive: true, force: true });
      })());

    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`${url}/v2/`);
        await res.arrayBuffer();
        // With htpasswd on, an anonymous ping is answered 401: that too means it is serving.
        if (res.status === 200 || (opts.htpasswd !== undefined && res.status === 401)) return { url, host: `127.0.0.1:${port}`, port, dataDir, stop };
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    lastError = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
    await stop();
    if (!/address already in use/.test(lastError)) break; // a lost port race is worth a retry
  }
  throw new Error(`docker-registry did not start:\n${lastError}`);
}
