/**
 * Benchmark "build-context" (issue Build, context digests): cached rebuilds of a context of
 * 2,000 files / 100 MB (random bytes, 40 directories) with `FROM scratch`, `COPY . /ctx/`,
 * `LABEL`. Every case ends with every step taken from the cache; what differs is how much of
 * the context cairn must read to know that:
 *
 * - nothing changed: the build memo answers from file metadata alone (build/memo);
 * - one file touched: the memo falls through, the step keys need every file's digest, and all
 *   but the touched one come from the saved context digests (build/context-digests);
 * - every file touched: every ctime moved, so every file is read and hashed again, as every
 *   cached rebuild did before the context digests (the baseline).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const FILES = 2000;
const DIRS = 40;
const FILE_SIZE = 50 * 1024;
const TAG = 'bench/context:latest';
const DOCKERFILE = 'FROM scratch\nCOPY . /ctx/\nLABEL bench=context\n';

/**
 * @typedef {object} State
 * @property {string} root
 * @property {string} store
 * @property {string} context
 * @property {string[]} files
 */

/** @param {State} s */
const cairnArgs = (s) => [process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'build', '-q', '-t', TAG, s.context];

/** @param {State} s */
async function verify(s) {
  const { stdout } = await run(process.execPath, [join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'history', TAG]);
  if (!stdout.includes('LABEL bench=context')) throw new Error(`unexpected history:\n${stdout}`);
}

/** @param {string[]} files */
async function touch(files) {
  const now = new Date();
  for (const file of files) await utimes(file, now, now);
}

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'build-context',
  title: 'cached rebuilds of a 2,000-file / 100 MB context: what cairn reads to know nothing changed',
  async setup(ctx) {
    const context = join(ctx.scratch, 'context');
    /** @type {string[]} */
    const files = [];
    for (let i = 0; i < FILES; i++) {
      const dir = join(context, `d${i % DIRS}`);
      await mkdir(dir, { recursive: true });
      const file = join(dir, `f${i}.bin`);
      await writeFile(file, randomBytes(FILE_SIZE));
      files.push(file);
    }
    await writeFile(join(context, 'Dockerfile'), DOCKERFILE);
    /** @type {State} */
    const state = { root: ctx.root, store: join(ctx.scratch, 'store'), context, files };
    // One build, untimed: the cache records and the context digests exist. Then a second one
    // after the racy margin, so the digests are trusted (a digest taken within a second of the
    // file's last change is not).
    const [bin, ...rest] = cairnArgs(state);
    await run(/** @type {string} */ (bin), rest);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await touch(files.slice(0, 1));
    await run(/** @type {string} */ (bin), rest);
    await ctx.warm([context, state.store]);
    return state;
  },
  describe() {
    return `Input: ${FILES} files of ${FILE_SIZE / 1024} KiB of random bytes in ${DIRS} directories, and the Dockerfile:\n\n\`\`\`\n${DOCKERFILE}\`\`\`\n\nBuilt once in setup (plus once more so the saved digests are past their racy margin). Touching sets atime and mtime to now, which moves the ctime.`;
  },
  cases: [
    {
      label: 'cairn build (nothing changed)',
      command: (s) => cairnArgs(s),
      verify: (s) => verify(s),
    },
    {
      label: 'cairn build (one file touched)',
      prepare: (s) => touch(s.files.slice(0, 1)),
      command: (s) => cairnArgs(s),
      verify: (s) => verify(s),
    },
    {
      label: 'cairn build (every file touched)',
      baseline: true,
      prepare: (s) => touch(s.files),
      command: (s) => cairnArgs(s),
      verify: (s) => verify(s),
    },
  ],
  targets: [{ case: 'cairn build (one file touched)', vs: 'cairn build (every file touched)', maxRatio: 0.7 }],
};
