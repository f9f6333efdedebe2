/**
 * Images saved by cairn work in the real tools: `podman load` takes the archive and the image
 * runs (`podman run --rm IMG true`), and `skopeo inspect docker-archive:FILE` reads it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairn } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { hermeticContainersEnv, skipWithoutTools } from '../support/tools.js';

describe.skipIf(skipWithoutFixtures('busybox/oci-umoci:3') || skipWithoutTools('podman', 'skopeo', 'runc'))('cairn save → podman load/run', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const podman = (...args: string[]) => spawnSync('podman', args, { env, encoding: 'utf8', timeout: 120_000 });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-podman-'));
    env = { ...process.env, ...hermeticContainersEnv(path.join(dir, 'containers')) };
  });
  afterAll(async () => {
    if (env) {
      podman('rm', '-af');
      podman('rmi', '-af');
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('loads in podman and runs', async () => {
    const store = path.join(dir, 'store');
    expect((await cairn(store, 'copy', transportRef(fixture('busybox/oci-umoci:3')), 'cairn/busybox:3')).status).toBe(0);
    const archive = path.join(dir, 'saved.tar');
    const save = await cairn(store, 'save', '-o', archive, 'cairn/busybox:3');
    expect(save.stderr).toBe('');

    const inspect = spawnSync('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8' });
    expect(inspect.status, inspect.stderr).toBe(0);
    const layers = (JSON.parse(inspect.stdout) as { Layers: string[] }).Layers;
    expect(layers).toEqual(fixture('busybox/oci-umoci:3').diffIds);

    const load = podman('load', '-i', archive);
    expect(load.status, load.stderr).toBe(0);
    expect(load.stdout).toContain('Loaded image: localhost/cairn/busybox:3');
    const id = podman('image', 'inspect', '--format', '{{.Id}}', 'localhost/cairn/busybox:3');
    expect(`sha256:${id.stdout.trim()}`).toBe(fixture('busybox/oci-umoci:3').configDigest);
    const run = podman('run', '--rm', 'localhost/cairn/busybox:3', 'sh', '-c', 'cat /etc/motd; test -L /data/link && echo linked');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('changed motd\nlinked\n');
  });
});
