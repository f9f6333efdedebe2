// The reader on real-world tars from ../shared/conformance (read in place, never copied):
// legacy docker layers, path collisions, PAX xattrs, Go<=1.7 prefix headers, "broken.tar",
// container-diff's tiny layers, and dive's docker-save / kaniko archives read as nested streams.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { conformancePath, hasShared } from '../support/shared.js';
import { decompressStream, listTar, scanLayer, tarEntries, type TarEntry } from '../../src/tar/index.js';

const run = promisify(execFile);

async function readAll(file: string): Promise<Array<{ entry: TarEntry; content: Buffer }>> {
  const out: Array<{ entry: TarEntry; content: Buffer }> = [];
  for await (const { entry, body } of tarEntries(createReadStream(file), { what: file })) {
    out.push({ entry, content: await buffer(body) });
  }
  return out;
}

function clean(name: string): string {
  const c = name.replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/$/, '');
  return c === '' || c === '.' ? '.' : c;
}

const tarsum = (...p: string[]): string => conformancePath('moby/daemon/builder/remotecontext/internal/tarsum/testdata', ...p);

describe.skipIf(!hasShared)('conformance tars', () => {
  it('every plain tar: same names as GNU tar, contents = `tar -xO`, offsets slice the archive', async () => {
    const files = [
      tarsum('511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158/layer.tar'),
      tarsum('46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/layer.tar'),
      tarsum('xattr/layer.tar'),
      ...[0, 1, 2, 3].map((i) => tarsum(`collision/collision-${i}.tar`)),
      conformancePath('moby-go-archive/testdata/broken.tar'),
    ];
    const cd = conformancePath('container-diff/util/testTars');
    for (const name of await readdir(cd)) if (name.endsWith('.tar')) files.push(path.join(cd, name));
    for (const file of files) {
      const bytes = await readFile(file);
      const items = await readAll(file);
      const names = (await run('tar', ['-tf', file])).stdout.split('\n').filter((l) => l !== '');
      // GNU tar ignores the prefix of broken.tar's last header (USTAR magic, GNU version bytes);
      // Go's reader, which moby and containerd use, joins it. We follow Go.
      const expected = file.endsWith('broken.tar')
        ? names.map((n) => (n.startsWith('Plack::') ? `root/.cpanm/work/1395823785.24209/Plack-1.0030/blib/man3/${n}` : n))
        : names;
      expect(items.map((i) => i.entry.path), file).toEqual(expected.map(clean));
      const files = items.filter((i) => i.entry.type === 'file');
      const gnuOut = (await run('tar', ['-xOf', file], { encoding: 'buffer', maxBuffer: 1 << 26 })).stdout;
      expect(Buffer.concat(files.map((f) => f.content)).equals(gnuOut), file).toBe(true);
      for (const { entry, content } of files) {
        expect(bytes.subarray(entry.offset, entry.offset + entry.size).equals(content), `${file} ${entry.path}`).toBe(true);
      }
    }
  });

  it('moby scratch layer: only the root `./`, reported as `.`', async () => {
    const items = await readAll(tarsum('511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158/layer.tar'));
    expect(items.map((i) => i.entry)).toMatchObject([
      { path: '.', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: new Date('2013-06-13T21:03:25Z') },
    ]);
  });

  it('moby busybox layer: absolute symlink targets stay verbatim', async () => {
    const items = await readAll(tarsum('46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/layer.tar'));
    const link = (p: string): string | undefined => items.find((i) => i.entry.path === p)?.entry.linkname;
    expect(link('dev/core')).toBe('/proc/kcore');
    expect(link('dev/stdout')).toBe('/proc/self/fd/1');
    expect(link('dev/ptmx')).toBe('pts/ptmx');
  });

  it('moby xattr layer: binary security.capability from a PAX record', async () => {
    const items = await readAll(tarsum('xattr/layer.tar'));
    expect(items).toHaveLength(1);
    const cap = items[0]?.entry.xattrs['security.capability'];
    expect(cap).toEqual(Buffer.from([0x01, 0x00, 0x00, 0x02, 0xc0, ...Array<number>(15).fill(0)]));
  });

  it('moby collisions: duplicates reported in archive order (the applier keeps the last)', async () => {
    const contents = async (i: number): Promise<string[]> =>
      (await readAll(tarsum(`collision/collision-${i}.tar`))).map((x) => `${x.entry.path}:${x.content.toString()}`);
    expect(await contents(0)).toEqual(['file:farts\n', 'file:HOWDY\n']);
    expect(await contents(1)).toEqual(['file:HOWDY\n', 'file:farts\n']);
    expect((await contents(0)).at(-1)).toBe((await contents(2)).at(-1));
    expect((await contents(1)).at(-1)).toBe((await contents(3)).at(-1));
  });

  it('containerd prefix-header.tar.gz: Go<=1.7 prefix reassembled, base-256 uid', async () => {
    const file = conformancePath('containerd/fixtures/prefix-header.tar.gz');
    const { compression, stream } = await decompressStream(createReadStream(file), { what: file });
    expect(compression).toBe('gzip');
    const entries = await listTar(stream, { what: file });
    expect(entries).toMatchObject([{ path: `${'a'.repeat(97)}/foo`, type: 'file', uid: 2_097_152, size: 0 }]);
  });

  it('moby-go-archive broken.tar: iterates without error (GNU huge uid + long names)', async () => {
    const items = await readAll(conformancePath('moby-go-archive/testdata/broken.tar'));
    const plack = items.find(
      (i) => i.entry.path === 'root/.cpanm/work/1395823785.24209/Plack-1.0030/blib/man3/Plack::Middleware::LighttpdScriptNameFix.3pm',
    );
    expect(plack?.entry).toMatchObject({ type: 'file', size: 6149 });
    expect(items.find((i) => i.entry.path.endsWith('File-Find-Rule-0.33/META.yml'))?.entry.uid).toBe(831_580_115);
  });

  it('container-diff la-croix-wh.tar: whiteouts are ordinary entries here; owner names kept', async () => {
    const items = await readAll(conformancePath('container-diff/util/testTars/la-croix-wh.tar'));
    expect(items.map((i) => i.entry.path)).toEqual(['nest2', '.wh.lime.txt', '.wh.nest', 'nest2/hello']);
    expect(items[0]?.entry).toMatchObject({ uname: 'atisdale', gname: 'nonconf' });
  });

  it('dive docker-save: each layer.tar streamed from the outer tar gives its diff_id and entry counts', async () => {
    const file = conformancePath('dive/.data/test-docker-image.tar');
    const layers = new Map<string, { diffId: string; entries: TarEntry[] }>();
    const json = new Map<string, string>();
    for await (const { entry, body } of tarEntries(createReadStream(file), { what: file })) {
      if (entry.path.endsWith('/layer.tar')) {
        const scanned = await scanLayer(body, { what: entry.path, consume: (tar) => listTar(tar, { what: entry.path }) });
        expect(scanned.compression).toBe('none');
        expect(scanned.size).toBe(entry.size);
        expect(scanned.digest).toBe(scanned.diffId);
        layers.set(entry.path, { diffId: scanned.diffId, entries: scanned.value ?? [] });
      } else if (entry.path.endsWith('.json')) {
        json.set(entry.path, (await buffer(body)).toString());
      }
    }
    const [manifest] = JSON.parse(json.get('manifest.json') ?? '[]') as Array<{ Config: string; Layers: string[] }>;
    const config = JSON.parse(json.get(manifest?.Config ?? '') ?? '{}') as { rootfs: { diff_ids: string[] } };
    expect(manifest?.Layers.map((l) => layers.get(l)?.diffId)).toEqual(config.rootfs.diff_ids);
    const first = layers.get(manifest?.Layers[0] ?? '')?.entries ?? [];
    const count = (t: string): number => first.filter((e) => e.type === t).length;
    expect([first.length, count('file'), count('directory'), count('hardlink')]).toEqual([415, 6, 17, 392]);
    expect(first.find((e) => e.path === 'bin/acpid')).toMatchObject({ type: 'hardlink', linkname: 'bin/[' });
    const layer7 = layers.get(manifest?.Layers[7] ?? '')?.entries.map((e) => e.path);
    expect(layer7).toEqual(['root', 'root/example', 'root/example/.wh.somefile3.txt', 'root/saved.txt']);
    const layer9 = layers.get(manifest?.Layers[9] ?? '')?.entries.map((e) => e.path);
    expect(layer9).toEqual(['root', 'root/.wh.example']);
  });

  it('dive kaniko archive: gzip layers digest to their file names, diffIDs match the config', async () => {
    const file = conformancePath('dive/.data/test-kaniko-image.tar');
    const results = new Map<string, { digest: string; diffId: string; compression: string }>();
    const blobs = new Map<string, Buffer>();
    for await (const { entry, body } of tarEntries(createReadStream(file), { what: file })) {
      if (entry.path.endsWith('.tar.gz')) results.set(entry.path, await scanLayer(body, { what: entry.path }));
      else blobs.set(entry.path, await buffer(body));
    }
    const [manifest] = JSON.parse(blobs.get('manifest.json')?.toString() ?? '[]') as Array<{ Config: string; Layers: string[] }>;
    const config = JSON.parse(blobs.get(manifest?.Config ?? '')?.toString() ?? '{}') as { rootfs: { diff_ids: string[] } };
    expect(manifest?.Layers).toHaveLength(14);
    for (const [i, layer] of (manifest?.Layers ?? []).entries()) {
      const r = results.get(layer);
      expect(r?.compression).toBe('gzip');
      expect(r?.digest).toBe(`sha256:${layer.replace('.tar.gz', '')}`);
      expect(r?.diffId).toBe(config.rootfs.diff_ids[i]);
    }
  });
});

