// sys/exit's exitWhenIdle in a real Node process (the built module, as bin/cairn.js loads it):
// the process ends with process.exitCode after every 'exit' listener, through the addon's _exit
// when nothing is pending, and only after pending work when something is.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/images.js';

const EXIT_MODULE = pathToFileURL(path.join(REPO_ROOT, 'dist', 'sys', 'exit.js')).href;

/**
 * Runs `body` as an ES module (a file) after importing exitWhenIdle; an 'exit' listener prints whether
 * process.reallyExit was replaced by then (the fast path) and the exit code it sees.
 */
function runScript(body: string, options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): { status: number | null; stdout: string } {
  const script = [
    `import { exitWhenIdle } from ${JSON.stringify(EXIT_MODULE)};`,
    'import { writeSync } from "node:fs";',
    'const nodeExit = process.reallyExit;',
    'process.on("exit", (code) => writeSync(1, `exit ${code} fast=${process.reallyExit !== nodeExit}\\n`));',
    body,
  ].join('\n');
  const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: '', NODE_V8_COVERAGE: '', ...options.env };
  // A file, not `-e`: `--input-type` would be an option on Node's command line.
  const file = path.join(dir, `script-${++scripts}.mjs`);
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [...(options.nodeArgs ?? []), file], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout };
}

let dir: string;
let scripts = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cairn-exit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('exitWhenIdle', () => {
  it('ends an idle process at once, with its exit code, after the exit listeners', () => {
    const r = runScript('process.exitCode = 3; exitWhenIdle();');
    expect(r.stdout).toBe('exit 3 fast=true\n');
    expect(r.status).toBe(3);
  });

  it('lets pending work finish first, and Node exit as usual', () => {
    const r = runScript('exitWhenIdle(); setTimeout(() => { writeSync(1, "timer\\n"); process.exitCode = 4; }, 50);');
    expect(r.stdout).toBe('timer\nexit 4 fast=false\n');
    expect(r.status).toBe(4);
  });

  it('leaves a process with a beforeExit listener to Node, which may get more work from it', () => {
    const r = runScript('let again = true; process.on("beforeExit", () => { if (again) { again = false; setTimeout(() => writeSync(1, "more\\n"), 10); } }); exitWhenIdle();');
    expect(r.stdout).toBe('more\nexit 0 fast=false\n');
    expect(r.status).toBe(0);
  });

  it('leaves the exit to Node when Node was given options or asked for coverage, which it writes at exit', async () => {
    expect(runScript('exitWhenIdle();', { nodeArgs: ['--no-warnings'] }).stdout).toBe('exit 0 fast=false\n');
    expect(runScript('exitWhenIdle();', { env: { NODE_OPTIONS: '--no-warnings' } }).stdout).toBe('exit 0 fast=false\n');
    const coverage = await mkdtemp(path.join(tmpdir(), 'cairn-exit-coverage-'));
    try {
      expect(runScript('exitWhenIdle();', { env: { NODE_V8_COVERAGE: coverage } }).stdout).toBe('exit 0 fast=false\n');
      expect((await readdir(coverage)).some((name) => name.endsWith('.json'))).toBe(true);
    } finally {
      await rm(coverage, { recursive: true, force: true });
    }
  });

  it('counts an I/O request in flight as pending', () => {
    const r = runScript('import("node:fs").then(({ readFile }) => { readFile("/proc/self/status", () => writeSync(1, "read\\n")); exitWhenIdle(); });');
    expect(r.stdout).toBe('read\nexit 0 fast=false\n');
    expect(r.status).toBe(0);
  });
});
