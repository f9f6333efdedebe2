/**
 * The banner scripts/bundle-cli.mjs puts at the top of every CLI script: what the bundled modules
 * need from their surroundings and esbuild does not provide. Separate from the build so that
 * test/cli/bundle-banner.test.ts can run it.
 */
import { createRequire } from 'node:module';

/**
 * Defined once at the bundle's top, where `require` and `__dirname` are the bundle's own (a module
 * may shadow `require`). Percent-encoding each path segment makes the same URL as
 * url.pathToFileURL for any POSIX path, without loading node:url (~4 ms).
 */
export const MODULE_DIR = '__cairnModuleDir';
export const MODULE_URL = '__cairnModuleUrl';
const MODULE_LOCATION_BANNER = [
  `var ${MODULE_DIR} = (fromBundle) => require("node:path").join(__dirname, fromBundle);`,
  `var ${MODULE_URL} = (fromBundle) => "file://" + ${MODULE_DIR}(fromBundle).split("/").map(encodeURIComponent).join("/");`,
].join('\n');

/**
 * Built-in modules that cost milliseconds to load. esbuild turns `import { mkdir } from
 * 'node:fs/promises'` into a require() when the importing module initialises, and loading
 * node:fs/promises alone pulls in readline, streams and file watchers (~5 ms): a command that
 * never calls one of its functions would still pay. So the bundle's `require` hands out a
 * stand-in for each of them instead, which loads the real module on the first access to one of
 * its properties (a class that extends one of them at a module's top level loads it when that
 * module initialises, as before). esbuild reads imported names as properties at each call
 * (`(0, fsp.mkdir)(…)`), so nothing loads before it is used.
 *
 * The stand-ins are made by the `require` that the banner puts in front of the bundle's own, not
 * bundled as modules: esbuild wraps every import of a bundled CommonJS module in a copy of its
 * exports (`__toESM`, a getter per property per importing module), and those copies were ~0.7 ms
 * of the ~1 ms a `cairn diff` spent copying (615 properties, 29 copies). A stand-in is a proxy, made
 * in one step: defining a getter per export name (~180 of them) was ~0.3 ms of every command. Its
 * export names, a string per module, are split only when something lists them (a namespace
 * import's copy). That `require` also remembers what it returned: the bundle's modules require
 * node:fs, node:path and the rest ~60 times, and Node's own require resolves each call again.
 */
export const LAZY_BUILTINS = [
  'node:fs/promises',
  'node:stream',
  'node:stream/promises',
  'node:timers/promises',
  'node:os',
  'node:child_process',
  'node:module',
  'node:net',
  'node:http',
  'node:https',
  'node:zlib',
  'node:worker_threads',
  'node:readline',
];

/** The names a built-in module exports (as this Node has them), without `default`. */
export function builtinExports(name) {
  return Object.keys(createRequire(import.meta.url)(name)).filter((key) => key !== 'default');
}

/** The banner's `require`: the bundle's own, remembered per id, except for LAZY_BUILTINS, which get stand-ins. */
export function lazyRequireBanner() {
  const exportNames = Object.fromEntries(LAZY_BUILTINS.map((name) => [name, builtinExports(name).join(' ')]));
  return [
    'var require = ((load, exportNames) => {',
    '  const standIn = (id, names) => {',
    '    let real;',
    '    const module = () => (real ??= load(id));',
    '    const keys = () => names.split(" ");',
    '    return new Proxy({}, {',
    '      get: (_, key) => module()[key],',
    '      has: (_, key) => keys().includes(key),',
    '      ownKeys: keys,',
    '      getOwnPropertyDescriptor: (_, key) => (keys().includes(key) ? { configurable: true, enumerable: true, get: () => module()[key] } : undefined),',
    '    });',
    '  };',
    '  const required = new Map();',
    '  return (id) => {',
    '    let module = required.get(id);',
    '    if (module === undefined) {',
    '      module = Object.hasOwn(exportNames, id) ? standIn(id, exportNames[id]) : load(id);',
    '      required.set(id, module);',
    '    }',
    '    return module;',
    '  };',
    `})(require, ${JSON.stringify(exportNames)});`,
  ].join('\n');
}

/** The whole banner: module locations, then the lazy `require`. */
export function bundleBanner() {
  return `${MODULE_LOCATION_BANNER}\n${lazyRequireBanner()}`;
}
