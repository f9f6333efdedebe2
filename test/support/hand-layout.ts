/**
 * A one-layer OCI layout written by hand with GNU tar and gzip (not by cairn), for transport
 * tests that compare cairn's readers and writers with skopeo and podman on an input none of
 * them made; and `copyLayout`, which copies its image into any destination.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { MediaType } from '../../src/oci/index.js';
import { copyImage } from '../../src/transport/copy.js';
import { openOciLayoutSource } from '../../src/transport/oci-layout.js';
import type { ImageDestination } from '../../src/transport/types.js';

const run = promisify(execFile);
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface HandLayout {
  readonly layout: string;
  /** The config digest (the image ID). */
  readonly config: string;
  readonly diffId: string;
  readonly manifest: string;
}

/** Writes `dir/layout`: one image tagged `refName` whose layer holds `/etc/hello.txt`. */
export async function handLayout(dir: string, refName = 't'): Promise<HandLayout> {
  const tree = path.join(dir, 'tree');
  await mkdir(path.join(tree, 'etc'), { recursive: true });
  await writeFile(path.join(tree, 'etc', 'hello.txt'), 'hello from cairn\n');
  const tarFile = path.join(dir, 'layer.tar');
  await run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', tree, '-cf', tarFile, '.']);
  const tar = await readFile(tarFile);
  await run('gzip', ['-n', '-f', '-k', tarFile]);
  const gz = await readFile(`${tarFile}.gz`);
  const layout = path.join(dir, 'layout');
  await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  const put = async (bytes: Buffer): Promise<string> => {
    const digest = sha256(bytes);
    await writeFile(path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
    return digest;
  };
  const config = Buffer.from(
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      // A label with characters Go's JSON encoder escapes, so re-encoding would change the digest.
      config: { Cmd: ['/bin/sh'], Labels: { a: '<&>' } },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'tar' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: await put(config), size: config.length },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: await put(gz), size: gz.length }],
    }),
  );
  const digest = await put(manifest);
  await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MediaType.OciManifest, digest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': refName } }],
    }),
  );
  return { layout, config: sha256(config), diffId: sha256(tar), manifest: digest };
}

/** Copies the layout's image tagged `t` into a destination, then closes both ends. */
export async function copyLayout(layout: string, destination: ImageDestination, names: string[]): Promise<void> {
  const source = await openOciLayoutSource(layout, 't');
  try {
    await copyImage({ source, destination, names });
  } finally {
    await destination.close();
    await source.close();
  }
}
