/**
 * Pull and push against Debian's real `docker-registry` on 127.0.0.1, with skopeo as the
 * independent reader and writer: what cairn pushes, skopeo reads byte for byte, and what skopeo
 * pushes, cairn pulls with every digest unchanged.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { Store } from '../../src/store/store.js';
import { parseChallenge, findCredentials } from '../../src/transport/registry/auth.js';
import { parseRegistryReference } from '../../src/transport/registry/reference.js';
import { copy } from '../../src/transport/open.js';
import { pull, push } from '../../src/transport/pull-push.js';
import { cairn } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { removeDir, tempDir } from '../support/images.js';
import { skipWithoutTools, startRegistry, type Registry } from '../support/tools.js';

const run = promisify(execFile);
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let tmp: string;
beforeEach(async () => {
  tmp = await tempDir('cairn-registry-test-');
});
afterEach(async () => {
  await removeDir(tmp);
});

describe('registry references', () => {
  it('fills in docker defaults: Docker Hub, library/, latest', () => {
    expect(parseRegistryReference('busybox')).toEqual({ host: 'docker.io', endpoint: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' });
    expect(parseRegistryReference('127.0.0.1:5000/team/app:1')).toEqual({ host: '127.0.0.1:5000', endpoint: '127.0.0.1:5000', repository: 'team/app', tag: '1' });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseRegistryReference(`localhost/app@${digest}`)).toEqual({ host: 'localhost', endpoint: 'localhost', repository: 'app', digest });
  });

  it('rejects a bad reference, naming it', () => {
    expect(() => parseRegistryReference('127.0.0.1:5000/Bad:1')).toThrow(/"127.0.0.1:5000\/Bad:1".*"Bad"/);
  });

  it('parses Bearer and Basic challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    });
    expect(parseChallenge('Basic realm="cairn-test"')).toEqual({ scheme: 'basic', params: { realm: 'cairn-test' } });
  });

  it('finds credentials the way podman and docker store them, most specific key first', async () => {
    const podmanFile = path.join(tmp, 'auth.json');
    const dockerFile = path.join(tmp, 'config.json');
    const auth = (user: string) => Buffer.from(`${user}:pw:with:colons`).toString('base64');
    await writeFile(podmanFile, JSON.stringify({ auths: { 'r.example/team': { auth: auth('team') }, 'r.example': { auth: auth('host') } } }));
    await writeFile(dockerFile, JSON.stringify({ auths: { 'https://other.example': { auth: auth('docker') } } }));
    const files = [path.join(tmp, 'missing.json'), podmanFile, dockerFile];
    expect(await findCredentials('r.example', 'team/app', files)).toEqual({ username: 'team', password: 'pw:with:colons' });
    expect(await findCredentials('r.example', 'solo/app', files)).toEqual({ username: 'host', password: 'pw:with:colons' });
    expect(await findCredentials('other.example', 'x', files)).toEqual({ username: 'docker', password: 'pw:with:colons' });
    expect(await findCredentials('none.example', 'x', files)).toBeUndefined();
  });
});

describe.skipIf(skipWithoutTools('docker-registry', 'skopeo') || skipWithoutFixtures('busybox/oci-umoci:1', 'busybox/oci-index:1'))('with a real registry', () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const skopeo = (...args: string[]) => run('skopeo', ['--tmpdir', tmp, '--insecure-policy', ...args], { maxBuffer: 64 << 20 });
  const rawManifest = async (ref: string): Promise<Buffer> =>
    Buffer.from((await run('skopeo', ['--tmpdir', tmp, 'inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'buffer', maxBuffer: 16 << 20 })).stdout);

  it('pulls what skopeo pushed: same manifest, config and layer digests; fsck clean', async () => {
    const image = fixture('busybox/oci-umoci:1');
    const name = `${registry.host}/pulled/bb:1`;
    await skopeo('copy', '--dest-tls-verify=false', transportRef(image), `docker://${name}`);
    const storeDir = path.join(tmp, 'store');
    const result = await cairn(storeDir, 'pull', name);
    expect(result.stderr).toContain(`Trying to pull ${name}...`);
    expect(result.stderr).toMatch(/Copying blob [0-9a-f]{12} done/);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(image.configDigest?.slice('sha256:'.length));
    const inspect = JSON.parse((await cairn(storeDir, 'inspect', name)).stdout) as { Id?: string; Digest?: string }[];
    expect(JSON.stringify(inspect)).toContain(image.manifestDigest);
    expect((await cairn(storeDir, 'fsck')).status).toBe(0);
  });

  it('pushes what skopeo reads byte for byte, then skips every blob on a second push', async () => {
    const image = fixture('busybox/oci-umoci:1');
    const store = await Store.open(path.join(tmp, 'store'));
    await copy(transportRef(image), 'bb:1', { store });
    const name = `${registry.host}/pushed/bb:1`;
    const events: string[] = [];
    const record = await push('bb:1', name, { store, onProgress: (e) => events.push(`${e.kind}:${e.state}`) });
    expect(record.descriptor.digest).toBe(image.manifestDigest);
    expect(sha256(await rawManifest(name))).toBe(image.manifestDigest);
    expect(events.filter((e) => e === 'blob:done')).toHaveLength(image.layers.length);
    // skopeo copies it back out; the layout holds the same blobs.
    const out = path.join(tmp, 'out');
    await skopeo('copy', '--src-tls-verify=false', `docker://${name}`, `oci:${out}:x`);
    const back = JSON.parse((await skopeo('inspect', '--raw', `oci:${out}:x`)).stdout) as { layers: { digest: string }[] };
    expect(back.layers.map((l) => l.digest)).toEqual(image.layers);

    const again: string[] = [];
    await push('bb:1', name, { store, onProgress: (e) => again.push(`${e.kind}:${e.state}`) });
    expect(again.filter((e) => e === 'blob:done')).toHaveLength(0);
    expect(again.filter((e) => e === 'blob:skipped')).toHaveLength(image.layers.length);
  });

  it('pushes and pulls a multi-platform index whole with --all, and one platform without', async () => {
    const index = fixture('busybox/oci-index:1');
    const store = await Store.open(path.join(tmp, 'store'));
    await copy(transportRef(index), 'multi:1', { store, all: true });
    const name = `${registry.host}/multi/bb:1`;
    const pushed = await cairn(store.root, 'push', '--all', 'multi:1', name);
    expect(pushed.status, pushed.stderr).toBe(0);
    expect(pushed.stdout.trim()).toBe(`1: digest: ${index.manifestDigest} size: ${(await rawManifest(name)).length}`);
    expect(sha256(await rawManifest(name))).toBe(index.manifestDigest);

    const other = await Store.open(path.join(tmp, 'other'));
    const all = await pull(name, { store: other, all: true });
    expect(all.record.descriptor.digest).toBe(index.manifestDigest);
    const one = await pull(name, { store: await Store.open(path.join(tmp, 'third')), platform: { os: 'linux', architecture: 'amd64' } });
    const amd64 = index.manifests?.find((m) => m.platform?.architecture === 'amd64');
    expect(one.record.descriptor.digest).toBe(amd64?.digest);
  });

  it('converts to Docker schema 2 on push with --format docker, as skopeo does', async () => {
    const image = fixture('busybox/oci-umoci:1');
    const storeDir = path.join(tmp, 'store');
    expect((await cairn(storeDir, 'copy', transportRef(image), 'bb:1')).status).toBe(0);
    const name = `${registry.host}/docker/bb:1`;
    const result = await cairn(storeDir, 'push', '--format', 'docker', 'bb:1', `docker://${name}`);
    expect(result.status, result.stderr).toBe(0);
    const manifest = JSON.parse((await rawManifest(name)).toString('utf8')) as { mediaType: string; config: { digest: string } };
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.config.digest).toBe(image.configDigest);
  });

  it('keeps a pull by digest untagged, as docker does', async () => {
    const image = fixture('busybox/oci-umoci:1');
    await skopeo('copy', '--dest-tls-verify=false', transportRef(image), `docker://${registry.host}/bydigest/bb:1`);
    const store = await Store.open(path.join(tmp, 'store'));
    const { names, record } = await pull(`${registry.host}/bydigest/bb@${image.manifestDigest}`, { store });
    expect(names).toEqual([]);
    expect(record.descriptor.digest).toBe(image.manifestDigest);
    const listed = await cairn(store.root, 'images');
    expect(listed.stdout).toContain('<none>');
  });

  it('names the reference and what the registry said when a tag does not exist, and adds nothing', async () => {
    const store = await Store.open(path.join(tmp, 'store'));
    const err = await pull(`${registry.host}/nothing/here:1`, { store }).catch((e: unknown) => e);
    expect(isCairnError(err, 'not-found')).toBe(true);
    expect((err as Error).message).toContain(`docker://${registry.host}/nothing/here:1`);
    expect((err as Error).message).toMatch(/MANIFEST_UNKNOWN|NAME_UNKNOWN/);
    const result = await cairn(store.root, 'images', '-q');
    expect(result.stdout).toBe('');
  });

  it('says which host it cannot reach', async () => {
    const result = await cairn(path.join(tmp, 'store'), 'pull', '127.0.0.1:1/none:1');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/Error: docker:\/\/127\.0\.0\.1:1\/none:1: .*cannot reach 127\.0\.0\.1:1: .*ECONNREFUSED/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(skipWithoutTools('docker-registry', 'skopeo') || skipWithoutFixtures('busybox/oci-umoci:1'))('with a registry that wants a password', () => {
  // bcrypt (cost 4) of "secret", the format docker-registry's htpasswd auth reads.
  const HTPASSWD = 'cairn:$2b$04$gIxCLQpnzISjvt2lNLt74uCdeNwjdo1AGj1MjxoDV98z7ba/ze8LO\n';
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: HTPASSWD });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('fails clearly without credentials, and pushes and pulls with the ones podman login would store', async () => {
    const image = fixture('busybox/oci-umoci:1');
    const store = await Store.open(path.join(tmp, 'store'));
    await copy(transportRef(image), 'bb:1', { store });
    const name = `${registry.host}/private/bb:1`;
    const none = { REGISTRY_AUTH_FILE: path.join(tmp, 'none.json'), HOME: tmp };
    const err = await push('bb:1', name, { store, registry: { env: none } }).catch((e: unknown) => e);
    expect(isCairnError(err, 'unauthorized')).toBe(true);
    expect((err as Error).message).toContain(registry.host);

    const authFile = path.join(tmp, 'auth', 'auth.json');
    await mkdir(path.dirname(authFile), { recursive: true });
    await writeFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('cairn:secret').toString('base64') } } }));
    const env = { REGISTRY_AUTH_FILE: authFile, HOME: tmp };
    const pushed = await push('bb:1', name, { store, registry: { env } });
    expect(pushed.descriptor.digest).toBe(image.manifestDigest);
    const pulled = await pull(name, { store: await Store.open(path.join(tmp, 'other')), registry: { env } });
    expect(pulled.record.descriptor.digest).toBe(image.manifestDigest);
  });
});
