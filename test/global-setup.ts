/**
 * vitest global setup: makes sure the real-tool fixture images exist and tells tests where.
 *
 * Directory: $CAIRN_FIXTURES, else <repo>/.cache/fixtures (gitignored). When its stamps are
 * stale (`scripts/build-fixtures --check`), builds them (~10 s; with CAIRN_FIXTURES_DEBIAN=1
 * also the Debian images, ~60 s more). The build log goes to <dir>/build.log. When the tools
 * are missing or the build fails: outside CI, warn and let fixture tests skip; with CI=true,
 * fail the run. Tests read the result with `fixtures()` from test/support/fixtures.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { FixtureState } from './support/fixtures.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const script = path.join(repoRoot, 'scripts', 'build-fixtures');
const inCI = process.env.CI === 'true';

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function ensureFixtures(dir: string, debian: boolean): Promise<FixtureState> {
  const env = { ...process.env, DEBIAN: debian ? '1' : '0' };
  const check = spawnSync('bash', [script, '--check', dir], { env });
  if (check.status === 0) return { dir, reason: '', debianRequested: debian };

  const log = path.join(dir, 'build.log');
  mkdirSync(dir, { recursive: true });
  const fd = openSync(log, 'w');
  const started = Date.now();
  console.log(`[fixtures] building into ${dir}${debian ? ' (with Debian)' : ''}; log: ${log}`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn('bash', [script, dir], { env, stdio: ['ignore', fd, fd] });
    child.on('error', () => resolve(1));
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  closeSync(fd);
  if (code === 0) {
    console.log(`[fixtures] built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { dir, reason: '', debianRequested: debian };
  }
  const why =
    code === 3
      ? `cannot build fixtures here: ${tail(log, 1).replace(/^build-fixtures: /, '')}`
      : `fixture build failed (exit ${code}), see ${log}:\n${tail(log, 15)}`;
  if (inCI) throw new Error(why);
  console.warn(`[fixtures] ${why}\n[fixtures] tests that need fixtures are skipped`);
  return { dir: null, reason: why, debianRequested: debian };
}

export default async function setup(project: TestProject): Promise<void> {
  const dir = path.resolve(process.env.CAIRN_FIXTURES ?? path.join(repoRoot, '.cache', 'fixtures'));
  const debian = process.env.CAIRN_FIXTURES_DEBIAN === '1';
  project.provide('cairnFixtures', await ensureFixtures(dir, debian));
}
