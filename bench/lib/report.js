/**
 * Results as markdown: one section per benchmark run, written to
 * `bench/results/<YYYY-MM-DD>-<name>.md` and merged into `bench/results/latest.md` (which keeps
 * the last section of every benchmark, between `<!-- bench:NAME -->` markers).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { collect, summarize } from './measure.js';

/** @typedef {import('./types.js').Sample} Sample */
/** @typedef {import('./types.js').Target} Target */

/**
 * @typedef {object} CaseResult
 * @property {string} label
 * @property {'process' | 'function'} kind
 * @property {boolean} baseline
 * @property {Sample[]} samples
 */

/**
 * @typedef {object} BenchResult
 * @property {string} name
 * @property {string} title
 * @property {string} description
 * @property {CaseResult[]} cases
 * @property {readonly Target[]} targets
 * @property {{runs: number, warmup: number, rss: string, started: Date, loadBefore: number, versions: string[]}} meta
 */

/**
 * Facts about the machine and checkout, for the results header.
 * @param {string} root
 */
export async function environment(root) {
  const git = async (/** @type {string[]} */ ...args) => (await collect('git', ['-C', root, ...args]).catch(() => ({ stdout: '' }))).stdout.trim();
  const commit = await git('rev-parse', '--short', 'HEAD');
  const dirty = (await git('status', '--porcelain', '--untracked-files=no')) !== '';
  const cpus = os.cpus();
  return {
    commit: commit === '' ? 'unknown' : `${commit}${dirty ? ' (uncommitted changes)' : ''}`,
    node: process.version,
    cpu: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}`,
    kernel: `${os.type()} ${os.release()}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  };
}

/** @param {number} s */
const sec = (s) => (Number.isFinite(s) ? s.toFixed(3) : '–');
/** @param {number} kib */
const mib = (kib) => (Number.isFinite(kib) && kib > 0 ? (kib / 1024).toFixed(1) : '–');
/** @param {number} r */
const ratio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–');

/** @param {CaseResult} c */
function stats(c) {
  return {
    time: summarize(c.samples.map((s) => s.seconds)),
    rss: summarize(c.samples.map((s) => s.maxRssKiB)),
    cpu: summarize(c.samples.map((s) => s.cpuSeconds)),
  };
}

/**
 * Target verdicts, as markdown list lines, and whether all were met.
 * @param {BenchResult} r
 */
export function checkTargets(r) {
  /** @param {string} label */
  const find = (label) => {
    const c = r.cases.find((x) => x.label === label);
    if (c === undefined) throw new Error(`${r.name}: a target names no case "${label}"`);
    return stats(c);
  };
  /** @type {string[]} */
  const lines = [];
  let ok = true;
  for (const t of r.targets) {
    const s = find(t.case);
    if ((t.maxRatio !== undefined || t.minRatio !== undefined) && t.vs !== undefined) {
      const got = s.time.median / find(t.vs).time.median;
      const pass = got <= (t.maxRatio ?? Infinity) && got >= (t.minRatio ?? 0);
      ok &&= pass;
      const bound = t.minRatio === undefined ? `≤ ${t.maxRatio}×` : t.maxRatio === undefined ? `≥ ${t.minRatio}×` : `within ${t.minRatio}–${t.maxRatio}×`;
      lines.push(`- ${pass ? 'PASS' : 'MISS'} — ${t.case} / ${t.vs} wall time ${bound}: **${ratio(got)}**`);
    }
    if (t.maxMs !== undefined) {
      const got = s.time.median * 1000;
      const pass = got < t.maxMs;
      ok &&= pass;
      lines.push(`- ${pass ? 'PASS' : 'MISS'} — ${t.case} median wall time < ${t.maxMs} ms: **${got.toFixed(1)} ms**`);
    }
    if (t.maxRssMiB !== undefined) {
      const got = s.rss.median / 1024;
      const pass = got < t.maxRssMiB;
      ok &&= pass;
      lines.push(`- ${pass ? 'PASS' : 'MISS'} — ${t.case} peak RSS < ${t.maxRssMiB} MiB: **${got.toFixed(1)} MiB**`);
    }
  }
  return { lines, ok };
}

/**
 * @param {BenchResult} r
 * @param {Awaited<ReturnType<typeof environment>>} env
 */
export function toMarkdown(r, env) {
  const baselines = r.cases.filter((c) => c.baseline);
  const all = r.cases.map((c) => ({ c, s: stats(c) }));
  const head = ['Case', 'Median (s)', 'Min (s)', 'Max (s)', ...baselines.map((b) => `× ${b.label}`), 'CPU median (s)', 'Peak RSS median (MiB)', 'Peak RSS max (MiB)'];
  const rows = all.map(({ c, s }) => [
    c.kind === 'function' ? `${c.label} ¹` : c.label,
    sec(s.time.median),
    sec(s.time.min),
    sec(s.time.max),
    ...baselines.map((b) => ratio(s.time.median / stats(b).time.median)),
    sec(s.cpu.median),
    mib(s.rss.median),
    mib(s.rss.max),
  ]);
  const table = [head, head.map((_, i) => (i === 0 ? '---' : '---:')), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  const { lines } = checkTargets(r);
  const when = r.meta.started.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const load = `load average ${r.meta.loadBefore.toFixed(2)} before, ${(os.loadavg()[0] ?? NaN).toFixed(2)} after`;
  const hasFn = r.cases.some((c) => c.kind === 'function');
  return [
    `## ${r.name} — ${r.title}`,
    '',
    `${when} · commit ${env.commit} · Node ${env.node} · ${env.cpu} · ${env.memory} · ${env.kernel} · ${load} (1 min)`,
    ...(r.meta.versions.length > 0 ? ['', `Tools: ${r.meta.versions.join(' · ')}`] : []),
    '',
    `${r.meta.runs} measured runs per case after ${r.meta.warmup} warm-up run(s), cases interleaved; page cache warm; ` +
      `whole processes run with NODE_EXTRA_CA_CERTS unset; peak RSS from ${r.meta.rss}. Ratios are of median wall times; ` +
      `CPU is user + system time, less sensitive than wall time to other load on the machine.`,
    ...(r.description !== '' ? ['', r.description] : []),
    '',
    table,
    ...(hasFn
      ? ['', '¹ In-process library call: timed inside a fresh Node process after its imports, so process start and module loading are excluded; peak RSS is that whole process\'s.']
      : []),
    ...(lines.length > 0 ? ['', 'Targets:', '', ...lines] : []),
    '',
  ].join('\n');
}

/**
 * Writes the section to `<dir>/<date>-<name>.md` and merges it into `<dir>/latest.md`.
 * @param {string} dir
 * @param {string} name
 * @param {Date} started
 * @param {string} section
 * @returns {Promise<string[]>} the files written
 */
export async function writeResults(dir, name, started, section) {
  await mkdir(dir, { recursive: true });
  const dated = join(dir, `${started.toISOString().slice(0, 10)}-${name}.md`);
  await atomicWrite(dated, `# cairn benchmark: ${name}\n\n${section}`);
  const latest = join(dir, 'latest.md');
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const block = `${open}\n${section}${close}\n`;
  let text = await readFile(latest, 'utf8').catch(() => '');
  if (text === '') {
    text = '# cairn benchmarks: latest results\n\nWritten by `npm run bench`; each section is the last run of that benchmark. See spec-notes/benchmarks.md.\n\n';
  }
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  text = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + close.length + 1) : `${text}${text.endsWith('\n\n') ? '' : '\n'}${block}`;
  await atomicWrite(latest, text);
  return [dated, latest];
}

/**
 * @param {string} file
 * @param {string} text
 */
async function atomicWrite(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}
