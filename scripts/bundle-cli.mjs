#!/usr/bin/env node
/**
 * Bundles the compiled CLI into CommonJS scripts that bin/cairn.js runs through a V8 code cache:
 * dist/cli/cairn.cjs, the whole CLI (dist/cli/main.js and everything it imports), and one script
 * per command, dist/cli/bundle/NAME.cjs (commands/NAME.js and what it imports, run through
 * cli/dispatch's `commandMain`). A command's own script is a third to a half of the whole one:
 * less to read, check and deserialise on every run of a short command (`cairn diff CONTAINER`
 * measured ~5 ms less of its ~65 ms). The whole CLI runs `help`, unknown commands and
 * CAIRN_DEBUG=1 (it alone has a source map).
 *
 * Why: a cairn command is a short process, and on Node 20 most of its start is the ES module
 * loader resolving, reading and compiling ~40–90 files one by one (about 1 ms each). One script
 * is read once, and with a code cache V8 skips parsing it. The library (dist/index.js) stays
 * plain ES modules; only the command line uses the bundle.
 *
 * `import.meta` has no meaning in CommonJS, so each module's `import.meta.url` and
 * `import.meta.dirname` are rewritten to that module's own file URL or directory in dist/,
 * computed from the bundle's location at run time: the addon (sys/native), zstd-napi (tar/zstd),
 * node:crypto (sys/crypto) and the supervisor script (runtime/detach) are all found relative to
 * their own module, exactly as without the bundle.
 *
 * Packages with native addons stay outside the bundle and load from node_modules as usual.
 *
 * Usage: node scripts/bundle-cli.mjs   (run by `npm run build` after tsc)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { MODULE_DIR, MODULE_URL, builtinExports, bundleBanner } from './bundle-banner.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const BUNDLE = path.join(DIST, 'cli', 'cairn.cjs');
const COMMAND_BUNDLES = path.join(DIST, 'cli', 'bundle');

/**
 * Built-ins that Node has loaded before any script runs and that cairn imports by default
 * (`import path from 'node:path'`, in ~50 modules). For a default import of an external module
 * esbuild makes each importing module its own copy of the exports (`__toESM`, a getter per
 * property): 10 copies of node:path in `cairn diff` alone. Here every import goes through one
 * ES module that re-exports the real one, which importers use directly.
 */
const FACADE_BUILTINS = ['node:path'];
const FACADE_NAMESPACE = 'builtin-facade';

/** The facade for `name`: the module itself as default export, and each of its exports by name. */
function facadeSource(name) {
  const keys = builtinExports(name).filter((key) => /^[A-Za-z_$][\w$]*$/.test(key));
  return [`const real = require(${JSON.stringify(name)});`, 'export default real;', `export const { ${keys.join(', ')} } = real;`].join('\n');
}

const builtinFacadePlugin = {
  name: FACADE_NAMESPACE,
  setup(b) {
    const filter = new RegExp(`^(${FACADE_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      // The facade's own require() of the real module stays a plain require().
      args.namespace === FACADE_NAMESPACE ? { path: args.path, external: true } : { path: args.path, namespace: FACADE_NAMESPACE },
    );
    b.onLoad({ filter: /.*/, namespace: FACADE_NAMESPACE }, (args) => ({ contents: facadeSource(args.path), loader: 'js' }));
  },
};

/**
 * Rewrites `import.meta.url` and `import.meta.dirname` in each dist module to that module's URL
 * or directory, found from the `__dirname` of a bundle in `outDir`.
 */
const moduleLocationPlugin = (outDir) => ({
  name: 'module-location',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!args.path.startsWith(DIST + path.sep) || !source.includes('import.meta')) return undefined;
      const fromBundle = (file) => JSON.stringify(path.relative(outDir, file).split(path.sep).join('/'));
      const contents = source
        .replaceAll('import.meta.url', `${MODULE_URL}(${fromBundle(args.path)})`)
        .replaceAll('import.meta.dirname', `${MODULE_DIR}(${fromBundle(path.dirname(args.path))})`);
      if (contents.includes('import.meta')) throw new Error(`${args.path}: only import.meta.url and import.meta.dirname can be bundled`);
      return { contents, loader: 'js' };
    });
  },
});

const COMMAND_ENTRY = 'command-entry';

/** `command-entry:NAME`: an entry point whose `main` runs commands/NAME.js alone (with what else cli/main exports for bin/cairn.js). */
const commandEntryPlugin = {
  name: COMMAND_ENTRY,
  setup(b) {
    b.onResolve({ filter: new RegExp(`^${COMMAND_ENTRY}:`) }, (args) => ({ path: args.path.slice(COMMAND_ENTRY.length + 1), namespace: COMMAND_ENTRY }));
    b.onLoad({ filter: /.*/, namespace: COMMAND_ENTRY }, (args) => ({
      contents: [
        `import { command } from './commands/${args.path}.js';`,
        `import { commandMain } from './dispatch.js';`,
        `export const main = commandMain(${JSON.stringify(args.path)}, command);`,
        `export { exitWhenIdle } from '../sys/exit.js';`,
        `export { isWholeCliRequired } from './dispatch.js';`,
      ].join('\n'),
      resolveDir: path.join(DIST, 'cli'),
      loader: 'js',
    }));
  },
};

/**
 * Paths a command's own script leaves to the whole CLI: modules that command reaches only through
 * import(), on a rare command line, and that would make up most of its script. In the script each
 * becomes a module that throws cli/dispatch's `wholeCliRequired()`, and bin/cairn.js then runs the
 * command line with the whole CLI (~5 ms more, on a command that takes far longer anyway). The
 * code a script holds costs every run of it, used or not: V8 deserialises a function entry for
 * every top-level function of the script and creates them all when it starts (~1.6 ms of the ~10 ms
 * that `diff CONTAINER` spends past Node's own start, with 90 of its 130 KB there for images).
 */
const LEFT_TO_WHOLE_CLI = {
  // `diff IMAGE [IMAGE]` (layer indexes, tar, OCI validation) and a copy-mode container's diff
  // (union view): what stays is `diff CONTAINER` over overlayfs, the shortest command.
  diff: ['diff/images.js', 'image/resolve.js', 'diff/directories.js', 'union/view.js', 'container/image.js'],
};
const WHOLE_CLI_NAMESPACE = 'whole-cli';

/** Resolves an import() of each of `modules` (relative to dist/) to a module that sends the command line to the whole CLI. */
const wholeCliPlugin = (modules) => ({
  name: WHOLE_CLI_NAMESPACE,
  setup(b) {
    const files = new Set(modules.map((m) => path.join(DIST, m)));
    b.onResolve({ filter: /\.js$/ }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const file = path.resolve(args.resolveDir, args.path);
      return files.has(file) ? { path: path.relative(DIST, file), namespace: WHOLE_CLI_NAMESPACE } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: WHOLE_CLI_NAMESPACE }, (args) => ({
      contents: `import { wholeCliRequired } from './cli/dispatch.js';\nwholeCliRequired(${JSON.stringify(args.path)});`,
      resolveDir: DIST,
      loader: 'js',
    }));
  },
});

/**
 * Marks each script with a digest of its text. bin/cairn.js keys a code cache to it: V8 checks a
 * cache only against the source's length, and a cache made for other code of the same length
 * would run that code. Reading the mark from the source costs nothing; the file's mtime would
 * cost a stat (the first one in a process is ~0.5 ms).
 */
function markBuild(text) {
  const id = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const mark = `//# cairnBuild=${id}\n`;
  // Before the source map comment, so that no mapped line moves.
  const map = text.lastIndexOf('//# sourceMappingURL=');
  return map < 0 ? `${text}${mark}` : `${text.slice(0, map)}${mark}${text.slice(map)}`;
}

/**
 * Builds with `options`, then writes every output, scripts marked (see markBuild). `leftOut`:
 * modules that must not be in the output (an import of one that is not an import() brings it in).
 */
async function buildMarked(options, leftOut = []) {
  const { outputFiles, metafile } = await build({ ...options, write: false, metafile: true });
  // The metafile names inputs relative to the working directory.
  const kept = leftOut.filter((m) => path.relative(process.cwd(), path.join(DIST, m)) in metafile.inputs);
  if (kept.length > 0) throw new Error(`${kept.join(', ')}: left to the whole CLI, but imported statically too`);
  for (const file of outputFiles) {
    await mkdir(path.dirname(file.path), { recursive: true });
    await writeFile(file.path, file.path.endsWith('.cjs') ? markBuild(file.text) : file.contents);
  }
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // import() of what stays outside (level, builtins) becomes require(): the bundle runs as a
  // vm.Script, which has no ES module loader behind it.
  supported: { 'dynamic-import': false },
  external: ['level'],
  banner: { js: bundleBanner() },
  // A third smaller (600 -> 400 KB): less to read, hash and deserialise on every run (~4% of the
  // instructions of `cairn diff CONTAINER`). bin/cairn.js maps stack traces back through the
  // whole CLI's source map under CAIRN_DEBUG=1.
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

const { commandNames } = await import(path.join(DIST, 'cli', 'main.js'));
await rm(COMMAND_BUNDLES, { recursive: true, force: true });
await Promise.all([
  buildMarked({
    ...common,
    entryPoints: [path.join(DIST, 'cli', 'main.js')],
    outfile: BUNDLE,
    plugins: [builtinFacadePlugin, moduleLocationPlugin(path.dirname(BUNDLE))],
    sourcemap: 'linked',
  }),
  // One build for the commands that keep everything, one per command that leaves paths out.
  ...[commandNames.filter((name) => !(name in LEFT_TO_WHOLE_CLI)), ...Object.keys(LEFT_TO_WHOLE_CLI).map((name) => [name])].map((names) => {
    const leftOut = names.flatMap((name) => LEFT_TO_WHOLE_CLI[name] ?? []);
    return buildMarked(
      {
        ...common,
        entryPoints: names.map((name) => ({ in: `${COMMAND_ENTRY}:${name}`, out: name })),
        outdir: COMMAND_BUNDLES,
        outExtension: { '.js': '.cjs' },
        plugins: [commandEntryPlugin, wholeCliPlugin(leftOut), builtinFacadePlugin, moduleLocationPlugin(COMMAND_BUNDLES)],
      },
      leftOut,
    );
  }),
]);

// A new bundle makes the old code caches useless (bin/cairn.js would refuse them); each script's
// first run writes its own. `--help` loads every command module into the whole CLI, and
// `images --help` runs a command's own script: a check that both kinds run.
for (const name of await readdir(path.dirname(BUNDLE))) {
  if (name.startsWith(`${path.basename(BUNDLE)}.`) && name.endsWith('.cache')) await rm(path.join(path.dirname(BUNDLE), name), { force: true });
}
const env = { ...process.env };
delete env.NODE_OPTIONS;
for (const args of [['--help'], ['images', '--help']]) {
  const check = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'cairn.js'), ...args], { env, stdio: 'ignore' });
  if (check.status !== 0) throw new Error(`bin/cairn.js ${args.join(' ')} exited with ${check.status ?? check.signal}`);
}
