// store/paths builds its paths by concatenation (no path.join on the start of every command):
// they must be exactly what path.join makes, for any spelling of the root.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { storePaths } from '../../src/store/paths.js';

const NAMES = {
  ociLayout: ['oci-layout'],
  index: ['index.json'],
  blobs: ['blobs'],
  cairn: ['cairn'],
  meta: ['cairn', 'meta'],
  layers: ['cairn', 'layers'],
  cache: ['cairn', 'cache'],
  indexes: ['cairn', 'indexes'],
  containers: ['cairn', 'containers'],
  containerInit: ['cairn', 'container-init'],
  tmp: ['cairn', 'tmp'],
  lock: ['cairn', 'lock'],
  gcLock: ['cairn', 'gc.lock'],
} as const;

describe('storePaths', () => {
  it.each(['/', '/srv/store', '/srv/store/', '/srv//a/../store/.', 'relative/store', '.', '..'])('names every path as path.join would, from %j', (root) => {
    const paths = storePaths(root);
    const abs = path.resolve(root);
    expect(paths.root).toBe(abs);
    for (const [key, names] of Object.entries(NAMES)) expect(paths[key as keyof typeof NAMES], key).toBe(path.join(abs, ...names));
    expect(Object.keys(paths).sort()).toEqual(['root', ...Object.keys(NAMES)].sort());
  });
});
