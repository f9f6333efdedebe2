#!/usr/bin/env node
/**
 * cairn's benchmark harness (`npm run bench [-- OPTIONS] [NAME...]`). Every module in
 * bench/benchmarks/ default-exports a Benchmark (bench/lib/types.d.ts); this runs all of them,
 * or those named, and prints and writes a markdown table per benchmark. How it measures:
 * spec-notes/benchmarks.md.
 *
 *   --runs N      measured runs per case (default 5)
 *   --warmup N    untimed runs per case first (default 1)
 *   --no-write    print only; leave bench/results alone
 *   --strict      exit 1 when a target is missed
 *   --list        list the benchmarks and exit
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureFixtures, warm } from './lib/fixtures.js';
import { benchEnv, collect, haveGnuTime, measureFunction, measureProcess } from './lib/measure.js';
import { checkTargets, environment, toMarkdown, writeResults } from './lib/report.js';

/** @typedef {import('./lib/types.js').Benchmark<any>} AnyBenchmark */
/** @typedef {import('./lib/types.js').Case<any>} AnyCase */
/** @typedef {import('./lib/report.js').CaseResult} CaseResult */

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS = join(BENCH_DIR, 'results');
const SCRATCH = join(ROOT, '.cache', 'bench');
/**
 * Where finished scratch directories wait, deleted only when every benchmark is done. Deleting a
 * tree of thousands of inodes right before a timed run makes that run slower on an ext4 without
 * a journal (this VM's): for a minute or more the kernel's inode allocator skips inodes freed
 * that recently, and it rescans them for every new inode (`find_inode_bit` →
 * `recently_deleted`), so the run would pay for the previous run's cleanup. See
 * spec-notes/benchmarks.md, "Nothing deleted before a timed run".
 */
const TRASH = join(SCRATCH, '.trash');

/** @param {string} message */
const log = (message) => process.stderr.write(`bench: ${message}\n`);

/** @returns {Promise<{file: string, bench: AnyBenchmark}[]>} */
async function discover() {
  const dir = join(BENCH_DIR, 'benchmarks');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.js')).sort();
  const found = [];
  for (const f of files) {
    const file = join(dir, f);
    /** @type {{default?: AnyBenchmark}} */
    const mod = await import(pathToFileURL(file).href);
    const bench = mod.default;
    if (bench === undefined || typeof bench.name !== 'string' || !Array.isArray(bench.cases)) {
      throw new Error(`${file}: does not default-export a benchmark`);
    }
    const labels = new Set();
    for (const c of bench.cases) {
      if (labels.has(c.label)) throw new Error(`${file}: two cases labelled "${c.label}"`);
      labels.add(c.label);
    }
    found.push({ file, bench });
  }
  return found;
}

/** @param {string} s */
function positiveInt(s, zeroOk = false) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1)) throw new Error(`not a ${zeroOk ? 'non-negative' : 'positive'} integer: ${s}`);
  return n;
}

/**
 * Moves `dir` (if it exists) into TRASH under a new name: a rename, so no inode is freed now.
 * @param {string} dir
 */
async function discard(dir) {
  await mkdir(TRASH, { recursive: true });
  const to = join(TRASH, `${basename(dir)}-${process.pid}-${Date.now()}`);
  await rename(dir, to).catch((/** @type {NodeJS.ErrnoException} */ err) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Flushes dirty pages so one run's writeback does not land in the next run's time. */
async function sync() {
  await collect('sync', []);
}

/**
 * @param {{file: string, bench: AnyBenchmark}} entry
 * @param {{runs: number, warmup: number, gnuTime: boolean, write: boolean}} opts
 * @param {Awaited<ReturnType<typeof environment>>} env
 */
async function runBenchmark({ file, bench }, opts, env) {
  const started = new Date();
  const loadBefore = os.loadavg()[0] ?? NaN;
  const scratch = join(SCRATCH, bench.name);
  await discard(scratch); // left by an interrupted run
  await mkdir(scratch, { recursive: true });
  log(`${bench.name}: setup`);
  const state = await bench.setup({
    root: ROOT,
    scratch,
    fixtures: (o = {}) => ensureFixtures(ROOT, o, log),
    warm,
    log: (m) => log(`${bench.name}: ${m}`),
  });
  const stateFile = join(scratch, 'state.json');
  await writeFile(stateFile, JSON.stringify(state));
  const versions = [];
  for (const argv of bench.versions ?? []) {
    const [program, ...args] = argv;
    if (program === undefined) continue;
    const r = await collect(program, args).catch(() => ({ stdout: '', stderr: '' }));
    const line = `${r.stdout}\n${r.stderr}`.trim().split('\n')[0] ?? '';
    versions.push(line === '' ? `${program}: unknown version` : line);
  }

  /** @type {CaseResult[]} */
  const results = bench.cases.map((c) => ({ label: c.label, kind: 'fn' in c ? 'function' : 'process', baseline: c.baseline === true, samples: [] }));
  let runCounter = 0;
  // Every run gets a new directory, kept until the end (see TRASH): no run pays for another's
  // deletion.
  /** @param {AnyCase} c @param {number} index */
  const once = async (c, index) => {
    const dir = join(scratch, `run-${runCounter++}`);
    await mkdir(dir);
    const run = { dir, index };
    await c.prepare?.(state, run);
    await sync();
    const sample =
      'fn' in c
        ? await measureFunction({ moduleFile: file, label: c.label, stateFile, runDir: dir, index }, benchEnv())
        : await measureProcess(c.command(state, run), benchEnv(c.env), { gnuTime: opts.gnuTime, tmpDir: scratch });
    await c.verify?.(state, run);
    return sample;
  };

  try {
    for (let w = 0; w < opts.warmup; w++) {
      for (const c of bench.cases) {
        log(`${bench.name}: warm-up ${c.label}`);
        await once(c, -1);
      }
    }
    // Interleave cases and rotate their order each round, so background load and writeback
    // spread over all of them rather than landing on one.
    for (let r = 0; r < opts.runs; r++) {
      for (let k = 0; k < bench.cases.length; k++) {
        const i = (k + r) % bench.cases.length;
        const c = /** @type {AnyCase} */ (bench.cases[i]);
        const sample = await once(c, r);
        /** @type {CaseResult} */ (results[i]).samples.push(sample);
        log(`${bench.name}: run ${r + 1}/${opts.runs} ${c.label}: ${sample.seconds.toFixed(3)} s, ${(sample.maxRssKiB / 1024).toFixed(1)} MiB`);
      }
    }
  } finally {
    await bench.teardown?.(state);
  }
  const result = {
    name: bench.name,
    title: bench.title,
    description: bench.describe?.(state) ?? '',
    cases: results,
    targets: bench.targets ?? [],
    meta: { runs: opts.runs, warmup: opts.warmup, rss: opts.gnuTime ? 'GNU time %M (ru_maxrss)' : '/proc/PID/status VmHWM polled every 5 ms', started, loadBefore, versions },
  };
  const section = toMarkdown(result, env);
  process.stdout.write(`\n${section}\n`);
  if (opts.write) {
    const files = await writeResults(RESULTS, bench.name, started, section);
    log(`wrote ${files.map((f) => f.slice(ROOT.length + 1)).join(', ')}`);
  }
  await discard(scratch);
  return checkTargets(result).ok;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      'no-write': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const all = await discover();
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--runs N] [--warmup N] [--no-write] [--strict] [--list] [NAME...]\n');
    return 0;
  }
  if (values.list) {
    for (const { file, bench } of all) process.stdout.write(`${bench.name}\t${bench.title}\t(${basename(file)})\n`);
    return 0;
  }
  const unknown = positionals.filter((p) => !all.some((b) => b.bench.name === p));
  if (unknown.length > 0) {
    log(`no benchmark named ${unknown.join(', ')}; have: ${all.map((b) => b.bench.name).join(', ')}`);
    return 2;
  }
  const chosen = positionals.length === 0 ? all : all.filter((b) => positionals.includes(b.bench.name));
  const gnuTime = process.env.CAIRN_BENCH_NO_GNU_TIME !== '1' && (await haveGnuTime());
  if (!gnuTime) log('GNU time (/usr/bin/time) missing or disabled: peak RSS falls back to polling /proc/PID/status VmHWM (apt-get install time)');
  const opts = { runs: positiveInt(values.runs), warmup: positiveInt(values.warmup, true), gnuTime, write: !values['no-write'] };
  const env = await environment(ROOT);
  let ok = true;
  try {
    for (const entry of chosen) ok = (await runBenchmark(entry, opts, env)) && ok;
  } finally {
    log('deleting scratch directories');
    await rm(TRASH, { recursive: true, force: true });
  }
  if (!ok) log('some targets were missed (see above)');
  return values.strict && !ok ? 1 : 0;
}

process.exitCode = await main();
