/**
 * Runs one function case of a benchmark in this fresh process and prints
 * `{"seconds": …, "cpuSeconds": …, "maxRssKiB": …}` as its last stdout line. The benchmark module (and whatever
 * it imports statically) is loaded, and the case's `load` run, before the clock starts, so the time is the call's alone.
 *
 *   node bench/lib/fn-child.js MODULE_FILE CASE_LABEL STATE_JSON_FILE RUN_DIR RUN_INDEX
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

const [moduleFile, label, stateFile, runDir, index] = process.argv.slice(2);
if (moduleFile === undefined || label === undefined || stateFile === undefined || runDir === undefined || index === undefined) {
  process.stderr.write('usage: fn-child.js MODULE_FILE CASE_LABEL STATE_JSON_FILE RUN_DIR RUN_INDEX\n');
  process.exit(2);
}
/** @type {{default: import('./types.js').Benchmark<unknown>}} */
const mod = await import(pathToFileURL(moduleFile).href);
const found = mod.default.cases.find((c) => c.label === label);
if (found === undefined || !('fn' in found)) throw new Error(`${moduleFile}: no function case "${label}"`);
const state = JSON.parse(await readFile(stateFile, 'utf8'));

const run = { dir: runDir, index: Number(index) };
const loaded = await found.load?.(state, run);
const cpu0 = process.cpuUsage();
const start = process.hrtime.bigint();
await found.fn(state, run, loaded);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(`\n${JSON.stringify({ seconds, cpuSeconds, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
