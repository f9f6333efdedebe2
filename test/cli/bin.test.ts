/**
 * bin/cairn.js: the command runs the bundled CLI (dist/cli/cairn.cjs, made by
 * scripts/bundle-cli.mjs) through a V8 code cache that it keeps itself. These tests run a copy of
 * bin/ and the bundle in a temp tree, so the project's own cache is left alone.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairnProcess, type CliResult } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { REPO_ROOT } from '../support/tools.js';

describe('bin/cairn.js', () => {
  let root: string;
  let bundle: string;
  let cache: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'cairn-bin-'));
    await mkdir(path.join(root, 'bin'));
    await mkdir(path.join(root, 'dist', 'cli'), { recursive: true });
    for (const file of ['bin/cairn.js', 'bin/package.json', 'dist/cli/cairn.cjs']) {
      await copyFile(path.join(REPO_ROOT, file), path.join(root, file));
    }
    bundle = path.join(root, 'dist', 'cli', 'cairn.cjs');
    cache = `${bundle}.version.cache`;
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Runs the copy's `cairn ARGS`; returns what it said about the code cache. */
  function cacheReport(args: readonly string[]): string {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'cairn.js'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, CAIRN_DEBUG: 'code-cache', NODE_OPTIONS: '' },
    });
    expect(r.status).toBe(0);
    return /code cache: (\w+)/.exec(r.stderr)?.[1] ?? `no report in ${JSON.stringify(r.stderr)}`;
  }
  const version = (): string => cacheReport(['version']);

  it('writes a code cache on the first run and uses it on the next', async () => {
    await rm(cache, { force: true });
    expect(version()).toBe('absent');
    expect((await readFile(cache)).length).toBeGreaterThan(1000);
    expect(version()).toBe('used');
  });

  it('keeps a cache per command', async () => {
    version();
    await rm(`${bundle}.help.cache`, { force: true });
    expect(cacheReport(['--store', path.join(root, 'none'), 'help'])).toBe('absent');
    expect(cacheReport(['help'])).toBe('used');
    expect(version()).toBe('used');
  });

  it('replaces a cache that V8 refuses', async () => {
    version();
    const file = await readFile(cache);
    const key = file.subarray(0, file.indexOf(0x0a) + 1);
    await writeFile(cache, Buffer.concat([key, Buffer.from('not a V8 code cache')]));
    expect(version()).toBe('rejected');
    expect(version()).toBe('used');
  });

  it('ignores a cache made for another build of the bundle', async () => {
    version();
    const later = new Date(Date.now() + 5000);
    await utimes(bundle, later, later);
    expect(version()).toBe('absent');
    expect(version()).toBe('used');
  });

  it.skipIf(skipWithoutFixtures('busybox/oci-umoci:1'))('runs commands whose modules find files beside themselves', async () => {
    // The project's own bin: `copy` takes the store lock through the native addon, which
    // sys/native finds from its own module URL inside the bundle, and hashes through node:crypto,
    // which sys/crypto loads the same way.
    const store = path.join(root, 'store');
    const copied = cairnProcess(['--store', store, 'copy', transportRef(fixture('busybox/oci-umoci:1')), 'bb:1']);
    expect(copied.stderr).toBe('');
    expect(copied.status).toBe(0);
    const listed = cairnProcess(['--store', store, 'images']);
    expect(listed.stdout).toMatch(/^bb\s+1\s+[0-9a-f]{12}\s/m);
  });

  /** Runs the project's bin with its stdout read by nobody: the pipe's read end is closed before the command starts. */
  function withReaderGone(args: readonly string[]): Promise<Omit<CliResult, 'stdout'>> {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'cairn.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (status) => resolve({ status: status ?? -1, stderr }));
    });
  }

  it.skipIf(skipWithoutFixtures('busybox/oci-umoci:1'))('finishes quietly when the reader of its output goes away', async () => {
    const store = path.join(root, 'store-epipe');
    expect(cairnProcess(['--store', store, 'copy', transportRef(fixture('busybox/oci-umoci:1')), 'bb:1']).status).toBe(0);
    // Text (written straight to the descriptor) and a file's bytes (streamed): EPIPE ends the
    // output, not the command, and prints no stack trace.
    for (const args of [['images'], ['cat', 'bb:1', '/bin/busybox']]) {
      expect(await withReaderGone(['--store', store, ...args])).toEqual({ status: 0, stderr: '' });
    }
  });

  it('prints stack traces in the TypeScript sources with CAIRN_DEBUG=1', () => {
    const r = cairnProcess(['diff'], { CAIRN_DEBUG: '1' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^CairnError: diff: needs one image/m);
    expect(r.stderr).toMatch(/\(.*\/src\/cli\/commands\/diff\.ts:\d+:\d+\)$/m);
  });

  it('writes text to a file and to a pipe alike', async () => {
    const file = path.join(root, 'help.txt');
    const toPipe = cairnProcess(['help']);
    const r = spawnSync('sh', ['-c', 'exec "$@" > "$0"', file, process.execPath, path.join(REPO_ROOT, 'bin', 'cairn.js'), 'help']);
    expect(r.status).toBe(0);
    expect(toPipe.stdout).toMatch(/^Usage: cairn /);
    expect(await readFile(file, 'utf8')).toBe(toPipe.stdout);
  });
});
