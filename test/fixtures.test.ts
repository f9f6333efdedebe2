/**
 * The fixture set is what manifest.json says it is, the reproducible images rebuild to the same
 * digests, and the registry helper starts and stops cleanly.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { BUSYBOX_LAYOUT_IMAGES, fixtures, fixture, loadFixtures, skipWithoutFixtures, transportRef, type FixtureImage } from './support/fixtures.js';
import { REPO_ROOT, hermeticContainersEnv, skipWithoutTools, startRegistry } from './support/tools.js';

const run = promisify(execFile);
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobPath = (layout: string, digest: string): string => path.join(layout, 'blobs', ...digest.split(':'));
const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

const EXPECTED = [
  ...BUSYBOX_LAYOUT_IMAGES,
  'busybox/oci-archive:3',
  'busybox/docker-archive:3',
  'busybox/dir-v2s2:3',
  'busybox/oci-index:1',
];
const UMOCI = ['busybox/oci-umoci:1', 'busybox/oci-umoci:2', 'busybox/oci-umoci:3', 'busybox/oci-umoci-insert:1'];

const noFixtures = skipWithoutFixtures(...EXPECTED);
const images = fixtures().set ? Object.values(fixtures().set!.images) : [];

/** Checks a blob exists with its digest and returns its bytes. */
function blob(layout: string, digest: string): Buffer {
  const bytes = readFileSync(blobPath(layout, digest));
  expect(sha256(bytes)).toBe(digest);
  return bytes;
}

/** Checks an OCI layout holds `img` under its ref, with every blob present and intact. */
function checkLayout(layout: string, img: FixtureImage): void {
  expect(readJson(path.join(layout, 'oci-layout'))).toEqual({ imageLayoutVersion: '1.0.0' });
  const index = readJson<{ manifests: Descriptor[] }>(path.join(layout, 'index.json'));
  const desc = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === img.ref);
  expect(desc, `ref ${img.ref} in ${layout}/index.json`).toBeDefined();
  expect(desc!.digest).toBe(img.manifestDigest);
  const manifest = JSON.parse(blob(layout, desc!.digest).toString()) as {
    config?: Descriptor;
    layers?: Descriptor[];
    manifests?: Descriptor[];
  };
  if (img.configDigest === null) {
    expect(manifest.manifests?.map((d) => d.digest)).toEqual(img.manifests?.map((d) => d.digest));
    for (const d of manifest.manifests!) blob(layout, d.digest);
    return;
  }
  expect(manifest.config!.digest).toBe(img.configDigest);
  const config = JSON.parse(blob(layout, img.configDigest).toString()) as { rootfs: { diff_ids: string[] } };
  expect(config.rootfs.diff_ids).toEqual(img.diffIds);
  expect(manifest.layers!.map((l) => l.digest)).toEqual(img.layers);
  for (const l of manifest.layers!) expect(existsSync(blobPath(layout, l.digest)), l.digest).toBe(true);
}

describe.skipIf(noFixtures)('fixture set', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'cairn-fixtures-test-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('lists every expected image', () => {
    expect(Object.keys(fixtures().set!.images)).toEqual(expect.arrayContaining(EXPECTED));
    expect(existsSync(path.join(fixtures().set!.rootfs.busybox, 'bin', 'busybox'))).toBe(true);
  });

  it.each(images.map((img) => [img.name, img] as const))('%s is what manifest.json says', async (_name, img) => {
    switch (img.kind) {
      case 'oci':
        checkLayout(img.path, img);
        break;
      case 'oci-archive': {
        const dir = mkdtempSync(path.join(scratch, 'oci-archive-'));
        await run('tar', ['-xf', img.path, '-C', dir]);
        checkLayout(dir, img);
        break;
      }
      case 'docker-archive': {
        const dir = mkdtempSync(path.join(scratch, 'docker-archive-'));
        await run('tar', ['-xf', img.path, '-C', dir]);
        const [m] = readJson<{ Config: string; RepoTags: string[]; Layers: string[] }[]>(path.join(dir, 'manifest.json'));
        expect(m!.RepoTags).toContain(img.ref);
        expect(sha256(readFileSync(path.join(dir, m!.Config)))).toBe(img.configDigest);
        expect(m!.Layers.map((l) => sha256(readFileSync(path.join(dir, l))))).toEqual(img.layers);
        break;
      }
      case 'dir': {
        const bytes = readFileSync(path.join(img.path, 'manifest.json'));
        expect(sha256(bytes)).toBe(img.manifestDigest);
        const m = JSON.parse(bytes.toString()) as { config: Descriptor; layers: Descriptor[] };
        expect(m.config.digest).toBe(img.configDigest);
        for (const d of [m.config, ...m.layers]) {
          expect(sha256(readFileSync(path.join(img.path, d.digest.split(':')[1]!)))).toBe(d.digest);
        }
        break;
      }
    }
  });

  it.skipIf(skipWithoutTools('oci-image-tool'))('oci-image-tool validates every OCI layout', async () => {
    const layouts = [...new Set(images.filter((i) => i.kind === 'oci').map((i) => i.path))];
    for (const layout of layouts) {
      const r = await run('oci-image-tool', ['validate', '--type', 'image', layout]).then(
        (o) => ({ ok: true, out: o.stdout + o.stderr }),
        (e: { stdout: string; stderr: string }) => ({ ok: false, out: e.stdout + e.stderr }),
      );
      // Debian's oci-image-tool 1.0.0-rc1 predates image-spec 1.1's zstd media type.
      if (!r.ok && layout.endsWith('oci-zstd')) expect(r.out).toContain('tar+zstd');
      else expect(r.ok, `${layout}: ${r.out}`).toBe(true);
    }
  });

  it('the index has two platforms', () => {
    const idx = fixture('busybox/oci-index:1');
    expect(idx.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(idx.manifests!.map((m) => m.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    expect(idx.manifests!.map((m) => m.digest)).toEqual([
      fixture('busybox/oci-umoci:1').manifestDigest,
      fixture('busybox/oci-umoci:3').manifestDigest,
    ]);
  });

  it('skopeo variants share the config of oci-umoci:3', () => {
    const config = fixture('busybox/oci-umoci:3').configDigest;
    for (const n of ['oci-zstd:3', 'oci-uncompressed:3', 'oci-archive:3', 'docker-archive:3', 'dir-v2s2:3']) {
      expect(fixture(`busybox/${n}`).configDigest, n).toBe(config);
    }
  });

  it('the umoci insert layer has no end-of-archive blocks (the quirk it exists for)', () => {
    const img = fixture('busybox/oci-umoci-insert:1');
    const tar = gunzipSync(readFileSync(blobPath(img.path, img.layers[0]!)));
    expect(tar.length % 512).toBe(0);
    expect(tar.subarray(-1024).some((b) => b !== 0)).toBe(true);
  });

  it.skipIf(skipWithoutTools('umoci', 'jq') || process.getuid?.() !== 0)(
    'a second build gives the umoci images the same digests',
    async () => {
      const again = path.join(scratch, 'again');
      await run('bash', [path.join(REPO_ROOT, 'scripts', 'build-fixtures'), '--umoci-only', again]);
      const second = loadFixtures(again).images;
      for (const name of UMOCI) {
        const a = fixture(name);
        const b = second[name]!;
        expect(a.reproducible).toBe(true);
        expect([b.manifestDigest, b.configDigest, b.layers], name).toEqual([a.manifestDigest, a.configDigest, a.layers]);
      }
    },
  );
});

describe.skipIf(skipWithoutFixtures('debian/oci-umoci:bookworm', 'debian/oci-umoci:bookworm-v2'))('Debian fixtures', () => {
  it('bookworm-v2 is bookworm plus one layer: a changed file and a deleted directory', async () => {
    const v1 = fixture('debian/oci-umoci:bookworm');
    const v2 = fixture('debian/oci-umoci:bookworm-v2');
    expect(v2.layers.slice(0, -1)).toEqual(v1.layers);
    const { stdout } = await run('tar', ['-tzf', blobPath(v2.path, v2.layers.at(-1)!)]);
    const entries = stdout.split('\n').filter((l) => l && !l.endsWith('/'));
    expect(entries.sort()).toEqual(['etc/debian_version', 'usr/share/doc/.wh.bash']);
  });
});

describe.skipIf(skipWithoutTools('docker-registry'))('startRegistry', () => {
  it('serves /v2/ and stops cleanly, twice', async () => {
    const reg = await startRegistry();
    try {
      const res = await fetch(`${reg.url}/v2/`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    } finally {
      await reg.stop();
    }
    await reg.stop();
    await expect(fetch(`${reg.url}/v2/`)).rejects.toThrow();
    expect(existsSync(reg.dataDir)).toBe(false);
  });

  it.skipIf(skipWithoutTools('skopeo') || skipWithoutFixtures('busybox/oci-umoci:3'))(
    'takes a push from skopeo run with hermeticContainersEnv',
    async () => {
      const img = fixture('busybox/oci-umoci:3');
      const dir = mkdtempSync(path.join(tmpdir(), 'cairn-containers-'));
      const reg = await startRegistry();
      try {
        const env = { ...process.env, ...hermeticContainersEnv(dir) };
        expect(env.CONTAINERS_CONF).toBe(path.join(dir, 'containers.conf'));
        await run('skopeo', ['--tmpdir', env.TMPDIR!, 'copy', '-q', '--dest-tls-verify=false', transportRef(img), `docker://${reg.host}/busybox:3`], { env });
        const res = await fetch(`${reg.url}/v2/busybox/manifests/3`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        expect(res.headers.get('docker-content-digest')).toBe(img.manifestDigest);
      } finally {
        await reg.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
