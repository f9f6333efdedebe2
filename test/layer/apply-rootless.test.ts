// Without root, for real: the applier runs in a child process as `nobody` (built dist/, as the
// CLI would run) and must skip devices and owners, turn EPERM on trusted.*/security.* xattrs
// into warnings, still make fifos and user.* xattrs, and cope with read-only directories.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getXattr } from '../../src/sys/xattr.js';
import { device, dir, fifo, file, hostileTar } from '../support/hostile-tar.js';
import { DIST_DIR, REPO_ROOT, removeDir, tempDir } from '../support/images.js';

const NOBODY = 65534;
const distApply = path.join(DIST_DIR, 'layer', 'apply.js');

/** dist/ must hold the current applier (npm test builds it first). */
function distIsCurrent(): boolean {
  if (!existsSync(distApply)) return false;
  const built = statSync(distApply).mtimeMs;
  const sources = ['apply.ts', 'apply-tree.ts', 'apply-meta.ts', 'scoped-path.ts', 'whiteout.ts'];
  const stale = sources.some((f) => statSync(path.join(REPO_ROOT, 'src', 'layer', f)).mtimeMs > built + 1000);
  if (stale) console.warn('skipping: dist/layer is older than src/layer (npx tsc -p tsconfig.json)');
  return !stale;
}

const skip = process.getuid?.() !== 0 || !distIsCurrent();

let base: string;

beforeEach(async () => {
  base = await tempDir('cairn-rootless-');
  await chmod(base, 0o755);
});

afterEach(async () => {
  await removeDir(base);
});

/** Applies `tarFile` to `root` in a child process running as nobody; returns its warnings. */
function applyAsNobody(root: string, tarFile: string): Promise<{ path: string; message: string }[]> {
  const script = [
    `import { createReadStream } from 'node:fs';`,
    `import { applyLayer } from ${JSON.stringify(pathToFileURL(distApply).href)};`,
    `const r = await applyLayer(${JSON.stringify(root)}, createReadStream(${JSON.stringify(tarFile)}), { what: 'rootless layer' });`,
    `process.stdout.write(JSON.stringify(r.warnings.map(({ path, message }) => ({ path, message }))));`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { uid: NOBODY, gid: NOBODY, cwd: base });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { path: string; message: string }[]) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

describe.skipIf(skip)('rootless (a child process as nobody)', () => {
  it('skips devices and owners, warns for privileged xattrs, makes fifos, handles read-only dirs', async () => {
    const root = path.join(base, 'root');
    await mkdir(root);
    await chown(root, NOBODY, NOBODY);
    const cap = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const one = path.join(base, 'one.tar');
    await writeFile(
      one,
      hostileTar([
        dir('ro', 0o555),
        file('ro/f', 'f', 0o644, { uid: 1000, gid: 1000 }),
        file('x', 'x', 0o755, { xattrs: { 'trusted.x': Buffer.from('t'), 'security.capability': cap, 'user.ok': Buffer.from('u') } }),
        device('null', 'char', 1, 3),
        fifo('pipe', 0o640),
        dir('closed', 0o000),
        file('closed/inside', 'i'),
      ]),
    );
    const two = path.join(base, 'two.tar');
    await writeFile(two, hostileTar([file('ro/g', 'g'), file('ro/.wh.f', '')]));
    await chmod(one, 0o644);
    await chmod(two, 0o644);

    const warnings = await applyAsNobody(root, one);
    expect(warnings).toEqual([
      { path: 'x', message: 'xattr trusted.x was not applied: not permitted without root' },
      { path: 'x', message: 'xattr security.capability was not applied: not permitted without root' },
      { path: 'null', message: 'char device 1:3 skipped (not root)' },
    ]);
    expect(await applyAsNobody(root, two)).toEqual([]);

    expect((await readdir(root)).sort()).toEqual(['closed', 'pipe', 'ro', 'x']);
    expect((await lstat(path.join(root, 'ro'))).mode & 0o7777).toBe(0o555);
    expect((await lstat(path.join(root, 'closed'))).mode & 0o7777).toBe(0o000);
    expect((await readdir(path.join(root, 'ro'))).sort()).toEqual(['g']);
    expect((await readdir(path.join(root, 'closed')))).toEqual(['inside']);
    expect((await lstat(path.join(root, 'x'))).uid).toBe(NOBODY);
    expect((await lstat(path.join(root, 'pipe'))).isFIFO()).toBe(true);
    expect(getXattr(path.join(root, 'x'), 'user.ok')?.toString()).toBe('u');
    expect(getXattr(path.join(root, 'x'), 'trusted.x')).toBeUndefined();
  });
});
