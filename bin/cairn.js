#!/usr/bin/env node
/**
 * The cairn command.
 *
 * Environment: CAIRN_DEBUG=1 prints stack traces (mapped to the TypeScript sources);
 * CAIRN_DEBUG=code-cache says whether this run's code cache was absent, rejected or used.
 *
 * It runs a script made by scripts/bundle-cli.mjs: the command's own, dist/cli/bundle/NAME.cjs
 * (that command and what it imports, less rare paths it leaves to the whole CLI), or for
 * anything else the whole CLI, dist/cli/cairn.cjs.
 * Each is compiled with a V8 code cache beside it (SCRIPT.MARK.cache), so that V8 need not parse
 * it: a command is a short process and most of its start would otherwise be module loading. The
 * cache is only a cache: V8 refuses one made by another Node version or with other flags, ours
 * is named after the build mark at the script's end, and whenever it is missing or refused this
 * run writes a new one (atomically, and only where it may write). Without the scripts (after a bare
 * `tsc`) the ES modules in dist/ run directly.
 *
 * This one file is CommonJS (bin/package.json says so): an ES module entry would start Node's
 * ES module loader and build module facades for node:fs and friends, which costs more than the
 * rest of a small command.
 */
'use strict';
const { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const CLI_DIR = path.join(__dirname, '..', 'dist', 'cli');
const WHOLE_CLI = path.join(CLI_DIR, 'cairn.cjs');

/**
 * The command's own script when there is one. A command's script holds only the code that command
 * can run: less to read and deserialise than the whole CLI (~5 ms of a short command).
 */
function commandScript(argv) {
  // The command is the first argument after any global --store, as cli/dispatch reads it; a name
  // this misreads runs the whole CLI, which serves every command line.
  let i = 0;
  while (argv[i]?.startsWith('--store')) i += argv[i].includes('=') ? 1 : 2;
  const name = argv[i];
  return name !== undefined && /^[a-z]{1,20}$/.test(name) ? path.join(CLI_DIR, 'bundle', `${name}.cjs`) : null;
}

/** The text of a script, or null when it does not exist. */
function readScript(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
}

/** The build mark scripts/bundle-cli.mjs puts near a script's end: 16 hex digits of its digest. */
function buildMark(source) {
  const at = source.lastIndexOf(MARK);
  return at < 0 ? null : source.slice(at + MARK.length, source.indexOf('\n', at));
}
const MARK = '//# cairnBuild=';

/**
 * Runs a script, and returns its exports and a function that saves a fresh code cache when the
 * one on disk was not used. The cache's name carries the script's build mark (SCRIPT.MARK.cache),
 * so a cache found is one made for this text: nothing inside it needs checking first.
 */
function loadScript(file, source) {
  // A script without a mark (not made by the bundler) runs without a cache.
  const mark = buildMark(source);
  const codeCache = mark === null ? null : `${file}.${mark}.cache`;
  let cached;
  try {
    if (codeCache !== null) cached = readFileSync(codeCache);
  } catch {
    // no cache yet
  }
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapper, { filename: file, cachedData: cached });
  const module = { exports: {} };
  // This file's require finds the same packages as one beside the script would (both search the
  // package's node_modules), and needs no node:module.
  script.runInThisContext().call(module.exports, module.exports, require, module, file, path.dirname(file));
  const fresh = cached === undefined || script.cachedDataRejected === true;
  if (process.env.CAIRN_DEBUG === 'code-cache') {
    process.stderr.write(`code cache (${path.relative(CLI_DIR, file)}): ${cached === undefined ? 'absent' : fresh ? 'rejected' : 'used'}\n`);
  }
  const saveCache = () => {
    if (!fresh || codeCache === null) return;
    const temp = `${codeCache}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, script.createCachedData());
      renameSync(temp, codeCache);
      removeOtherCaches(file, codeCache);
    } catch {
      // a read-only install runs without a cache, as it would without the bundle
      rmSync(temp, { force: true });
    }
  };
  const { main, exitWhenIdle, isWholeCliRequired } = module.exports;
  return { main, exitWhenIdle, isWholeCliRequired, saveCache };
}

/** Removes the caches of earlier builds of `file` (written once per build, so rarely run). */
function removeOtherCaches(file, keep) {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  for (const name of readdirSync(dir)) {
    if (name.startsWith(prefix) && name.endsWith('.cache') && path.join(dir, name) !== keep) rmSync(path.join(dir, name), { force: true });
  }
}

/** The command's own script (unless `whole`), else the whole CLI; null when neither was built. */
function loadCli(argv, { whole = false } = {}) {
  const own = whole ? null : commandScript(argv);
  for (const file of own === null ? [WHOLE_CLI] : [own, WHOLE_CLI]) {
    const source = readScript(file);
    if (source !== null) return loadScript(file, source);
  }
  return null;
}

/**
 * CAIRN_DEBUG=1 prints stack traces. The bundle is minified; loaded as a plain CommonJS module,
 * with source maps on, its map turns them back into the TypeScript sources' names and lines.
 */
function debugBundle() {
  process.setSourceMapsEnabled(true);
  const { main, exitWhenIdle, isWholeCliRequired } = require(WHOLE_CLI);
  return { main, exitWhenIdle, isWholeCliRequired, saveCache: () => undefined };
}

/**
 * process.stdout and process.stderr are streams built on first use, from node:stream and node:net
 * or node:tty (~5 ms at the start of a command). Most commands write a few lines of text: until
 * something needs the stream itself (a pipe, a listener, isTTY), text or bytes are written straight to
 * the descriptor, as Node itself does for a file. After that every write goes through the stream,
 * so output keeps its order; a write the descriptor refuses (EAGAIN on a non-blocking pipe) is
 * handed to the stream too.
 *
 * A reader that went away (`cairn images | head -1`: EPIPE) is not the command's failure. The rest
 * of its output is dropped and the command finishes normally, so that it still cleans up what it
 * holds (mounts, containers, locks) instead of dying in the middle as SIGPIPE would make it.
 */
function descriptorOutput(fd, open) {
  let stream;
  let readerGone = false;
  const materialise = () => {
    if (stream === undefined) {
      stream = open();
      stream.on('error', (err) => {
        if (err.code !== 'EPIPE') throw err;
        readerGone = true;
      });
    }
    return stream;
  };
  function write(chunk, encoding, callback) {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (readerGone) {
      if (done) process.nextTick(done);
      return true;
    }
    const text = typeof chunk === 'string';
    if (stream !== undefined || !(text || chunk instanceof Uint8Array)) return materialise().write(chunk, encoding, callback);
    let bytes = text ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk;
    try {
      while (bytes.length > 0) bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (err) {
      if (err.code !== 'EPIPE') return materialise().write(bytes, encoding, callback);
      readerGone = true;
    }
    if (done) process.nextTick(done);
    return true;
  }
  return new Proxy(
    {},
    {
      get(_, key) {
        if (key === 'write') return write;
        const target = materialise();
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
      set: (_, key, value) => Reflect.set(materialise(), key, value),
      has: (_, key) => Reflect.has(materialise(), key),
      getPrototypeOf: () => Reflect.getPrototypeOf(materialise()),
    },
  );
}

/**
 * Makes `process.stdout`/`process.stderr` the descriptor writers above, for the command's own
 * output and for code that writes to the process's streams directly (the container output an
 * attached `run` copies to its caller, console.*). Node builds its stream only if one is needed.
 */
function installDescriptorOutput(name, fd) {
  const node = Object.getOwnPropertyDescriptor(process, name);
  const output = descriptorOutput(fd, () => nodeStdio(node));
  Object.defineProperty(process, name, { configurable: true, enumerable: node.enumerable, get: () => output });
  return output;
}

/**
 * Whether Node has built a stream on one of our stdio descriptors. Node may then have changed
 * the descriptor's flags (a pipe made non-blocking, on the open file it shares with the other
 * processes of a shell pipeline), and only its own exit puts them back: such a process must not
 * end early (sys/exit).
 */
let stdioStreamBuilt = false;

/** Node's own `process.stdin` (or stdout/stderr) stream, noted as built. */
function nodeStdio(node) {
  stdioStreamBuilt = true;
  return node.get.call(process);
}

/** `process.stdin` as Node makes it, noting that it was (`build -f -` reads it, `run -i` hands it over). */
function watchStdin() {
  const node = Object.getOwnPropertyDescriptor(process, 'stdin');
  Object.defineProperty(process, 'stdin', { configurable: true, enumerable: node.enumerable, get: () => nodeStdio(node) });
}

async function run() {
  const argv = process.argv.slice(2);
  const stdout = installDescriptorOutput('stdout', 1);
  const stderr = installDescriptorOutput('stderr', 2);
  watchStdin();
  const io = {
    stdout,
    stderr,
    // process.stdin is a getter that builds a stream (~6 ms): only commands that read it pay.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    processStdio: true,
  };
  const load = async (options) =>
    (process.env.CAIRN_DEBUG === '1' && existsSync(WHOLE_CLI) ? debugBundle() : loadCli(argv, options)) ??
    { ...(await import('../dist/cli/main.js')), saveCache: () => undefined };
  let cli = await load();
  try {
    process.exitCode = await cli.main(argv, io);
  } catch (err) {
    // A command's own script may lack the code for a rare command line (`diff IMAGE`): it says so
    // before doing anything, and the whole CLI runs the command line (cli/dispatch).
    if (!cli.isWholeCliRequired(err)) throw err;
    cli.saveCache();
    cli = await load({ whole: true });
    process.exitCode = await cli.main(argv, io);
  }
  cli.saveCache();
  // Done: the process ends without Node's teardown once nothing else is pending (sys/exit),
  // unless that teardown has stdio descriptors to put back.
  if (!stdioStreamBuilt) cli.exitWhenIdle();
}

void run();
