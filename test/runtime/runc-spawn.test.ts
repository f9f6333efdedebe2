// runc started through the addon (sys/spawn) rather than child_process, under real runc on a
// copy of the busybox fixture rootfs: a runc binary that is missing, several MiB of output into
// a slow consumer (pause and resume through the supervisor's copy), and output an exec'd process
// leaves behind after `runc exec` itself has exited.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { exec, readState, runAttached } from '../../src/runtime/control.js';
import { startDetached } from '../../src/runtime/detach.js';
import { RuncRuntime } from '../../src/runtime/runc.js';
import { generateSpec } from '../../src/runtime/spec.js';
import { skipWithoutFixtures } from '../support/fixtures.js';
import { skipWithoutTools } from '../support/tools.js';
import { busyboxImage, busyboxRootfs, containerDir, requireBuiltRuntime, runcList, sink, teardownAll } from './harness.js';

afterEach(teardownAll);

/** A writable that takes one small chunk at a time, slowly: the copy must pause and resume. */
function slowSink(): { stream: Writable; bytes: () => Buffer; fullWrites: () => number } {
  const chunks: Buffer[] = [];
  let full = 0; // writes that filled the buffer: write() returned false, the copy paused
  const stream = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      if (chunk.length >= 1024) full++;
      setImmediate(cb);
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks), fullWrites: () => full };
}

describe('runc through the native spawn', () => {
  it('reports a runc binary that does not exist as unsupported, naming it, and records the failed start', async () => {
    const dir = await containerDir();
    const spec = await generateSpec(busyboxImage(), { rootfs: '/nonexistent', args: ['true'] });
    const err = await runAttached({ containerDir: dir, spec, runtime: new RuncRuntime({ binary: 'cairn-no-such-runc' }), stdio: { stdout: sink().stream } }).catch(
      (e: unknown) => e,
    );
    expect(isCairnError(err, 'unsupported')).toBe(true);
    expect((err as Error).message).toBe('cairn-no-such-runc is not installed (not found on PATH)');
    expect(await readState(dir)).toMatchObject({ status: 'exited', exitCode: 127 });
  });

  describe.skipIf(skipWithoutTools('runc') || skipWithoutFixtures())('with runc', () => {
    beforeAll(() => requireBuiltRuntime());

    it('copies several MiB of output intact and in order into a slow consumer', async () => {
      // Printable, so that `cat` in the container and the comparison here see the same bytes.
      const big = randomBytes(3 * 1024 * 1024).toString('base64');
      const rootfs = await busyboxRootfs('page\n', { 'big.txt': big });
      const dir = await containerDir();
      const spec = await generateSpec(busyboxImage(), { rootfs, args: ['sh', '-c', 'cat /big.txt; echo done >&2'] });
      const out = slowSink();
      const err = sink();
      const status = await runAttached({ containerDir: dir, spec, stdio: { stdout: out.stream, stderr: err.stream } });
      expect(status).toBe(0);
      expect(err.text()).toBe('done\n');
      expect(out.bytes().toString('utf8') === big).toBe(true);
      expect(out.fullWrites()).toBeGreaterThan(0);
      expect(await runcList(dir)).toEqual([]);
    });

    it("delivers an exec'd process's output written after `runc exec` has exited", async () => {
      const rootfs = await busyboxRootfs();
      const dir = await containerDir();
      const spec = await generateSpec(busyboxImage(), { rootfs, args: ['sleep', '60'] });
      await startDetached({ containerDir: dir, spec });
      const out = sink();
      // The shell (the exec'd process) exits at once, and runc exec with it; the subshell keeps
      // the pipe and writes later. Only the end of the pipe ends the copy.
      const status = await exec(dir, { args: ['sh', '-c', '(sleep 0.3; echo late) & echo early'], stdio: { stdout: out.stream } });
      expect({ status, out: out.text() }).toEqual({ status: 0, out: 'early\nlate\n' });
      expect((await readdir(dir)).filter((f) => f.startsWith('exec-'))).toEqual([]);
    });

    it('removes the exec scratch files when the runc binary cannot be started', async () => {
      const rootfs = await busyboxRootfs();
      const dir = await containerDir();
      const spec = await generateSpec(busyboxImage(), { rootfs, args: ['sleep', '60'] });
      const state = await startDetached({ containerDir: dir, spec });
      const runtime = new RuncRuntime({ binary: 'cairn-no-such-runc' });
      const processFile = path.join(dir, 'exec-test.json');
      const err = await runtime
        .exec({
          id: state.id,
          stateDir: path.join(dir, 'runtime'),
          logFile: path.join(dir, 'exec-test.log'),
          pid: state.pid?.pid ?? 0,
          rootfs,
          process: spec.process,
          stdio: ['ignore', 'pipe', 'pipe'],
          processFile,
        })
        .catch((e: unknown) => e);
      expect(isCairnError(err, 'unsupported')).toBe(true);
      expect(existsSync(processFile)).toBe(false);
    });
  });
});
