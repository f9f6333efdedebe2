/**
 * An image built by cairn works in podman: saved as a docker-archive it loads, keeps its
 * config, and runs (its RUN layer, its COPY layer, its ENV, WORKDIR and CMD all in effect).
 * An image with no layers (`FROM scratch` and config instructions, as docker builds it) is
 * listed, inspected and checked by cairn, and skopeo and podman read it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/builder.js';
import { readConfig } from '../../src/image/list.js';
import { resolveImage } from '../../src/image/resolve.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { cairn } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { hermeticContainersEnv, skipWithoutTools } from '../support/tools.js';

const BUSYBOX = 'busybox/oci-umoci:1';

describe.skipIf(process.getuid?.() !== 0 || skipWithoutFixtures(BUSYBOX) || skipWithoutTools('podman', 'runc'))('cairn build → docker-archive → podman', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const podman = (...args: string[]) => spawnSync('podman', args, { env, encoding: 'utf8', timeout: 120_000 });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-build-podman-'));
    env = { ...process.env, ...hermeticContainersEnv(path.join(dir, 'containers')) };
  });
  afterAll(async () => {
    if (env) {
      podman('rm', '-af');
      podman('system', 'reset', '-f');
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('loads in podman and runs with the built config', async () => {
    const storeDir = path.join(dir, 'store');
    const store = await Store.open(storeDir);
    await copy(transportRef(fixture(BUSYBOX)), 'busybox:latest', { store });
    const context = path.join(dir, 'context');
    await (await import('node:fs/promises')).mkdir(context);
    await writeFile(path.join(context, 'greeting.txt'), 'hello from the context\n');
    await writeFile(
      path.join(context, 'Dockerfile'),
      'FROM busybox\nRUN mkdir -p /srv && echo built > /srv/run.txt\nCOPY greeting.txt /srv/\nENV WHO=cairn\nWORKDIR /srv\nCMD ["sh", "-c", "cat run.txt greeting.txt; echo $WHO; pwd"]\n',
    );
    const result = await build(store, { contextDir: context, tags: ['cairn/built:1'] });

    const archive = path.join(dir, 'built.tar');
    const save = await cairn(storeDir, 'save', '-o', archive, 'cairn/built:1');
    expect(save.status, save.stderr).toBe(0);
    const load = podman('load', '-i', archive);
    expect(load.status, load.stderr).toBe(0);
    const id = podman('image', 'inspect', '--format', '{{.Id}}', 'localhost/cairn/built:1');
    expect(`sha256:${id.stdout.trim()}`).toBe(result.id);
    const run = podman('run', '--rm', '--network=none', 'localhost/cairn/built:1');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('built\nhello from the context\ncairn\n/srv\n');
  }, 180_000);

  it('FROM scratch with config instructions only: an image with no layers that skopeo and podman accept', async () => {
    const storeDir = path.join(dir, 'store-empty');
    const store = await Store.open(storeDir);
    const context = path.join(dir, 'context-empty');
    await (await import('node:fs/promises')).mkdir(context);
    await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCMD ["x"]\nLABEL a=b\n');
    const result = await build(store, { contextDir: context, tags: ['cairn/empty:1'] });
    const image = await resolveImage(store, 'cairn/empty:1');
    expect(image.manifest.layers).toEqual([]);
    const config = await readConfig(store, image);
    expect(config.rootfs.diff_ids).toEqual([]);
    expect(config.config).toMatchObject({ Cmd: ['x'], Labels: { a: 'b' } });
    expect(config.history?.map((h) => [h.created_by, h.empty_layer])).toEqual([
      ['/bin/sh -c #(nop)  CMD ["x"]', true],
      ['/bin/sh -c #(nop)  LABEL a=b', true],
    ]);
    const images = await cairn(storeDir, 'images');
    expect(images.stdout).toMatch(new RegExp(`^cairn/empty +1 +${result.id.slice(7, 19)} `, 'm'));
    const history = await cairn(storeDir, 'history', 'cairn/empty:1');
    expect(history.stdout.trim().split('\n')).toHaveLength(3);
    const inspect = await cairn(storeDir, 'inspect', 'cairn/empty:1');
    expect((JSON.parse(inspect.stdout) as { RootFS: unknown }[])[0]?.RootFS).toEqual({ Type: 'layers', Layers: [] });
    const fsck = await cairn(storeDir, 'fsck');
    expect([fsck.status, fsck.stderr]).toEqual([0, '']);
    // A rebuild adopts the cached (layerless) steps.
    const again = await build(store, { contextDir: context, tags: ['cairn/empty:1'], memo: false });
    expect([again.id, again.executed, again.cached]).toEqual([result.id, 0, 2]);

    const layout = spawnSync('skopeo', ['inspect', `oci:${storeDir}:cairn/empty:1`], { env, encoding: 'utf8' });
    expect(layout.status, layout.stderr).toBe(0);
    expect(JSON.parse(layout.stdout)).toMatchObject({ Layers: [], Labels: { a: 'b' } });
    const archive = path.join(dir, 'empty.tar');
    const save = await cairn(storeDir, 'save', '-o', archive, 'cairn/empty:1');
    expect(save.status, save.stderr).toBe(0);
    const skopeo = spawnSync('skopeo', ['inspect', `docker-archive:${archive}`], { env, encoding: 'utf8' });
    expect(skopeo.status, skopeo.stderr).toBe(0);
    expect(JSON.parse(skopeo.stdout)).toMatchObject({ Layers: [], Labels: { a: 'b' } });
    const load = podman('load', '-i', archive);
    expect(load.status, load.stderr).toBe(0);
    const id = podman('image', 'inspect', '--format', '{{.Id}} {{.Config.Cmd}}', 'localhost/cairn/empty:1');
    expect(id.stdout.trim()).toBe(`${result.id.slice(7)} [x]`);
  }, 120_000);
});
