/**
 * The banner at the top of every CLI script (scripts/bundle-banner.mjs), run as a script runs it:
 * with the script's own `require` behind it. The lazy built-ins must load only when a property is
 * read, and must still copy like the real module (esbuild's `__toESM` for a namespace import).
 */
import { builtinModules, createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a build script in plain JavaScript, without type declarations
import { LAZY_BUILTINS, bundleBanner } from '../../scripts/bundle-banner.mjs';

type Require = (id: string) => unknown;

const realRequire = createRequire(import.meta.url);

/** The banner's `require` in front of `load`, which records each id it is asked for. */
function bannerRequire(): { require: Require; loads: string[] } {
  const loads: string[] = [];
  const load: Require = (id) => {
    loads.push(id);
    return realRequire(id);
  };
  const run = new Function('require', '__dirname', `${bundleBanner() as string}\nreturn require;`) as (r: Require, dir: string) => Require;
  return { require: run(load, '/bundle/dir'), loads };
}

/** What esbuild's `__toESM(require(id), 1)` does with a module: a getter per own property name. */
function namespaceCopy(module: object): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(module)) {
    const desc = Object.getOwnPropertyDescriptor(module, key);
    Object.defineProperty(copy, key, { get: () => (module as Record<string, unknown>)[key], enumerable: !desc || desc.enumerable === true });
  }
  return copy;
}

describe('bundle banner', () => {
  it('lists only real built-ins as lazy', () => {
    const names = new Set(builtinModules.map((m) => `node:${m}`));
    for (const id of LAZY_BUILTINS as string[]) expect(names.has(id), id).toBe(true);
  });

  it('loads a lazy built-in on the first read of one of its properties, once', () => {
    const { require, loads } = bannerRequire();
    const fsp = require('node:fs/promises') as typeof import('node:fs/promises');
    expect(loads).toEqual([]);
    expect(require('node:fs/promises')).toBe(fsp);
    expect(fsp.mkdir).toBe(realRequire('node:fs/promises').mkdir);
    expect(fsp.readFile).toBe(realRequire('node:fs/promises').readFile);
    expect(loads).toEqual(['node:fs/promises']);
  });

  it('copies a lazy built-in as the real one copies, without loading it to list its names', () => {
    const { require, loads } = bannerRequire();
    const os = require('node:os') as object;
    const names = Object.getOwnPropertyNames(os);
    expect(loads).toEqual([]);
    expect(names.sort()).toEqual(Object.keys(realRequire('node:os')).filter((k) => k !== 'default').sort());
    expect('homedir' in os).toBe(true);
    expect('nothing' in os).toBe(false);
    const copy = namespaceCopy(os) as typeof import('node:os');
    expect(copy.homedir()).toBe(realRequire('node:os').homedir());
    expect(loads).toEqual(['node:os']);
  });

  it('hands other ids to the script’s require, once each', () => {
    const { require, loads } = bannerRequire();
    expect(require('node:fs')).toBe(realRequire('node:fs'));
    expect(require('node:fs')).toBe(realRequire('node:fs'));
    expect(require('node:path')).toBe(realRequire('node:path'));
    expect(loads).toEqual(['node:fs', 'node:path']);
    expect(() => require('no-such-package-anywhere')).toThrow(/Cannot find module/);
  });

  it('finds a bundled module’s directory and URL from the bundle’s own', () => {
    const run = new Function('require', '__dirname', `${bundleBanner() as string}\nreturn [__cairnModuleDir, __cairnModuleUrl];`) as (
      r: Require,
      dir: string,
    ) => [(p: string) => string, (p: string) => string];
    const [moduleDir, moduleUrl] = run(realRequire, '/opt/cairn/dist/cli/bundle');
    expect(moduleDir('../../sys')).toBe('/opt/cairn/dist/sys');
    expect(moduleUrl('../../a b/c#.js')).toBe('file:///opt/cairn/dist/a%20b/c%23.js');
  });
});
