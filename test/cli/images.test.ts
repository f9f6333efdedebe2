/**
 * The image commands as a user types them: images (-a with a build's intermediate images), tag,
 * rmi, inspect, history, copy, load, save, gc, fsck — run in process against a real store holding real fixture images.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairn } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { removeDir, tempDir } from '../support/images.js';

describe.skipIf(skipWithoutFixtures('busybox/oci-umoci:3', 'busybox/oci-umoci:1', 'busybox/docker-archive:3'))('image commands', () => {
  let dir: string;
  let store: string;
  beforeAll(async () => {
    dir = await tempDir('cairn-cli-');
    store = path.join(dir, 'store');
    const r = await cairn(store, 'copy', transportRef(fixture('busybox/oci-umoci:3')), 'busybox:3');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
  afterAll(() => removeDir(dir));

  /** A build context under the test dir: `a.txt`, `b.txt` and the Dockerfile given. */
  async function twoFileContext(name: string, dockerfile: string): Promise<string> {
    const context = path.join(dir, name);
    await mkdir(context);
    await writeFile(path.join(context, 'a.txt'), 'a\n');
    await writeFile(path.join(context, 'b.txt'), 'b\n');
    await writeFile(path.join(context, 'Dockerfile'), dockerfile);
    return context;
  }

  it('lists images in docker\'s table, with -q, --digests and --json', async () => {
    const umoci3 = fixture('busybox/oci-umoci:3');
    const r = await cairn(store, 'images');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s{3,}TAG\s{3,}IMAGE ID\s{3,}CREATED\s{3,}SIZE$/);
    const id = (umoci3.configDigest ?? '').slice(7, 19);
    expect(lines[1]).toMatch(new RegExp(`^busybox\\s+3\\s+${id}\\s+(\\d+ \\w+|About an? \\w+) ago\\s+[\\d.]+[kM]?B$`));
    // Columns line up: each header starts where its cells start.
    expect(lines[1]?.indexOf(id)).toBe(lines[0]?.indexOf('IMAGE ID'));
    expect((await cairn(store, 'images', '-q')).stdout).toBe(`${id}\n`);
    expect((await cairn(store, 'images', '--digests')).stdout).toContain(umoci3.manifestDigest ?? 'missing');
    const json = JSON.parse((await cairn(store, 'images', '--json')).stdout) as { Repository: string; Tag: string; Id: string }[];
    expect(json).toEqual([expect.objectContaining({ Repository: 'busybox', Tag: '3', Id: umoci3.configDigest })]);
  });

  it('images -a adds the build steps\' intermediate images as <none>, each once; plain images hides them', async () => {
    const steps = path.join(dir, 'steps');
    const context = await twoFileContext('steps-context', 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nENV X=1\n');
    const built = await cairn(steps, 'build', '-t', 'steps:1', context);
    expect(built.status, built.stderr).toBe(0);
    // The build prints each step's image ID (" ---> 0123456789ab"); the last is the tagged image.
    const stepIds = [...built.stdout.matchAll(/---> ([0-9a-f]{12})$/gm)].map((m) => m[1]);
    expect(stepIds).toHaveLength(3);
    const finalId = stepIds.at(-1);
    const ids = async (...args: string[]): Promise<string[]> => (await cairn(steps, 'images', ...args)).stdout.split('\n').filter(Boolean);
    expect(await ids('-q')).toEqual([finalId]);
    expect((await ids('-a', '-q')).sort()).toEqual([...stepIds].sort());
    const rows = (await cairn(steps, 'images', '--all')).stdout.trimEnd().split('\n').slice(1);
    expect(rows.filter((row) => /^steps\s+1\s/.test(row))).toHaveLength(1);
    expect(rows.filter((row) => /^<none>\s+<none>\s/.test(row))).toHaveLength(2);
    // A filter names a repository, which intermediate images do not have.
    expect(await ids('-a', '-q', 'steps')).toEqual([finalId]);
    // A rebuild that hits the cache adds nothing; one that changes a step adds its new images,
    // and the old final image stays as a dangling image, listed without -a too.
    expect((await cairn(steps, 'build', '-t', 'steps:1', context)).status).toBe(0);
    expect((await ids('-a', '-q')).sort()).toEqual([...stepIds].sort());
    await writeFile(path.join(context, 'b.txt'), 'changed\n');
    expect((await cairn(steps, 'build', '-t', 'steps:1', context)).status).toBe(0);
    expect(await ids('-q')).toHaveLength(2);
    expect(await ids('-a', '-q')).toHaveLength(5);
    const json = JSON.parse((await cairn(steps, 'images', '-a', '--json')).stdout) as { Repository: string; Id: string }[];
    expect(json.filter((image) => image.Repository === '<none>')).toHaveLength(4);
    expect(new Set(json.map((image) => image.Id)).size).toBe(5);
  });

  it('an intermediate image is named by its ID like any other: inspect, history, tag, rmi', async () => {
    const mid = path.join(dir, 'mid');
    const context = await twoFileContext('mid-context', 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
    const built = await cairn(mid, 'build', '-t', 'mid:1', context);
    expect(built.status, built.stderr).toBe(0);
    const [short, finalShort] = [...built.stdout.matchAll(/---> ([0-9a-f]{12})$/gm)].map((m) => m[1] ?? '');
    const all = (await cairn(mid, 'images', '-a', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean);
    const full = all.find((id) => id.startsWith(`sha256:${short}`)) ?? 'missing';
    expect(all).toHaveLength(2);
    // inspect: the 12-character short ID, the 64-hex ID, the sha256: form.
    for (const text of [short ?? '', full.slice(7), full]) {
      const r = await cairn(mid, 'inspect', text);
      expect([r.status, r.stderr]).toEqual([0, '']);
      const [doc] = JSON.parse(r.stdout) as { Id: string; RepoTags: string[]; RootFS: { Layers: string[] } }[];
      expect(doc?.Id).toBe(full);
      expect(doc?.RepoTags).toEqual([]);
      expect(doc?.RootFS.Layers).toHaveLength(1);
    }
    const history = await cairn(mid, 'history', '-q', short ?? '');
    expect([history.status, history.stdout]).toEqual([0, `${short}\n`]);
    // tag gives it a name (so plain images lists it); rmi of that name leaves it intermediate.
    expect((await cairn(mid, 'tag', short ?? '', 'named:1')).status).toBe(0);
    expect((await cairn(mid, 'inspect', '--format', '{{.Id}}', 'named:1')).stdout).toBe(`${full}\n`);
    expect(await cairn(mid, 'rmi', 'named:1')).toEqual({ status: 0, stdout: 'Untagged: named:1\n', stderr: '' });
    // rmi by ID removes it: no longer listed, no longer found; the image built on it is intact.
    expect(await cairn(mid, 'rmi', short ?? '')).toEqual({ status: 0, stdout: `Deleted: ${full}\n`, stderr: '' });
    expect((await cairn(mid, 'images', '-a', '-q')).stdout).toBe(`${finalShort}\n`);
    expect((await cairn(mid, 'inspect', short ?? '')).stderr).toBe(`Error: image "${short}" is not in the store ${mid}\n`);
    expect((await cairn(mid, 'gc')).status).toBe(0);
    expect((await cairn(mid, 'inspect', '--format', '{{.RootFS.Layers}}', 'mid:1')).status).toBe(0);
    expect((await cairn(mid, 'fsck')).status).toBe(0);
    // A rebuild runs that step again (the removed image no longer answers for it).
    const rebuilt = await cairn(mid, 'build', '-t', 'mid:1', context);
    expect(rebuilt.stdout).toMatch(/Step 2\/3 : COPY a\.txt \/a\.txt\n(?! ---> Using cache)/);
  });

  it('rmi says what it did, as images -a then shows: a built image the build cache holds is only untagged; by ID it is deleted', async () => {
    const built = path.join(dir, 'built');
    const context = await twoFileContext('built-context', 'FROM scratch\nCOPY a.txt /a.txt\n');
    expect((await cairn(built, 'build', '-t', 'built:1', context)).status).toBe(0);
    const id = (await cairn(built, 'inspect', '--format', '{{.Id}}', 'built:1')).stdout.trim();
    const all = async (): Promise<string> => (await cairn(built, 'images', '-a', '--no-trunc')).stdout;
    expect((await cairn(built, 'tag', 'built:1', 'built:2')).status).toBe(0);
    // Another tag holds it, then the build cache does: untagged only, and still listed (by -a only, once untagged).
    expect(await cairn(built, 'rmi', 'built:1')).toEqual({ status: 0, stdout: 'Untagged: built:1\n', stderr: '' });
    expect(await cairn(built, 'rmi', 'built:2')).toEqual({ status: 0, stdout: 'Untagged: built:2\n', stderr: '' });
    expect((await cairn(built, 'images', '-q')).stdout).toBe('');
    expect(await all()).toMatch(new RegExp(`^<none>\\s+<none>\\s+${id}\\s`, 'm'));
    // Without the build cache's index copy (which rmi asks first) the database answers the same.
    await rm(path.join(built, 'cairn', 'cache', 'build-index.json'));
    expect((await cairn(built, 'tag', id, 'built:4')).status).toBe(0);
    expect(await cairn(built, 'rmi', 'built:4')).toEqual({ status: 0, stdout: 'Untagged: built:4\n', stderr: '' });
    // By ID the image goes from index.json and the build cache alike: deleted, and listed nowhere.
    expect((await cairn(built, 'tag', id, 'built:3')).status).toBe(0);
    expect(await cairn(built, 'rmi', id)).toEqual({ status: 0, stdout: `Untagged: built:3\nDeleted: ${id}\n`, stderr: '' });
    expect(await all()).not.toContain(id);
    expect((await cairn(built, 'inspect', id)).status).toBe(1);
    // The step is built again: the cache no longer answers for it.
    const rebuilt = await cairn(built, 'build', '-t', 'built:1', context);
    expect(rebuilt.stdout).not.toContain('Using cache');
    expect((await cairn(built, 'fsck')).status).toBe(0);
  });

  it('an ID that names no image, intermediate or not, is not found (and opens no database in a store without builds)', async () => {
    const r = await cairn(store, 'inspect', '0123456789ab');
    expect(r.stderr).toBe(`Error: image "0123456789ab" is not in the store ${store}\n`);
    expect(existsSync(path.join(store, 'cairn', 'meta'))).toBe(false);
  });

  it('tags, filters by repository, and removes tags like docker', async () => {
    expect((await cairn(store, 'tag', 'busybox:3', 'localhost:5000/team/bb')).status).toBe(0);
    expect((await cairn(store, 'images', 'localhost:5000/team/bb')).stdout).toMatch(/localhost:5000\/team\/bb\s+latest/);
    const rmi = await cairn(store, 'rmi', 'localhost:5000/team/bb');
    expect(rmi.stdout).toBe('Untagged: localhost:5000/team/bb:latest\n');
    expect((await cairn(store, 'images', '-q')).stdout.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('inspects an image as docker does, by tag, ID prefix or --format', async () => {
    const umoci3 = fixture('busybox/oci-umoci:3');
    const r = await cairn(store, 'inspect', 'busybox:3');
    const [doc] = JSON.parse(r.stdout) as { Id: string; RepoTags: string[]; RepoDigests: string[]; Config: { Cmd: string[] }; RootFS: { Layers: string[] } }[];
    expect(doc?.Id).toBe(umoci3.configDigest);
    expect(doc?.RepoTags).toEqual(['busybox:3']);
    expect(doc?.RepoDigests).toEqual([`busybox@${umoci3.manifestDigest}`]);
    expect(doc?.Config.Cmd).toEqual(['/bin/sh']);
    expect(doc?.RootFS.Layers).toEqual(umoci3.diffIds);
    const byId = await cairn(store, 'inspect', '--format', '{{.Id}}', (umoci3.configDigest ?? '').slice(7, 15));
    expect(byId.stdout).toBe(`${umoci3.configDigest}\n`);
  });

  it('shows history newest first with sizes and <missing> below the top', async () => {
    const r = await cairn(store, 'history', 'busybox:3');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(lines[1]).toMatch(/^[0-9a-f]{12}\s+\d+ years ago\s+raw add-layer: opaque \/tmp, hardlink, symlink\s+\d+B$/);
    // docker truncates CREATED BY to 45 characters.
    expect(lines[2]).toMatch(/^<missing>\s+.*modify \/etc\/motd; rm \/bin\/sed; add \/newdir\/f…\s+\d+B$/);
    expect(lines[3]).toMatch(/^<missing>\s+.*umoci config\s+0B$/);
    expect(lines.at(-1)).toMatch(/^<missing>\s+.*COPY rootfs \/\s+1\.\d+MB$/);
    const full = (await cairn(store, 'history', '--no-trunc', 'busybox:3')).stdout;
    expect(full).toContain('modify /etc/motd; rm /bin/sed; add /newdir/file');
  });

  it('names the input and the problem for bad input, without a stack trace', async () => {
    const missing = await cairn(store, 'inspect', 'nope:1');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`Error: image "nope:1" is not in the store ${store}\n`);
    const bad = await cairn(store, 'tag', 'busybox:3', 'Bad Name');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^Error: image reference "Bad Name": /);
    const badSource = await cairn(store, 'copy', 'oci:/nonexistent/dir:1', 'x:1');
    expect(badSource.stderr).toBe('Error: oci:/nonexistent/dir:1: /nonexistent/dir is not an OCI layout (no oci-layout file)\n');
    const transport = await cairn(store, 'copy', 'dir:/nonexistent', 'x:1');
    expect(transport.stderr).toMatch(/transport not supported/);
    expect((await cairn(store, 'frobnicate')).stderr).toBe(`Error: unknown command "frobnicate" (see 'cairn help')\n`);
    for (const r of [missing, bad, badSource, transport]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('saves several images into one docker archive and loads them back', async () => {
    expect((await cairn(store, 'copy', transportRef(fixture('busybox/oci-umoci:1')), 'busybox:1')).status).toBe(0);
    const archive = path.join(dir, 'two.tar');
    const save = await cairn(store, 'save', '-o', archive, 'busybox:1', 'busybox:3');
    expect(save.stderr).toBe('');
    const other = path.join(dir, 'other');
    const load = await cairn(other, 'load', '-i', archive);
    expect(load.stdout).toBe('Loaded image: busybox:1\nLoaded image: busybox:3\n');
    const ids = async (s: string, ref: string) => (await cairn(s, 'inspect', '--format', '{{.Id}}', ref)).stdout;
    expect(await ids(other, 'busybox:1')).toBe(await ids(store, 'busybox:1'));
    expect(await ids(other, 'busybox:3')).toBe(await ids(store, 'busybox:3'));
    expect((await cairn(other, 'fsck')).status).toBe(0);
  });

  it('loads a docker archive made by skopeo and an OCI archive, detecting the format', async () => {
    const other = path.join(dir, 'loads');
    const docker = await cairn(other, 'load', '-i', fixture('busybox/docker-archive:3').path);
    expect(docker.stdout).toBe('Loaded image: docker.io/fixtures/busybox:3\n');
    const oci = await cairn(other, 'load', '-i', fixture('busybox/oci-archive:3').path);
    // The archive's only ref name is "3", not an image name: the image loads untagged.
    expect(oci.stdout).toBe(`Loaded image ID: ${fixture('busybox/oci-archive:3').manifestDigest}\n`);
    const images = (await cairn(other, 'images')).stdout;
    expect(images).toMatch(/docker\.io\/fixtures\/busybox\s+3/);
    expect(images).toMatch(/<none>\s+<none>/);
  });

  it('gc frees what rmi left and fsck stays clean', async () => {
    const before = (await cairn(store, 'gc', '--dry-run')).stdout;
    expect(before).toMatch(/Total reclaimed space: 0B \(0 blobs/);
    expect((await cairn(store, 'rmi', 'busybox:1')).stdout).toMatch(/^Untagged: busybox:1\nDeleted: sha256:/);
    // A store that never built has no build cache to hold the image, and rmi does not create one.
    expect(existsSync(path.join(store, 'cairn', 'meta'))).toBe(false);
    const gc = await cairn(store, 'gc');
    expect(gc.stdout).toMatch(/^removed sha256:/m);
    expect(gc.stdout).not.toMatch(/Total reclaimed space: 0B/);
    const fsck = await cairn(store, 'fsck');
    expect(fsck.status).toBe(0);
    expect(fsck.stdout).toMatch(/: ok$/m);
  });
});
