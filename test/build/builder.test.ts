/**
 * The builder through its API and the CLI, on the busybox fixture (RUN needs root and runc):
 * layers and history as docker makes them, the cache (a rebuild runs nothing; an edit reruns
 * from the first step that reads the file), reproducible builds, stages, args, ONBUILD,
 * mounts, heredocs, contexts from a tar stream, and bad input with its line.
 */
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildOptions, type BuildResult } from '../../src/build/builder.js';
import { main } from '../../src/cli/main.js';
import { CairnError, isCairnError } from '../../src/errors.js';
import { readConfig } from '../../src/image/list.js';
import { resolveImage } from '../../src/image/resolve.js';
import { unpack } from '../../src/layer/unpack.js';
import type { ImageConfig } from '../../src/oci/index.js';
import { fsck } from '../../src/store/fsck.js';
import { gc } from '../../src/store/gc.js';
import { Store } from '../../src/store/store.js';
import { packTar } from '../../src/tar/index.js';
import { copy } from '../../src/transport/open.js';
import { cairn } from '../support/cli.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { removeDir, tempStore } from '../support/images.js';
import { skipWithoutTools } from '../support/tools.js';
import { failure } from '../support/errors.js';

const BUSYBOX = 'busybox/oci-umoci:1';
let work: string;
let store: Store;
let n = 0;

async function context(files: Record<string, string>): Promise<string> {
  const dir = path.join(work, `ctx-${++n}`);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  await mkdir(dir, { recursive: true });
  return dir;
}

async function buildIn(dir: string, options: Partial<BuildOptions> = {}): Promise<BuildResult & { log: string }> {
  let log = '';
  const result = await build(store, { contextDir: dir, onOutput: (t) => (log += t), ...options });
  return { ...result, log };
}

async function configOf(ref: string): Promise<ImageConfig> {
  return readConfig(store, await resolveImage(store, ref));
}


const layersOf = async (ref: string): Promise<number> => (await resolveImage(store, ref)).manifest.layers.length;

describe.skipIf(skipWithoutFixtures(BUSYBOX))('cairn build', () => {
  beforeAll(async () => {
    ({ dir: work, store } = await tempStore('cairn-build-', { subdir: 'store' }));
    await copy(transportRef(fixture(BUSYBOX)), 'busybox:latest', { store });
  }, 60_000);
  afterAll(() => removeDir(work));

  describe('without a container runtime', () => {
    it('FROM scratch + COPY: one layer with the file, owned by root, history in docker form', async () => {
      const dir = await context({ 'hello.txt': 'hello\n', Dockerfile: 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n' });
      const r = await buildIn(dir, { tags: ['scratch-copy:1'] });
      expect(r.containers).toBe(0);
      expect(await layersOf('scratch-copy:1')).toBe(1);
      const config = await configOf('scratch-copy:1');
      expect(config.config?.Cmd).toEqual(['/hello']);
      expect(config.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
      expect(config.history?.map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
        [expect.stringMatching(/^\/bin\/sh -c #\(nop\) COPY file:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 in \/ $/), false],
        ['/bin/sh -c #(nop)  CMD ["/hello"]', true],
      ]);
      const out = path.join(work, 'scratch-copy');
      await unpack(store, 'scratch-copy:1', out);
      expect(await readdir(out)).toEqual(['hello.txt']);
      expect(r.log).toMatch(/^Step 1\/3 : FROM scratch\n ---> \nStep 2\/3 : COPY hello.txt \/\n ---> [0-9a-f]{12}\nStep 3\/3 : CMD \["\/hello"\]\n ---> [0-9a-f]{12}\nSuccessfully built [0-9a-f]{12}\nSuccessfully tagged scratch-copy:1\n$/);
    });

    it('config instructions: every field, each an empty_layer entry with its classic created_by', async () => {
      const dockerfile = [
        'FROM busybox',
        'MAINTAINER Jane <jane@example.com>',
        'ENV A=1 B="two words"',
        'LABEL org.example.a=$A "with space"=yes',
        'EXPOSE 80 53/udp',
        'USER 1000:1000',
        'VOLUME ["/data", "/cache"]',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD wget -q localhost || exit 1',
        'SHELL ["/bin/sh", "-ec"]',
        'ENTRYPOINT exec top',
        'CMD ["-b"]',
        'ONBUILD RUN echo child',
        'WORKDIR /etc',
      ].join('\n');
      const r = await buildIn(await context({ Dockerfile: dockerfile }), { tags: ['config:1'] });
      expect(r.containers).toBe(0);
      const config = await configOf('config:1');
      expect(config.author).toBe('Jane <jane@example.com>');
      expect(config.config).toMatchObject({
        Env: ['PATH=/bin', 'A=1', 'B=two words'],
        Labels: { 'org.example.a': '1', 'with space': 'yes' },
        ExposedPorts: { '80/tcp': {}, '53/udp': {} },
        User: '1000:1000',
        Volumes: { '/data': {}, '/cache': {} },
        StopSignal: 'SIGINT',
        Healthcheck: { Test: ['CMD-SHELL', 'wget -q localhost || exit 1'], Interval: 30e9, Timeout: 3e9, Retries: 3 },
        Shell: ['/bin/sh', '-ec'],
        Entrypoint: ['/bin/sh', '-ec', 'exec top'],
        Cmd: ['-b'],
        OnBuild: ['RUN echo child'],
        WorkingDir: '/etc',
      });
      expect(config.history?.slice(2).map((h) => h.created_by)).toEqual([
        '/bin/sh -c #(nop)  MAINTAINER Jane <jane@example.com>',
        '/bin/sh -c #(nop)  ENV A=1 B=two words',
        '/bin/sh -c #(nop)  LABEL org.example.a=1 with space=yes',
        '/bin/sh -c #(nop)  EXPOSE 53/udp 80',
        '/bin/sh -c #(nop)  USER 1000:1000',
        '/bin/sh -c #(nop)  VOLUME [/data /cache]',
        '/bin/sh -c #(nop)  STOPSIGNAL SIGINT',
        `/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "wget -q localhost || exit 1"] "30s" "3s" "0s" "0s" '\\x03'}`,
        '/bin/sh -c #(nop)  SHELL ["/bin/sh" "-ec"]',
        '/bin/sh -c -ec #(nop)  ENTRYPOINT ["/bin/sh" "-ec" "exec top"]'.replace('/bin/sh -c -ec', '/bin/sh -ec'),
        '/bin/sh -ec #(nop)  CMD ["-b"]',
        '/bin/sh -ec #(nop)  ONBUILD RUN echo child',
        '/bin/sh -ec #(nop) WORKDIR /etc',
      ]);
      expect(config.history?.slice(2).every((h) => h.empty_layer === true)).toBe(true);
      expect(await layersOf('config:1')).toBe(1);
    });

    it('WORKDIR creates a missing directory as a layer; ENTRYPOINT clears an inherited CMD', async () => {
      await buildIn(await context({ Dockerfile: 'FROM busybox\nWORKDIR /srv/app\nWORKDIR sub\nENTRYPOINT ["sh"]\n' }), { tags: ['workdir:1'] });
      const config = await configOf('workdir:1');
      expect(config.config?.WorkingDir).toBe('/srv/app/sub');
      expect(config.config?.Cmd ?? null).toBeNull();
      expect(config.history?.slice(-3).map((h) => h.empty_layer ?? false)).toEqual([false, false, true]);
      const out = path.join(work, 'workdir');
      await unpack(store, 'workdir:1', out);
      expect(await readdir(path.join(out, 'srv', 'app'))).toEqual(['sub']);
    });

    it('COPY: directory contents, wildcards, dest semantics, --chown/--chmod, .dockerignore, --from', async () => {
      const dir = await context({
        '.dockerignore': '*.key\n!keep.key\nbuild\n',
        'src/a.txt': 'a',
        'src/sub/b.txt': 'b',
        'one.md': '1',
        'two.md': '2',
        'secret.key': 'no',
        'keep.key': 'yes',
        'build/out': 'no',
        Dockerfile: [
          'FROM busybox AS base',
          'COPY src /copied/',
          'COPY *.md /docs/',
          'COPY one.md /renamed',
          'COPY --chown=nobody:nogroup --chmod=600 one.md /etc/',
          'COPY . /all/',
          'FROM scratch',
          'COPY --from=base /copied /fromstage',
        ].join('\n'),
      });
      await buildIn(dir, { tags: ['copy:1'], target: 'base' });
      const out = path.join(work, 'copy-base');
      await unpack(store, 'copy:1', out);
      expect((await readdir(path.join(out, 'copied'))).sort()).toEqual(['a.txt', 'sub']);
      expect((await readdir(path.join(out, 'docs'))).sort()).toEqual(['one.md', 'two.md']);
      expect((await readdir(path.join(out, 'all'))).sort()).toEqual(['.dockerignore', 'Dockerfile', 'keep.key', 'one.md', 'src', 'two.md']);
      const chowned = await lstat(path.join(out, 'etc', 'one.md'));
      expect([chowned.uid, chowned.gid, chowned.mode & 0o7777]).toEqual([65534, 65534, 0o600]);
      expect((await lstat(path.join(out, 'renamed'))).isFile()).toBe(true);
      await buildIn(dir, { tags: ['copy:2'] });
      const out2 = path.join(work, 'copy-final');
      await unpack(store, 'copy:2', out2);
      expect((await readdir(path.join(out2, 'fromstage'))).sort()).toEqual(['a.txt', 'sub']);
    });

    it('.dockerignore may list the Dockerfile and itself: the build still reads them, COPY does not see them', async () => {
      const dir = await context({ '.dockerignore': 'Dockerfile\n.dockerignore\n', 'kept.txt': 'k', Dockerfile: 'FROM scratch\nCOPY . /ctx/\n' });
      await buildIn(dir, { tags: ['ignored-df:1'] });
      const out = path.join(work, 'ignored-df');
      await unpack(store, 'ignored-df:1', out);
      expect(await readdir(path.join(out, 'ctx'))).toEqual(['kept.txt']);
      // A Dockerfile outside the context (-f elsewhere), and its own NAME.dockerignore beside it.
      const other = await context({ 'My.Dockerfile': 'FROM scratch\nCOPY . /ctx/\n', 'My.Dockerfile.dockerignore': 'kept.txt\n' });
      await buildIn(dir, { dockerfile: path.join(other, 'My.Dockerfile'), tags: ['ignored-df:2'] });
      const out2 = path.join(work, 'ignored-df-2');
      await unpack(store, 'ignored-df:2', out2);
      expect((await readdir(path.join(out2, 'ctx'))).sort()).toEqual(['.dockerignore', 'Dockerfile']);
    });

    it('ADD extracts a local tar archive; ADD of a URL is refused', async () => {
      const dir = await context({ Dockerfile: 'FROM scratch\nADD bundle.tar /opt/\n' });
      const chunks: Buffer[] = [];
      for await (const c of packTar([{ entry: { path: 'x', type: 'directory' } }, { entry: { path: 'x/y.txt', type: 'file' }, body: Buffer.from('y') }])) chunks.push(c as Buffer);
      await writeFile(path.join(dir, 'bundle.tar'), Buffer.concat(chunks));
      await buildIn(dir, { tags: ['add:1'] });
      const out = path.join(work, 'add');
      await unpack(store, 'add:1', out);
      expect(await readdir(path.join(out, 'opt', 'x'))).toEqual(['y.txt']);
      const err = await failure(buildIn(await context({ Dockerfile: 'FROM scratch\n\nADD https://example.com/x /x\n' })));
      expect(err.code).toBe('unsupported');
      expect(err.message).toMatch(/^Dockerfile:3: ADD https:\/\/example.com\/x: remote sources/);
    });

    it('ADD extracts tar archives compressed with gzip, bzip2, xz and zstd (made by GNU tar), and copies what is no archive', async () => {
      const dir = await context({ 'src/x/y.txt': 'y', 'plain.txt': 'not an archive' });
      const tools: [string, string][] = [['gz', '-z'], ['bz2', '-j'], ['xz', '-J'], ['zst', '--zstd']];
      for (const [ext, flag] of tools) {
        const r = spawnSync('tar', ['-C', path.join(dir, 'src'), '--owner=7', '--group=8', flag, '-cf', path.join(dir, `a.tar.${ext}`), 'x']);
        expect(r.status, r.stderr.toString()).toBe(0);
      }
      // xz data that breaks after its header: not a tar to extract, so copied as a file (docker's rule).
      await writeFile(path.join(dir, 'broken.tar.xz'), Buffer.concat([(await readFile(path.join(dir, 'a.tar.xz'))).subarray(0, 12), Buffer.alloc(64, 1)]));
      const lines = tools.map(([ext]) => `ADD a.tar.${ext} /${ext}/`);
      await writeFile(path.join(dir, 'Dockerfile'), ['FROM scratch', ...lines, 'ADD plain.txt broken.tar.xz /files/'].join('\n'));
      await buildIn(dir, { tags: ['add:compressed'] });
      const out = path.join(work, 'add-compressed');
      await unpack(store, 'add:compressed', out);
      for (const [ext] of tools) {
        const st = await lstat(path.join(out, ext, 'x', 'y.txt'));
        expect([ext, await readFile(path.join(out, ext, 'x', 'y.txt'), 'utf8'), st.uid, st.gid]).toEqual([ext, 'y', 7, 8]);
      }
      expect((await readdir(path.join(out, 'files'))).sort()).toEqual(['broken.tar.xz', 'plain.txt']);
    });

    it('a context tar on a stream and the Dockerfile as text', async () => {
      const chunks: Buffer[] = [];
      for await (const c of packTar([
        { entry: { path: 'Dockerfile', type: 'file' }, body: Buffer.from('FROM scratch\nCOPY data.txt /\n') },
        { entry: { path: 'data.txt', type: 'file' }, body: Buffer.from('data') },
      ]))
        chunks.push(c as Buffer);
      const r = await build(store, { contextTar: Readable.from([Buffer.concat(chunks)]), tags: ['tarctx:1'] });
      expect(r.executed).toBe(1);
      const r2 = await build(store, { contextDir: await context({ 'data.txt': 'data' }), dockerfile: { text: 'FROM scratch\nCOPY data.txt /\n' } });
      expect(r2.id).toBe(r.id); // same step, same inputs: the cache
      expect(r2.cached).toBe(1);
    });

    it('stages: only what the target needs is built; --target picks a stage', async () => {
      const dir = await context({ 'f.txt': 'f', Dockerfile: 'FROM scratch AS a\nCOPY f.txt /a\nFROM scratch AS unused\nCOPY f.txt /unused\nFROM scratch AS b\nCOPY --from=a /a /b\n' });
      const r = await buildIn(dir, { tags: ['stages:1'] });
      expect(r.log).not.toContain('/unused');
      expect(r.log).toMatch(/Step 1\/4 : FROM scratch AS a/);
      const t = await buildIn(dir, { tags: ['stages:a'], target: 'unused' });
      expect(t.log).toContain('COPY f.txt /unused');
      expect(t.log).not.toContain('COPY --from=a');
    });

    it('is reproducible with SOURCE_DATE_EPOCH: two stores, the same image ID', async () => {
      const dir = await context({ 'f.txt': 'f', 'd/g.txt': 'g', Dockerfile: 'FROM busybox\nCOPY . /app/\nWORKDIR /app/new\nENV X=1\n' });
      const timestamp = new Date('2024-05-01T00:00:00Z');
      const other = await Store.open(path.join(work, 'other-store'));
      await copy(transportRef(fixture(BUSYBOX)), 'busybox:latest', { store: other });
      const a = await build(store, { contextDir: dir, timestamp, noCache: true });
      const b = await build(other, { contextDir: dir, timestamp });
      expect(b.id).toBe(a.id);
      const config = await readConfig(other, await resolveImage(other, b.id));
      expect(config.created).toBe(timestamp.toISOString());
      expect(config.history?.slice(-3).every((h) => h.created === timestamp.toISOString())).toBe(true);
    });

    it('a fully cached rebuild takes no lock and opens no database; the records pin their images', async () => {
      const dir = await context({ 'f.txt': 'f', Dockerfile: 'FROM busybox\nCOPY f.txt /\nENV A=1\n' });
      const first = await buildIn(dir, { tags: ['nolock:1'] });
      // Hold the store lock (meta and index.json writers need it) while rebuilding: no wait.
      await store.withLock(async () => {
        const again = await build(await Store.open(store.root, { lockTimeoutMs: 200 }), { contextDir: dir, tags: ['nolock:1'] });
        expect([again.id, again.executed, again.cached]).toEqual([first.id, 0, 2]);
      });
      const records = await store.withMeta(async (meta) => {
        const out: { gcRoots: string[] }[] = [];
        for await (const [, value] of meta.buildCache.entries()) out.push(value as { gcRoots: string[] });
        return out;
      });
      const image = await resolveImage(store, 'nolock:1');
      expect(records.some((r) => r.gcRoots.includes(image.descriptor.digest))).toBe(true);
    });

    it('the memo: unchanged inputs are answered without a cache lookup; any change falls through to the steps', async () => {
      const dir = await context({ 'f.txt': 'memo', Dockerfile: 'FROM busybox\nCOPY f.txt /\nLABEL x=1\n' });
      const first = await buildIn(dir, { tags: ['memo:1'] });
      expect(first.executed).toBe(2);
      // No cache index, and the store lock held (the database needs it): only the memo can answer.
      await rm(path.join(store.paths.cache, 'build-index.json'), { force: true });
      await store.withLock(async () => {
        const again = await build(await Store.open(store.root, { lockTimeoutMs: 200 }), { contextDir: dir, tags: ['memo:1'] });
        expect([again.id, again.executed, again.cached]).toEqual([first.id, 0, 2]);
      });
      // touch: the memo no longer holds, the step cache does (times are not in its keys).
      const { utimes } = await import('node:fs/promises');
      await utimes(path.join(dir, 'f.txt'), new Date(), new Date('2020-01-01'));
      const touched = await buildIn(dir, { tags: ['memo:1'] });
      expect([touched.id, touched.executed, touched.cached]).toEqual([first.id, 0, 2]);
      // The base tag moves: the memo does not answer, the steps run on the new base.
      await buildIn(await context({ Dockerfile: 'FROM busybox\nLABEL other=1\n' }), { tags: ['memo-base:1'] });
      const dir2 = await context({ 'f.txt': 'memo', Dockerfile: 'FROM memo-base:1\nCOPY f.txt /\n' });
      const moved = await buildIn(dir2, { tags: ['memo:2'] });
      await buildIn(await context({ Dockerfile: 'FROM busybox\nLABEL other=2\n' }), { tags: ['memo-base:1'] });
      const rebuilt = await buildIn(dir2, { tags: ['memo:2'] });
      expect(rebuilt.executed).toBe(1);
      expect(rebuilt.id).not.toBe(moved.id);
    });

    it('ARG: build args, defaults, meta args in FROM, unused ones warned about', async () => {
      const dir = await context({ Dockerfile: 'ARG BASE=busybox\nFROM $BASE\nARG V=default\nARG BASE\nENV FROM_ARG=$V BASE_WAS=$BASE\n' });
      const r = await buildIn(dir, { tags: ['args:1'], buildArgs: { V: 'given', NOPE: 'x' } });
      expect((await configOf('args:1')).config?.Env).toEqual(['PATH=/bin', 'FROM_ARG=given', 'BASE_WAS=busybox']);
      expect(r.unusedArgs).toEqual(['NOPE']);
      expect(r.log).toContain('[Warning] One or more build-args [NOPE] were not consumed');
    });

    it('bad input fails with the line: unknown instruction, missing file, ../x, unknown --from, cycle, unknown base', async () => {
      const cases: [string, RegExp, string][] = [
        ['FROM scratch\nRUNN true\n', /^Dockerfile:2: unknown instruction: RUNN/, 'invalid-document'],
        ['FROM scratch\n\nCOPY nothere /x\n', /^Dockerfile:3: COPY failed: file not found in build context or excluded by \.dockerignore: stat nothere: file does not exist$/, 'not-found'],
        ['FROM scratch\nCOPY ../x /x\n', /^Dockerfile:2: COPY failed: forbidden path outside the build context: \.\.\/x$/, 'invalid-argument'],
        ['FROM scratch\nCOPY --from=nosuch /x /x\n', /^Dockerfile:2: --from=nosuch: no stage or image named "nosuch"/, 'not-found'],
        ['FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n', /^Dockerfile:2: circular dependency detected on stage: b$/, 'invalid-document'],
        ['FROM nosuch:1\n', /^Dockerfile:1: FROM nosuch:1: image "nosuch:1" is not in the store/, 'not-found'],
        ['FROM scratch\nCOPY a b /x\n', /^Dockerfile:2: COPY failed: (file not found|When using COPY with more than one source)/, 'not-found'],
        ['FROM scratch\n\nFROM a b\n', /^Dockerfile:3: FROM requires either one or three arguments$/, 'invalid-document'],
        ['FROM scratch\nCMD ["a", 1]\n', /^Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only$/, 'invalid-document'],
        ['FROM scratch\nSHELL sh -c\n', /^Dockerfile:2: SHELL requires the arguments to be in JSON form$/, 'invalid-document'],
        ['FROM scratch\nCOPY <<EOF /x\nnever ends\n', /^Dockerfile:2: unterminated heredoc$/, 'invalid-document'],
        ['FROM scratch\nCOPY --from=missing-stage /x /x\n', /^Dockerfile:2: --from=missing-stage: no stage or image named "missing-stage"/, 'not-found'],
      ];
      for (const [text, message, code] of cases) {
        const err = await failure(buildIn(await context({ Dockerfile: text, b: 'b' }), { tags: ['bad:1'] }));
        expect(err.message, text).toMatch(message);
        expect(err.code, text).toBe(code);
      }
      const multi = await failure(buildIn(await context({ a: 'a', b: 'b', Dockerfile: 'FROM scratch\nCOPY a b /x\n' })));
      expect(multi.message).toBe('Dockerfile:2: When using COPY with more than one source file, the destination must be a directory and end with a /');
      expect(await store.getTag('bad:1')).toBeUndefined();
      // A --target that names no stage.
      const target = await failure(buildIn(await context({ Dockerfile: 'FROM scratch AS one\nCOPY b /b\n', b: 'b' }), { target: 'two' }));
      expect([target.code, target.message]).toEqual(['not-found', 'target stage "two" could not be found']);
    });

    it('COPY --link makes the same layer on any base; COPY --from a store image reads its files', async () => {
      const dir = await context({ 'f.txt': 'linked', Dockerfile: 'FROM scratch\nCOPY --link f.txt /opt/f.txt\n' });
      // A fixed time: the /opt the layer creates gets it in both builds.
      const timestamp = new Date('2024-01-01T00:00:00Z');
      await buildIn(dir, { tags: ['link:scratch'], timestamp });
      await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nCOPY --link f.txt /opt/f.txt\nCOPY --from=busybox:latest /bin/busybox /opt/bb\n');
      await buildIn(dir, { tags: ['link:busybox'], timestamp });
      const onScratch = (await configOf('link:scratch')).rootfs.diff_ids;
      const onBusybox = (await configOf('link:busybox')).rootfs.diff_ids;
      expect(onBusybox.at(-2)).toBe(onScratch.at(-1));
      const out = path.join(work, 'link');
      await unpack(store, 'link:busybox', out);
      expect((await lstat(path.join(out, 'opt', 'bb'))).size).toBe((await lstat(path.join(out, 'bin', 'busybox'))).size);
      expect(await readFile(path.join(out, 'opt', 'f.txt'), 'utf8')).toBe('linked');
    });
    it('FROM and COPY --from an intermediate image by its ID, also while the cache session holds the database', async () => {
      const dir = await context({ 'a.txt': 'a', 'b.txt': 'b', Dockerfile: 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n' });
      const first = await buildIn(dir, { tags: ['mid:1'] });
      // The first step's image, which only the build cache holds (images -a lists it).
      const stepId = first.log.match(/---> ([0-9a-f]{12})$/m)?.[1] ?? 'missing';
      // Without the index copy, stage one's cached steps are found in the database, which the
      // cache session keeps open (with the store lock) until a step runs: resolving the ID must
      // not wait for that lock.
      await rm(path.join(store.paths.cache, 'build-index.json'));
      await writeFile(
        path.join(dir, 'Dockerfile'),
        `FROM scratch AS one\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nFROM ${stepId}\nCOPY --from=${stepId} /a.txt /again.txt\nCOPY --from=one /b.txt /b.txt\n`,
      );
      const second = await buildIn(dir, { tags: ['on-mid:1'] });
      expect(second.cached).toBe(2);
      const out = path.join(work, 'on-mid');
      await unpack(store, 'on-mid:1', out);
      expect((await readdir(out)).sort()).toEqual(['a.txt', 'again.txt', 'b.txt']);
    });
  });

  describe.skipIf(process.getuid?.() !== 0 || skipWithoutTools('runc'))('with RUN (runc)', () => {
    it('five RUN lines make five layers, one chained RUN makes one (history shows it)', async () => {
      const separate = 'FROM busybox\nRUN echo 1 > /one\nRUN echo 2 > /two\nRUN echo 3 > /three\nRUN echo 4 > /four\nRUN echo 5 > /five\n';
      const chained = 'FROM busybox\nRUN echo 1 > /one && echo 2 > /two && echo 3 > /three && echo 4 > /four && echo 5 > /five\n';
      const a = await buildIn(await context({ Dockerfile: separate }), { tags: ['walk:separate'] });
      const b = await buildIn(await context({ Dockerfile: chained }), { tags: ['walk:chained'] });
      expect(a.containers).toBe(5);
      expect(b.containers).toBe(1);
      const base = await layersOf('busybox:latest');
      expect(await layersOf('walk:separate')).toBe(base + 5);
      expect(await layersOf('walk:chained')).toBe(base + 1);
      const history = (await configOf('walk:separate')).history ?? [];
      expect(history.slice(-5).map((h) => h.created_by)).toEqual([1, 2, 3, 4, 5].map((i) => `/bin/sh -c echo ${i} > /${['', 'one', 'two', 'three', 'four', 'five'][i]}`));
      expect(a.log).toMatch(/Step 2\/6 : RUN echo 1 > \/one\n ---> Running in [0-9a-f]{12}\nRemoving intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n/);
      // Each layer holds only its step's change.
      const { listTar } = await import('../../src/tar/index.js');
      const image = await resolveImage(store, 'walk:separate');
      const top = image.manifest.layers[image.manifest.layers.length - 1];
      const { decompressStream } = await import('../../src/tar/index.js');
      const { stream } = await decompressStream(await store.blobs.open(top!.digest), { what: 'layer' });
      expect((await listTar(stream, { what: 'layer' })).map((e) => e.path)).toEqual(['five']);
    }, 120_000);

    it('the cache: a rebuild runs nothing; an edited file reruns from the first step that reads it; --no-cache runs all', async () => {
      const dir = await context({ 'a.txt': 'a1', 'b.txt': 'b1', Dockerfile: 'FROM busybox\nRUN echo first > /first\nCOPY a.txt /\nRUN cat /a.txt > /copy-a\nCOPY b.txt /\nRUN cat /b.txt > /copy-b\n' });
      const first = await buildIn(dir, { tags: ['cache:1'] });
      expect([first.executed, first.cached, first.containers]).toEqual([5, 0, 3]);
      const again = await buildIn(dir, { tags: ['cache:1'], memo: false });
      expect([again.executed, again.cached, again.containers]).toEqual([0, 5, 0]);
      expect(again.id).toBe(first.id);
      expect(again.log.match(/ ---> Using cache\n/g)?.length).toBe(5);
      const memo = await buildIn(dir, { tags: ['cache:1'] });
      expect([memo.id, memo.executed, memo.cached, memo.containers, memo.log]).toEqual([first.id, 0, 5, 0, again.log]);
      await writeFile(path.join(dir, 'b.txt'), 'b2');
      const edited = await buildIn(dir, { tags: ['cache:1'] });
      expect([edited.executed, edited.cached, edited.containers]).toEqual([2, 3, 1]);
      const none = await buildIn(dir, { noCache: true });
      expect([none.executed, none.cached, none.containers]).toEqual([5, 0, 3]);
      // gc keeps what the cache records pin.
      await gc(store);
      const afterGc = await buildIn(dir);
      expect(afterGc.containers).toBe(0);
    }, 120_000);

    it('RUN sees build args (not in the image), with docker\'s |N prefix; proxies stay out of history', async () => {
      const dir = await context({ Dockerfile: 'FROM busybox\nARG V=1\nARG W\nRUN echo "$V $W $HTTP_PROXY" > /args\n' });
      await buildIn(dir, { tags: ['runargs:1'], buildArgs: { W: 'w', HTTP_PROXY: 'http://proxy' } });
      const config = await configOf('runargs:1');
      expect(config.history?.at(-1)?.created_by).toBe('|2 V=1 W=w /bin/sh -c echo "$V $W $HTTP_PROXY" > /args');
      expect(config.config?.Env).toEqual(['PATH=/bin']);
      const out = path.join(work, 'runargs');
      await unpack(store, 'runargs:1', out);
      expect(await readFile(path.join(out, 'args'), 'utf8')).toBe('1 w http://proxy\n');
    }, 120_000);

    it('a failing RUN: exit code and step in the error, no tag, no image listed, fsck clean, no container left, earlier steps cached', async () => {
      const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo ok > /ok\nRUN exit 3\n' });
      const listed = (await store.readIndex()).manifests.length;
      let log = '';
      const err = await failure(build(store, { contextDir: dir, tags: ['fails:1'], onOutput: (t) => (log += t) }));
      expect(log).toMatch(/\nStep 3\/3 : RUN exit 3\n ---> Running in [0-9a-f]{12}\n$/);
      expect((await store.readIndex()).manifests.length).toBe(listed);
      expect((await fsck(store)).problems).toEqual([]);
      expect(err.code).toBe('process-failed');
      expect(err.message).toBe("Dockerfile:3: The command '/bin/sh -c exit 3' returned a non-zero code: 3");
      expect(err.data.exitCode).toBe(3);
      expect(await store.getTag('fails:1')).toBeUndefined();
      expect(await readdir(store.paths.containers).catch(() => [])).toEqual([]);
      const again = await failure(buildIn(dir, { tags: ['fails:1'] }));
      expect(again.data.exitCode).toBe(3);
    }, 120_000);

    it('FROM --platform with the automatic platform args; RUN in exec form sees declared args', async () => {
      const dockerfile = 'FROM --platform=$BUILDPLATFORM busybox\nARG TARGETPLATFORM\nRUN ["/bin/sh", "-c", "echo $TARGETPLATFORM > /p"]\n';
      await buildIn(await context({ Dockerfile: dockerfile }), { tags: ['platform:1'] });
      const config = await configOf('platform:1');
      const host = `${config.os}/${config.architecture}`;
      expect(config.history?.at(-1)?.created_by).toBe(`|1 TARGETPLATFORM=${host} /bin/sh -c echo $TARGETPLATFORM > /p`);
      const out = path.join(work, 'platform');
      await unpack(store, 'platform:1', out);
      expect(await readFile(path.join(out, 'p'), 'utf8')).toBe(`${host}\n`);
      const other = config.architecture === 'arm64' ? 'linux/amd64' : 'linux/arm64';
      const err = await failure(buildIn(await context({ Dockerfile: `FROM --platform=${other} busybox\nRUN true\n` })));
      expect([err.code, err.message]).toEqual(['not-found', `Dockerfile:1: FROM busybox: image with reference busybox was found but does not match the specified platform: wanted ${other}, actual: ${host}`]);
    }, 120_000);

    it('RUN --mount=type=cache keeps its directory between builds and leaves nothing in the layer', async () => {
      const dockerfile = (n: number): string => `FROM busybox\nRUN --mount=type=cache,target=/var/cache/x echo ${n} >> /var/cache/x/log && cat /var/cache/x/log > /seen\n`;
      await buildIn(await context({ Dockerfile: dockerfile(1) }), { tags: ['mount:1'] });
      await buildIn(await context({ Dockerfile: dockerfile(2) }), { tags: ['mount:2'] });
      const out = path.join(work, 'mount');
      await unpack(store, 'mount:2', out);
      expect(await readFile(path.join(out, 'seen'), 'utf8')).toBe('1\n2\n');
      expect(await readdir(path.join(out, 'var')).catch(() => [])).toEqual([]);
    }, 120_000);

    it('RUN --network: none and default have loopback only, host sees the host', async () => {
      const dockerfile = 'FROM busybox\nRUN --network=none ls /sys/class/net > /none\nRUN ls /sys/class/net > /default\nRUN --network=host ls /sys/class/net > /host\n';
      await buildIn(await context({ Dockerfile: dockerfile }), { tags: ['net:1'] });
      const out = path.join(work, 'net');
      await unpack(store, 'net:1', out);
      expect(await readFile(path.join(out, 'none'), 'utf8')).toBe('lo\n');
      expect(await readFile(path.join(out, 'default'), 'utf8')).toBe('lo\n');
      expect((await readFile(path.join(out, 'host'), 'utf8')).split('\n').filter(Boolean).sort()).toEqual((await readdir('/sys/class/net')).sort());
    }, 120_000);

    it('heredocs: RUN <<EOF runs the body as a script, COPY <<EOF writes a file', async () => {
      const dockerfile = 'FROM busybox\nRUN <<EOF\necho one > /h1\necho two >> /h1\nEOF\nRUN cat <<EOF > /h2\nhello $HOME\nEOF\nCOPY <<note.txt /notes/\nnote\nnote.txt\n';
      await buildIn(await context({ Dockerfile: dockerfile }), { tags: ['heredoc:1'] });
      const out = path.join(work, 'heredoc');
      await unpack(store, 'heredoc:1', out);
      expect(await readFile(path.join(out, 'h1'), 'utf8')).toBe('one\ntwo\n');
      expect(await readFile(path.join(out, 'h2'), 'utf8')).toBe('hello /root\n');
      expect(await readFile(path.join(out, 'notes', 'note.txt'), 'utf8')).toBe('note\n');
    }, 120_000);

    it('ONBUILD triggers fire in the child build and are not inherited further', async () => {
      await buildIn(await context({ Dockerfile: 'FROM busybox\nONBUILD RUN echo triggered > /trigger\n' }), { tags: ['parent:1'] });
      const child = await buildIn(await context({ Dockerfile: 'FROM parent:1\nRUN cat /trigger > /child\n' }), { tags: ['child:1'] });
      expect(child.log).toContain('# Executing 1 build trigger\n');
      const config = await configOf('child:1');
      expect(config.config?.OnBuild ?? null).toBeNull();
      const out = path.join(work, 'child');
      await unpack(store, 'child:1', out);
      expect(await readFile(path.join(out, 'child'), 'utf8')).toBe('triggered\n');
    }, 120_000);

    it('VOLUME: what a later RUN changes there is discarded, as docker does', async () => {
      await buildIn(await context({ Dockerfile: 'FROM busybox\nRUN mkdir /vol && echo before > /vol/f\nVOLUME /vol\nRUN echo after > /vol/f && echo outside > /outside\n' }), { tags: ['vol:1'] });
      const out = path.join(work, 'vol');
      await unpack(store, 'vol:1', out);
      expect(await readFile(path.join(out, 'vol', 'f'), 'utf8')).toBe('before\n');
      expect(await readFile(path.join(out, 'outside'), 'utf8')).toBe('outside\n');
    }, 120_000);
  });

  describe('the CLI', () => {
    async function run(args: string[], stdin?: Buffer): Promise<{ status: number; stdout: string; stderr: string }> {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      let err = '';
      stdout.on('data', (c: Buffer) => (out += c.toString()));
      stderr.on('data', (c: Buffer) => (err += c.toString()));
      const input = new PassThrough();
      input.end(stdin ?? Buffer.alloc(0));
      const status = await main(['--store', store.root, ...args], { stdout, stderr, stdin: input, env: { ...process.env, CAIRN_STORE: undefined, SOURCE_DATE_EPOCH: undefined } });
      return { status, stdout: out, stderr: err };
    }

    it('-t several, -q prints the ID only, -f - reads the Dockerfile from stdin', async () => {
      const dir = await context({ 'f.txt': 'f' });
      const r = await run(['build', '-q', '-t', 'cli:a', '-t', 'cli:b', '-f', '-', dir], Buffer.from('FROM scratch\nCOPY f.txt /\n'));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect((await store.getTag('cli:a'))?.digest).toBe((await store.getTag('cli:b'))?.digest);
    });

    it('build -f PATH - takes the Dockerfile from inside the context tar on stdin (xz-compressed here)', async () => {
      const dir = await context({ 'docker/App.Dockerfile': 'FROM scratch\nCOPY data.txt /from-tar\n', 'data.txt': 'in the tar' });
      const tar = spawnSync('tar', ['-C', dir, '-cJf', '-', '.']);
      expect(tar.status).toBe(0);
      const r = await run(['build', '-q', '-t', 'cli:tarfile', '-f', 'docker/App.Dockerfile', '-'], tar.stdout);
      expect([r.status, r.stderr]).toEqual([0, '']);
      const out = path.join(work, 'cli-tarfile');
      await unpack(store, 'cli:tarfile', out);
      expect(await readFile(path.join(out, 'from-tar'), 'utf8')).toBe('in the tar');
      const missing = await run(['build', '-f', 'nope/Dockerfile', '-'], tar.stdout);
      expect([missing.status, missing.stderr]).toEqual([1, 'Error: cannot read the Dockerfile nope/Dockerfile: no such file\n']);
    });

    it('--progress=tty draws a status line between log lines; plain and tty logs are the same text', async () => {
      const dir = await context({ 'f.txt': 'f', Dockerfile: 'FROM scratch\nCOPY f.txt /\nLABEL a=b\n' });
      expect((await run(['build', '-t', 'cli:progress', dir])).status).toBe(0);
      const plain = await run(['build', '--progress=plain', '-t', 'cli:progress', dir]);
      const tty = await run(['build', '--progress=tty', '-t', 'cli:progress', dir]);
      expect(plain.stdout).not.toContain('\x1b');
      expect(tty.stdout).toMatch(/\r\x1b\[2K\x1b\[2m\S Step 2\/3 : COPY f\.txt \/ \d+\.\ds\x1b\[0m/);
      expect(tty.stdout.replace(/\r\x1b\[2K(\x1b\[2m[^\x1b]*\x1b\[0m)?/g, '')).toBe(plain.stdout);
      expect((await run(['build', '--progress=fancy', dir])).status).toBe(2);
    });

    it('build - reads a context tar from stdin; --timestamp makes it reproducible; errors are one line', async () => {
      const chunks: Buffer[] = [];
      for await (const c of packTar([
        { entry: { path: 'Dockerfile', type: 'file' }, body: Buffer.from('FROM scratch\nCOPY x /\n') },
        { entry: { path: 'x', type: 'file' }, body: Buffer.from('x') },
      ]))
        chunks.push(c as Buffer);
      const tar = Buffer.concat(chunks);
      const a = await run(['build', '--timestamp', '1700000000', '--progress=plain', '-'], tar);
      expect(a.status).toBe(0);
      expect(a.stdout).toMatch(/Successfully built [0-9a-f]{12}\n$/);
      const b = await run(['build', '-q', '--no-cache', '--timestamp', '1700000000', '-'], tar);
      expect(a.stdout).toContain(`Successfully built ${b.stdout.slice(7, 19)}`);
      const bad = await cairn(store.root, 'build', await context({ Dockerfile: 'FROM scratch\nCOPY missing /\n' }));
      expect(bad.status).toBe(1);
      expect(bad.stderr).toBe('Error: Dockerfile:2: COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist\n');
      const usage = await run(['build']);
      expect(usage.status).toBe(2);
    });
  });
});

describe('errors', () => {
  it('isCairnError recognises build errors', () => {
    expect(isCairnError(new CairnError('not-found', 'x'), 'not-found')).toBe(true);
  });
});
