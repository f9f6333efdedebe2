#!/usr/bin/env node
/**
 * The cairn command.
 *
 * Environment: CAIRN_DEBUG=1 prints stack traces (mapped to the TypeScript sources);
 * CAIRN_DEBUG=code-cache says whether this run's code cache was absent, rejected or used.
 *
 * It runs dist/cli/cairn.cjs, the whole CLI bundled into one script by scripts/bundle-cli.mjs,
 * compiled with a V8 code cache (dist/cli/cairn.cjs.COMMAND.cache) so that V8 need not parse it: a
 * command is a short process and most of its start would otherwise be module loading. The cache
 * is only a cache: V8 refuses one made by another Node version or with other flags, ours is tied
 * to the bundle's size and mtime, and whenever it is missing or refused this run writes a new one
 * (atomically, and only where it may write). Without a bundle (after a bare `tsc`) the ES modules
 * in dist/ run directly.
 *
 * This one file is CommonJS (bin/package.json says so): an ES module entry would start Node's
 * ES module loader and build module facades for node:fs and friends, which costs more than the
 * rest of a small command.
 */
'use strict';
const { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const BUNDLE = path.join(__dirname, '..', 'dist', 'cli', 'cairn.cjs');

/**
 * Each command has its own code cache, saved by its first run: it holds the functions that
 * command compiled, so a run deserialises only what it is likely to need (a cache of every
 * command's code costs more to load than it saves).
 */
function codeCachePath(argv) {
  // The command is the first argument after any global --store, as cli/main reads it; a name
  // this misreads only costs a cache miss.
  let i = 0;
  while (argv[i]?.startsWith('--store')) i += argv[i].includes('=') ? 1 : 2;
  const name = argv[i];
  return `${BUNDLE}.${name !== undefined && /^[a-z]{1,20}$/.test(name) ? name : 'other'}.cache`;
}

/** The bundle's exports, and a function that saves a fresh code cache when the one on disk was not used. */
function loadBundle(codeCache) {
  const source = readFileSync(BUNDLE, 'utf8');
  const { size, mtimeMs } = statSync(BUNDLE);
  const key = Buffer.from(`${size}:${mtimeMs}\n`);
  let cached;
  try {
    const file = readFileSync(codeCache);
    if (file.subarray(0, key.length).equals(key)) cached = file.subarray(key.length);
  } catch {
    // no cache yet
  }
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapper, { filename: BUNDLE, cachedData: cached });
  const module = { exports: {} };
  // This file's require finds the same packages as one beside the bundle would (both search the
  // package's node_modules), and needs no node:module.
  script.runInThisContext().call(module.exports, module.exports, require, module, BUNDLE, path.dirname(BUNDLE));
  const fresh = cached === undefined || script.cachedDataRejected === true;
  if (process.env.CAIRN_DEBUG === 'code-cache') process.stderr.write(`code cache: ${cached === undefined ? 'absent' : fresh ? 'rejected' : 'used'}\n`);
  const saveCache = () => {
    if (!fresh) return;
    const temp = `${codeCache}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, Buffer.concat([key, script.createCachedData()]));
      renameSync(temp, codeCache);
    } catch {
      // a read-only install runs without a cache, as it would without the bundle
      rmSync(temp, { force: true });
    }
  };
  return { main: module.exports.main, saveCache };
}

/**
 * CAIRN_DEBUG=1 prints stack traces. The bundle is minified; loaded as a plain CommonJS module,
 * with source maps on, its map turns them back into the TypeScript sources' names and lines.
 */
function debugBundle() {
  process.setSourceMapsEnabled(true);
  return { main: require(BUNDLE).main, saveCache: () => undefined };
}

/**
 * process.stdout and process.stderr are streams built on first use, from node:stream and node:net
 * or node:tty (~5 ms at the start of a command). Most commands write a few lines of text: until
 * something needs the stream itself (a pipe, a listener, isTTY), a string is written straight to
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
    if (stream !== undefined || typeof chunk !== 'string') return materialise().write(chunk, encoding, callback);
    let bytes = Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8');
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

async function run() {
  const { main, saveCache } = !existsSync(BUNDLE)
    ? { main: (await import('../dist/cli/main.js')).main, saveCache: () => undefined }
    : process.env.CAIRN_DEBUG === '1'
      ? debugBundle()
      : loadBundle(codeCachePath(process.argv.slice(2)));
  process.exitCode = await main(process.argv.slice(2), {
    stdout: descriptorOutput(1, () => process.stdout),
    stderr: descriptorOutput(2, () => process.stderr),
    // process.stdin is a getter that builds a stream (~6 ms): only commands that read it pay.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    processStdio: true,
  });
  saveCache();
}

void run();
