/**
 * bin/cairn.js: the command runs a script made by scripts/bundle-cli.mjs — the command's own
 * (dist/cli/bundle/NAME.cjs) or the whole CLI (dist/cli/cairn.cjs) — through a V8 code cache that
 * it keeps itself. These tests run a copy of bin/ and the scripts in a temp tree, so the project's
 * own caches are left alone.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairnProcess, type CliResult } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { REPO_ROOT } from '../support/tools.js';

describe('bin/cairn.js', () => {
  let root: string;
  let wholeCli: string;
  let tagScript: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'cairn-bin-'));
    await mkdir(path.join(root, 'bin'));
    await mkdir(path.join(root, 'dist', 'cli', 'bundle'), { recursive: true });
    const scripts = (await readdir(path.join(REPO_ROOT, 'dist', 'cli', 'bundle'))).filter((name) => name.endsWith('.cjs'));
    expect(scripts).toContain('tag.cjs');
    for (const file of ['bin/cairn.js', 'bin/package.json', 'dist/cli/cairn.cjs', ...scripts.map((name) => `dist/cli/bundle/${name}`)]) {
      await copyFile(path.join(REPO_ROOT, file), path.join(root, file));
    }
    // The addon and the packages, which the copied scripts look for beside dist/ as the project's do.
    for (const dir of ['build', 'node_modules']) await symlink(path.join(REPO_ROOT, dir), path.join(root, dir));
    wholeCli = path.join(root, 'dist', 'cli', 'cairn.cjs');
    tagScript = path.join(root, 'dist', 'cli', 'bundle', 'tag.cjs');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Runs the copy's `cairn ARGS`: its stdout, and which script ran and what it said of its code cache. */
  function run(args: readonly string[]): { stdout: string; script: string; cache: string } {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'cairn.js'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, CAIRN_DEBUG: 'code-cache', NODE_OPTIONS: '' },
    });
    expect(r.status).toBe(0);
    const report = /code cache \(([^)]+)\): (\w+)/.exec(r.stderr);
    expect(report, `no report in ${JSON.stringify(r.stderr)}`).not.toBeNull();
    return { stdout: r.stdout, script: report?.[1] ?? '', cache: report?.[2] ?? '' };
  }
  const version = (): string => run(['version']).cache;
  /** The code cache beside `script`: SCRIPT.MARK.cache, MARK being the build mark at the script's end. */
  const cacheOf = async (script: string): Promise<string> => {
    const mark = /\/\/# cairnBuild=([0-9a-f]+)/.exec(await readFile(script, 'utf8'))?.[1];
    expect(mark).toBeDefined();
    return `${script}.${mark ?? ''}.cache`;
  };
  const tagHelp = (): string => run(['tag', '--help']).cache;

  it('runs a command from its own script, anything else from the whole CLI', () => {
    expect(run(['tag', '--help']).script).toBe('bundle/tag.cjs');
    expect(run(['--store', path.join(root, 'none'), 'tag', '--help']).script).toBe('bundle/tag.cjs');
    expect(run(['--store=x', 'tag', '--help']).script).toBe('bundle/tag.cjs');
    expect(run(['version']).script).toBe('cairn.cjs');
    expect(run(['help']).script).toBe('cairn.cjs');
  });

  it('writes a code cache on the first run and uses it on the next', async () => {
    for (const [script, again] of [
      [wholeCli, version],
      [tagScript, tagHelp],
    ] as const) {
      await rm(await cacheOf(script), { force: true });
      expect(again()).toBe('absent');
      expect((await readFile(await cacheOf(script))).length).toBeGreaterThan(1000);
      expect(again()).toBe('used');
    }
  });

  it('keeps a cache per script', async () => {
    version();
    await rm(await cacheOf(tagScript), { force: true });
    expect(tagHelp()).toBe('absent');
    expect(tagHelp()).toBe('used');
    expect(version()).toBe('used');
  });

  it('replaces a cache that V8 refuses', async () => {
    version();
    await writeFile(await cacheOf(wholeCli), 'not a V8 code cache');
    expect(version()).toBe('rejected');
    expect(version()).toBe('used');
  });

  it('ignores a cache made for another build of a script, even one of the same length', async () => {
    tagHelp();
    const source = await readFile(tagScript, 'utf8');
    const mark = /\/\/# cairnBuild=([0-9a-f]+)/.exec(source);
    expect(mark).not.toBeNull();
    const other = (mark?.[1] ?? '').replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const rebuilt = source.replace(mark?.[0] ?? '', `//# cairnBuild=${other}`);
    expect(rebuilt.length).toBe(source.length);
    try {
      await writeFile(tagScript, rebuilt);
      expect(tagHelp()).toBe('absent');
      expect(tagHelp()).toBe('used');
      // Saving the new build's cache removed the old build's.
      expect((await readdir(path.dirname(tagScript))).filter((name) => name.startsWith('tag.cjs.') && name.endsWith('.cache'))).toEqual([`tag.cjs.${other}.cache`]);
    } finally {
      await writeFile(tagScript, source);
    }
  });

  it('runs a command from the whole CLI when its own script is missing, with the same result', async () => {
    const own = run(['tag', '--help']);
    const source = await readFile(tagScript);
    await rm(tagScript);
    try {
      const whole = run(['tag', '--help']);
      expect(whole.script).toBe('cairn.cjs');
      expect(whole.stdout).toBe(own.stdout);
      expect(whole.stdout).toMatch(/^Usage: cairn tag /);
    } finally {
      await writeFile(tagScript, source);
    }
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

  it.skipIf(skipWithoutFixtures('busybox/oci-umoci:1'))('runs a command line its own script leaves out with the whole CLI', async () => {
    // `diff`'s own script holds `diff CONTAINER`; images go to the whole CLI (scripts/bundle-cli.mjs).
    const store = path.join(root, 'store-handoff');
    expect(cairnProcess(['--store', store, 'copy', transportRef(fixture('busybox/oci-umoci:1')), 'bb:1']).status).toBe(0);
    const diff = (args: readonly string[]): { status: number | null; stdout: string; stderr: string; scripts: string[] } => {
      const r = spawnSync(process.execPath, [path.join(root, 'bin', 'cairn.js'), '--store', store, 'diff', ...args], {
        encoding: 'utf8',
        env: { ...process.env, CAIRN_DEBUG: 'code-cache', NODE_OPTIONS: '' },
      });
      const scripts = [...r.stderr.matchAll(/^code cache \(([^)]+)\): \w+$/gm)].map((m) => m[1] ?? '');
      return { status: r.status, stdout: r.stdout, stderr: r.stderr.replace(/^code cache .*\n/gm, ''), scripts };
    };
    const top = diff(['bb:1']);
    expect(top).toMatchObject({ status: 0, stderr: '', scripts: ['bundle/diff.cjs', 'cairn.cjs'] });
    expect(top.stdout.split('\n')).toContain('A /bin/busybox');
    expect(diff(['bb:1', 'bb:1'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
    // Neither a container nor an image: the whole CLI's one error line.
    expect(diff(['nothing-here'])).toMatchObject({ status: 1, stdout: '', stderr: `Error: image "nothing-here" is not in the store ${store}\n` });
    // A usage error is the command's own script's, as before.
    expect(diff([])).toMatchObject({ status: 2, scripts: ['bundle/diff.cjs'] });
  });

  it.skipIf(skipWithoutFixtures('busybox/oci-umoci:1'))('loads a heavy built-in only when a command uses it', async () => {
    // What the bundle's stand-ins are for: `images` and `tag --help` never touch node:fs/promises,
    // streams, child_process or zlib, so Node must not have loaded them; `cat` of a file streams.
    const store = path.join(root, 'store-lazy');
    expect(cairnProcess(['--store', store, 'copy', transportRef(fixture('busybox/oci-umoci:1')), 'bb:1']).status).toBe(0);
    const hook = path.join(root, 'loaded-modules.cjs');
    await writeFile(hook, "process.on('exit', () => require('node:fs').writeSync(2, '\\nLOADED ' + JSON.stringify(process.moduleLoadList) + '\\n'));\n");
    const loaded = (args: readonly string[]): string[] => {
      const r = spawnSync(process.execPath, ['-r', hook, path.join(REPO_ROOT, 'bin', 'cairn.js'), '--store', store, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(r.status).toBe(0);
      return JSON.parse(/^LOADED (.*)$/m.exec(r.stderr)?.[1] ?? '[]') as string[];
    };
    const heavy = ['NativeModule fs/promises', 'NativeModule stream', 'NativeModule child_process', 'NativeModule zlib', 'NativeModule net'];
    for (const args of [['images'], ['tag', '--help']]) {
      const modules = loaded(args);
      expect(modules).toContain('NativeModule vm'); // the list is real: bin/cairn.js loads vm
      expect(modules.filter((m) => heavy.includes(m))).toEqual([]);
    }
    expect(loaded(['cat', 'bb:1', '/bin/busybox'])).toContain('NativeModule stream');
  });

  it('leaves a pipe it read from as it found it, for the next process on it', async () => {
    // Node makes the stdin pipe non-blocking when it reads it, on the open file the whole
    // pipeline shares, and only Node's own exit puts that back (sys/exit): `build -f -` reads
    // it, and what runs after cairn in the same group must still see a blocking pipe.
    const context = path.join(root, 'empty-context');
    await mkdir(context, { recursive: true });
    const script = `printf 'FROM scratch\\nLABEL a=b\\n' | ("$0" "$1" --store "$2" build -q -f - -t piped:1 "$3" >/dev/null && cat /proc/self/fdinfo/0)`;
    const r = spawnSync('sh', ['-c', script, process.execPath, path.join(REPO_ROOT, 'bin', 'cairn.js'), path.join(root, 'store-pipe'), context], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    const flags = /^flags:\s+([0-7]+)$/m.exec(r.stdout)?.[1];
    expect(flags, r.stdout).toBeDefined();
    expect(Number.parseInt(flags ?? '0', 8) & 0o4000).toBe(0); // O_NONBLOCK
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
