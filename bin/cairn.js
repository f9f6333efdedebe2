#!/usr/bin/env node
/**
 * The cairn command.
 *
 * It runs dist/cli/cairn.cjs, the whole CLI bundled into one script by scripts/bundle-cli.mjs,
 * compiled with V8's code cache (dist/cli/cairn.cjs.cache) so that V8 need not parse it: a
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
const { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const BUNDLE = path.join(__dirname, '..', 'dist', 'cli', 'cairn.cjs');
const CODE_CACHE = `${BUNDLE}.cache`;

/** The bundle's exports, and a function that saves a fresh code cache when the one on disk was not used. */
function loadBundle() {
  const source = readFileSync(BUNDLE, 'utf8');
  const { size, mtimeMs } = statSync(BUNDLE);
  const key = Buffer.from(`${size}:${mtimeMs}\n`);
  let cached;
  try {
    const file = readFileSync(CODE_CACHE);
    if (file.subarray(0, key.length).equals(key)) cached = file.subarray(key.length);
  } catch {
    // no cache yet
  }
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapper, { filename: BUNDLE, cachedData: cached });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(BUNDLE), module, BUNDLE, path.dirname(BUNDLE));
  const fresh = cached === undefined || script.cachedDataRejected === true;
  if (process.env.CAIRN_DEBUG === '1') process.stderr.write(`code cache: ${cached === undefined ? 'absent' : fresh ? 'rejected' : 'used'}\n`);
  const saveCache = () => {
    if (!fresh) return;
    const temp = `${CODE_CACHE}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, Buffer.concat([key, script.createCachedData()]));
      renameSync(temp, CODE_CACHE);
    } catch {
      // a read-only install runs without a cache, as it would without the bundle
      rmSync(temp, { force: true });
    }
  };
  return { main: module.exports.main, saveCache };
}

async function run() {
  const { main, saveCache } = existsSync(BUNDLE)
    ? loadBundle()
    : { main: (await import('../dist/cli/main.js')).main, saveCache: () => undefined };
  process.exitCode = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    // process.stdin is a getter that builds a stream (~6 ms): only commands that read it pay.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  });
  saveCache();
}

void run();
