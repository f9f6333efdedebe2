// sys/exit's exitWhenIdle in a real Node process (the built module, as bin/cairn.js loads it):
// the process ends with process.exitCode after every 'exit' listener, through the addon's _exit
// when nothing is pending, and only after pending work when something is.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/images.js';

const EXIT_MODULE = pathToFileURL(path.join(REPO_ROOT, 'dist', 'sys', 'exit.js')).href;

/**
 * Runs `body` as an ES module after importing exitWhenIdle; an 'exit' listener prints whether
 * process.reallyExit was replaced by then (the fast path) and the exit code it sees.
 */
function runScript(body: string): { status: number | null; stdout: string } {
  const script = [
    `import { exitWhenIdle } from ${JSON.stringify(EXIT_MODULE)};`,
    'import { writeSync } from "node:fs";',
    'const nodeExit = process.reallyExit;',
    'process.on("exit", (code) => writeSync(1, `exit ${code} fast=${process.reallyExit !== nodeExit}\\n`));',
    body,
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout };
}

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

  it('counts an I/O request in flight as pending', () => {
    const r = runScript('import("node:fs").then(({ readFile }) => { readFile("/proc/self/status", () => writeSync(1, "read\\n")); exitWhenIdle(); });');
    expect(r.stdout).toBe('read\nexit 0 fast=false\n');
    expect(r.status).toBe(0);
  });
});
