// Children started by the addon (sys/spawn) against real processes (/bin/sh, cat, head): the
// error for a missing binary, exit codes and signal deaths, output that outlives the exit, pause
// and resume holding a writer back, an fd given as a slot, /dev/null for 'ignore', a new session,
// a closed watch still reaping, an unref'd child not holding node open, and several MiB of output
// arriving intact and in order on both pipes at once.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnChild, type ChildOptions, type ChildOutput, type NativeChild } from '../../src/sys/spawn.js';
import { removeDir, tempDir } from '../support/images.js';
import { REPO_ROOT } from '../support/tools.js';
import { thrown } from '../support/errors.js';

let dir: string;
const children: NativeChild[] = [];

beforeEach(async () => {
  dir = await tempDir('cairn-spawn-');
});

afterEach(async () => {
  // Killed, and no longer watched: the addon still reaps each when it dies.
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    child.close();
  }
  await removeDir(dir);
});

const PIPES: ChildOptions = { stdio: ['ignore', 'pipe', 'pipe'] };

/** Starts `sh -c script`, killed after the test whatever happens. */
function sh(script: string, opts: ChildOptions = PIPES): NativeChild {
  const child = spawnChild('/bin/sh', ['-c', script], opts);
  children.push(child);
  return child;
}

/** Everything `output` delivers until it closes. */
function collect(output: ChildOutput | null): Promise<Buffer> {
  if (!output) throw new Error('no pipe');
  const chunks: Buffer[] = [];
  output.on('data', (c) => chunks.push(c));
  return new Promise((resolve) => output.once('close', () => resolve(Buffer.concat(chunks))));
}

function exited(child: NativeChild): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
}

function closed(child: NativeChild): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
}

describe('spawnChild', () => {
  it('fails at once with ENOENT for a binary that does not exist, leaving no fd open', async () => {
    const before = (await import('node:fs')).readdirSync('/proc/self/fd').length;
    const err = thrown(() => spawnChild('cairn-no-such-binary', [], PIPES));
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'spawn', path: 'cairn-no-such-binary' });
    expect((await import('node:fs')).readdirSync('/proc/self/fd').length).toBe(before);
  });

  it('reports the exit code, and a signal death as the signal', async () => {
    const seven = sh('echo out; echo err >&2; exit 7');
    const [out, err, status] = await Promise.all([collect(seven.stdout), collect(seven.stderr), closed(seven)]);
    expect({ out: out.toString(), err: err.toString(), status }).toEqual({ out: 'out\n', err: 'err\n', status: [7, null] });
    expect(seven.exitCode).toBe(7);

    const killed = sh('kill -TERM $$; sleep 5');
    expect(await exited(killed)).toEqual([null, 'SIGTERM']);
    expect(killed.signalCode).toBe('SIGTERM');
    expect(killed.kill('SIGKILL')).toBe(false); // reaped: its pid is not ours to signal any more

    const sleeper = sh('exec sleep 30');
    expect(sleeper.kill('SIGKILL')).toBe(true);
    expect(await exited(sleeper)).toEqual([null, 'SIGKILL']);
  });

  it('gives the child default signal dispositions (node ignores SIGPIPE; an ignored signal would survive exec)', async () => {
    // SigIgn and SigBlk of the child itself: nothing ignored, nothing blocked.
    const child = sh('exec cat /proc/self/status');
    const status = (await collect(child.stdout)).toString();
    expect(status).toMatch(/^SigIgn:\s+0+$/m);
    expect(status).toMatch(/^SigBlk:\s+0+$/m);
  });

  it('keeps delivering output after the exit, until the last writer closes the pipe', async () => {
    const child = sh('(sleep 0.3; echo late) & echo early');
    const events: string[] = [];
    child.stdout?.on('data', (c) => events.push(`data ${c.toString().trim()}`));
    child.once('exit', (code) => events.push(`exit ${code}`));
    const done = new Promise<void>((resolve) => child.stdout?.once('close', () => resolve()));
    await closed(child);
    await done;
    expect(events).toEqual(['data early', 'exit 0', 'data late']);
  });

  it('pause stops reading (the writer blocks on the full pipe), resume delivers the rest in order', async () => {
    const size = 4 * 1024 * 1024;
    const child = sh(`head -c ${size} /dev/zero; echo finished >&2`);
    const out = child.stdout;
    if (!out) throw new Error('no pipe');
    let received = 0;
    let exitedYet = false;
    child.once('exit', () => (exitedYet = true));
    out.on('data', (c) => (received += c.length));
    const errText = collect(child.stderr);
    out.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const whilePaused = received;
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Nothing arrives while paused, and the writer cannot finish: the pipe and the queue are full.
    expect(received).toBe(whilePaused);
    expect(exitedYet).toBe(false);
    expect(out.closed).toBe(false);
    out.resume();
    await closed(child);
    expect(received).toBe(size);
    expect((await errText).toString()).toBe('finished\n');
  });

  it('writes to an fd given as a slot, reads /dev/null for ignore, inherits nothing else', async () => {
    const file = path.join(dir, 'out.txt');
    const fd = openSync(file, 'w');
    try {
      // stdin 'ignore' is /dev/null: cat ends at once; stdout is the file, stderr a pipe.
      const child = sh('cat; echo to-file; ls -l /proc/self/fd/0 >&2', { stdio: ['ignore', fd, 'pipe'] });
      const [err, status] = await Promise.all([collect(child.stderr), closed(child)]);
      expect(status).toEqual([0, null]);
      expect(err.toString()).toContain('-> /dev/null');
    } finally {
      closeSync(fd);
    }
    expect(await readFile(file, 'utf8')).toBe('to-file\n');
  });

  it('puts the child in a new session when detached', async () => {
    // Field 6 of /proc/<pid>/stat is the session id: the child's own pid when it leads one.
    const session = async (opts: ChildOptions): Promise<{ pid: number; sid: number }> => {
      const child = sh('cat /proc/self/stat', opts);
      const stat = (await collect(child.stdout)).toString();
      return { pid: child.pid, sid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) };
    };
    const own = await session({ ...PIPES, detached: true });
    expect(own.sid).toBe(own.pid);
    const shared = await session(PIPES);
    expect(shared.sid).not.toBe(shared.pid);
  });

  it('still reaps a child whose watch was closed: no zombie is left', async () => {
    const child = sh('exec sleep 0.2');
    child.close();
    // A zombie keeps its /proc entry (state Z) until reaped: the entry must go.
    const stat = (): Promise<string> => readFile(`/proc/${child.pid}/stat`, 'utf8').catch(() => 'reaped');
    for (let i = 0; i < 40 && (await stat()) !== 'reaped'; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await stat()).toBe('reaped');
  });

  it('lets an unref\'d child run on without holding the process open', async () => {
    // A node process of its own (the built module): it must exit while its child sleeps on.
    const script = `import { spawnChild } from ${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'dist', 'sys', 'spawn.js')).href)};
      const c = spawnChild('/bin/sleep', ['30'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.unref();
      console.log(c.pid);`;
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const started = Date.now();
    const node = spawnChild(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(node);
    const [out, status] = await Promise.all([collect(node.stdout), closed(node)]);
    const sleeper = Number(out.toString().trim());
    try {
      expect(status).toEqual([0, null]);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await readFile(`/proc/${sleeper}/cmdline`, 'utf8')).toBe('/bin/sleep\x0030\x00');
    } finally {
      process.kill(sleeper, 'SIGKILL');
    }
  });

  it('delivers several MiB on stdout and stderr at once, intact and in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6 * 1024 * 1024 }), fc.integer({ min: 1, max: 3 * 1024 * 1024 }), async (outSize, errSize) => {
        const outFile = path.join(dir, 'a');
        const errFile = path.join(dir, 'b');
        const a = randomBytes(outSize);
        const b = randomBytes(errSize);
        await writeFile(outFile, a);
        await writeFile(errFile, b);
        const child = sh(`cat ${outFile} & cat ${errFile} >&2; wait`);
        const [out, err, status] = await Promise.all([collect(child.stdout), collect(child.stderr), closed(child)]);
        expect(status).toEqual([0, null]);
        expect(out.equals(a)).toBe(true);
        expect(err.equals(b)).toBe(true);
      }),
      { numRuns: 6 },
    );
  });
});
