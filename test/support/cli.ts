/**
 * Runs the cairn CLI in process with captured output (the CLI writes only to injected streams),
 * or as a real child process from dist/ when a test needs a separate process.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { REPO_ROOT } from './tools.js';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** What `cairn` gives, with stdout as the bytes written (`cat` of a binary file is not UTF-8). */
export interface CliBytesResult {
  status: number;
  stdout: Buffer;
  stderr: string;
}

/** `cairn --store STORE ARGS...` in this process. */
export async function cairn(store: string, ...args: string[]): Promise<CliResult> {
  const r = await cairnBytes(store, ...args);
  return { ...r, stdout: r.stdout.toString('utf8') };
}

/** `cairn --store STORE ARGS...` in this process, stdout kept as bytes. */
export async function cairnBytes(store: string, ...args: string[]): Promise<CliBytesResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const status = await main(['--store', store, ...args], {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env: { ...process.env, CAIRN_STORE: undefined },
  });
  return { status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}

/** `node bin/cairn.js ARGS...` as a child process (needs `npm run build`). */
export function cairnProcess(args: readonly string[], env: Record<string, string | undefined> = {}): CliResult {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'cairn.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
