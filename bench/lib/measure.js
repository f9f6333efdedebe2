/**
 * Measuring one run: whole processes through GNU time (wall time from spawn to exit taken here,
 * at nanosecond resolution; peak RSS is time's %M, the child's ru_maxrss; CPU is %U + %S), or, without
 * /usr/bin/time, by polling the child's VmHWM in /proc. Library calls run in a fresh Node
 * process (fn-child.js) that times only the call and reports its own ru_maxrss.
 */
import { spawn } from 'node:child_process';
import { access, readFile, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** @typedef {import('./types.js').Sample} Sample */

export const GNU_TIME = '/usr/bin/time';
const FN_CHILD = fileURLToPath(new URL('./fn-child.js', import.meta.url));

/**
 * The environment for measured processes: this one without NODE_EXTRA_CA_CERTS (it adds ~0.06 s
 * to every node start here) and NODE_OPTIONS.
 * @param {Readonly<Record<string, string>>} [extra]
 * @returns {NodeJS.ProcessEnv}
 */
export function benchEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

/** @returns {Promise<boolean>} whether GNU time is there and reports %M. */
export async function haveGnuTime() {
  try {
    await access(GNU_TIME, constants.X_OK);
    const { code, stderr } = await collect(GNU_TIME, ['-f', '%M %U %S', 'true'], benchEnv());
    return code === 0 && /^\d+ [\d.]+ [\d.]+\s*$/.test(stderr);
  } catch {
    return false;
  }
}

/**
 * Runs a command to completion and collects its output (not measured).
 * @param {string} program
 * @param {readonly string[]} args
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {Promise<{code: number | null, stdout: string, stderr: string}>}
 */
export function collect(program, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Spawns argv, waits for it, and returns wall seconds plus what it wrote to stdout and stderr.
 * @param {readonly string[]} argv
 * @param {NodeJS.ProcessEnv} env
 * @param {(pid: number) => void} [onSpawn]
 */
function timed(argv, env, onSpawn) {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error('empty command');
  return new Promise(
    /** @param {(r: {seconds: number, code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string}) => void} resolve */
    (resolve, reject) => {
      const start = process.hrtime.bigint();
      const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d) => (stdout = (stdout + d).slice(-8192)));
      child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-8192)));
      child.on('error', reject);
      child.on('exit', () => {
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        child.on('close', (code, signal) => resolve({ seconds, code, signal, stdout, stderr }));
      });
      if (child.pid !== undefined) onSpawn?.(child.pid);
    },
  );
}

/**
 * Measures one whole-process run.
 * @param {readonly string[]} argv
 * @param {NodeJS.ProcessEnv} env
 * @param {{gnuTime: boolean, tmpDir: string}} how
 * @returns {Promise<Sample>}
 */
export async function measureProcess(argv, env, how) {
  if (how.gnuTime) {
    const out = join(how.tmpDir, `time-${process.pid}-${Date.now()}.txt`);
    const r = await timed([GNU_TIME, '-o', out, '-f', '%M %U %S', ...argv], env);
    const report = await readFile(out, 'utf8').catch(() => '');
    await rm(out, { force: true });
    if (r.code !== 0) throw failure(argv, r.code, r.signal, `${r.stderr}${report}`);
    // With -o, time writes only the format line (plus "Command exited…" lines on failure).
    const [kib, user, sys] = (report.trim().split('\n').pop() ?? '').split(' ').map(Number);
    if (kib === undefined || user === undefined || sys === undefined || ![kib, user, sys].every(Number.isFinite)) {
      throw new Error(`cannot read GNU time's output: ${JSON.stringify(report)}`);
    }
    return { seconds: r.seconds, maxRssKiB: kib, cpuSeconds: user + sys };
  }
  // Fallback: poll VmHWM (the kernel's own peak RSS of the process) until it exits. Misses
  // grandchildren and anything between the last poll and exit.
  let hwm = 0;
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const r = await timed(argv, env, (pid) => {
    const poll = () => {
      readFile(`/proc/${pid}/status`, 'utf8').then(
        (s) => {
          const m = /^VmHWM:\s+(\d+) kB/m.exec(s);
          if (m?.[1] !== undefined) hwm = Math.max(hwm, Number(m[1]));
        },
        () => {},
      );
    };
    poll();
    timer = setInterval(poll, 5);
  });
  clearInterval(timer);
  if (r.code !== 0) throw failure(argv, r.code, r.signal, r.stderr);
  return { seconds: r.seconds, maxRssKiB: hwm, cpuSeconds: NaN };
}

/**
 * Measures one library-call run in a fresh Node process.
 * @param {{moduleFile: string, label: string, stateFile: string, runDir: string, index: number}} c
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<Sample>}
 */
export async function measureFunction(c, env) {
  const argv = [process.execPath, FN_CHILD, c.moduleFile, c.label, c.stateFile, c.runDir, String(c.index)];
  const r = await timed(argv, env);
  if (r.code !== 0) throw failure(argv, r.code, r.signal, r.stderr);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  /** @type {{seconds: number, maxRssKiB: number, cpuSeconds: number}} */
  const sample = JSON.parse(line);
  return { seconds: sample.seconds, maxRssKiB: sample.maxRssKiB, cpuSeconds: sample.cpuSeconds };
}

/**
 * @param {readonly string[]} argv
 * @param {number | null} code
 * @param {NodeJS.Signals | null} signal
 * @param {string} stderr
 */
function failure(argv, code, signal, stderr) {
  const how = signal !== null ? `signal ${signal}` : `exit ${code}`;
  return new Error(`${argv.join(' ')}: ${how}\n${stderr.trim()}`);
}

/**
 * @param {readonly number[]} values
 * @returns {{median: number, min: number, max: number}}
 */
export function summarize(values) {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? /** @type {number} */ (s[mid]) : (/** @type {number} */ (s[mid - 1]) + /** @type {number} */ (s[mid])) / 2;
  return { median, min: /** @type {number} */ (s[0]), max: /** @type {number} */ (s[s.length - 1]) };
}
