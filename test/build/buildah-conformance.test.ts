/**
 * The buildah conformance cases (../shared/conformance/buildah, see its NOTES.md) built by
 * cairn and by `podman build` (hermetic storage, `--pull=never`, no network), compared:
 *
 * - the file tree: every path with its type, permission bits, owner, size, content sha256 and
 *   link target (podman's side read through `podman image mount`, cairn's unpacked with
 *   `unpack`); times are not compared (buildah's own suite skips most directory mtimes too);
 * - the config fields Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels (less
 *   buildah's `io.buildah.version`), Volumes, StopSignal;
 * - cases that must fail (`shouldFailAt`): both fail, and cairn's error names that line.
 *
 * Runnable cases: every base is `scratch`, `mirror.gcr.io/busybox` (the busybox fixture,
 * stored under that name on both sides) or a stage of the same Dockerfile; the context is
 * data (no `tweakContextDir`); the Dockerfile text was extracted. `CI_CASES` below is the
 * subset run by default (one per behaviour, to keep the suite short); `CAIRN_BUILDAH_ALL=1`
 * runs every runnable case. `PODMAN_CANNOT` lists cases podman 4.3 cannot build here (only
 * cairn's outcome is checked), `KNOWN_DIFFERENCES` the ones where cairn knowingly differs, each
 * with the reason and the exact difference (also in spec-notes/dockerfile.md).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/builder.js';
import { isCairnError } from '../../src/errors.js';
import { readConfig } from '../../src/image/list.js';
import { resolveImage } from '../../src/image/resolve.js';
import { unpack } from '../../src/layer/unpack.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { fixture, skipWithoutFixtures } from '../support/fixtures.js';
import { hermeticContainersEnv, REPO_ROOT, skipWithoutTools } from '../support/tools.js';

const run = promisify(execFile);
const BUILDAH = path.resolve(REPO_ROOT, '..', 'shared', 'conformance', 'buildah');
const BUSYBOX = 'busybox/oci-umoci:1';
const BUSYBOX_NAME = 'mirror.gcr.io/busybox';
const RUN_ALL = process.env.CAIRN_BUILDAH_ALL === '1';

interface Case {
  name: string;
  dockerfilePath: string;
  contextPath?: string;
  baseImages?: string[];
  hasRUN?: boolean;
  buildArgs?: Record<string, string>;
  shouldFailAt?: number;
  tweakContextDir?: string;
  dockerfileContents_unextracted?: unknown;
}

/** The default subset: each a different behaviour (see the module comment). */
const CI_CASES = new Set([
  'copy file to root',
  'copy folder contents to higher level',
  'copy wildcard folder contents to higher level',
  'copy file to deeper directory without explicit slash',
  'copy directory to root without explicit slash',
  'directory with slash',
  'edgecases',
  'exposed default',
  'add',
  'volume',
  'multi-stage-derived',
  'dockerfile-in-subdirectory',
  'from-scratch-simple-file',
  'copy-multiple-some-missing',
  'copy-multiple-some-missing-glob',
  'file-in-workdir-in-other-stage',
  'copy-integration2',
  'dockerignore-minimal-test',
  'env-escaped-list',
  'env-invalid-ssquote',
  'add-archive-3',
  'add-archive-7',
  'dockerignore-allowlist-subdir-nofile-dir',
  'dockerignore-allowlist-subsubdir-file',
  'dockerignore-allowlist-alternating',
  'replace-symlink-with-directory',
  'workdir with trailing separator',
  'copyglob-3',
  'stage arg overrides header arg in same stage',
]);

/**
 * Cases podman 4.3 (buildah 1.28) cannot build here, so there is nothing to compare with: what
 * cairn is expected to do instead ('builds', or 'fails' like podman), and why.
 */
const PODMAN_CANNOT: Readonly<Record<string, { cairn: 'builds' | 'fails'; why: string }>> = {
  add: { cairn: 'fails', why: 'ADD of a URL: no network here (cairn refuses remote sources)' },
  mount: { cairn: 'fails', why: 'needs the volume the Go test mounts with -v' },
  'transient-mount': { cairn: 'fails', why: 'needs the volumes the Go test mounts with -v' },
  'mount-targets-new': { cairn: 'fails', why: 'its context lost the helper binary `true` (removed from the data)' },
  'mount-targets-old': { cairn: 'fails', why: 'its context lost the helper binary `true` (removed from the data)' },
  'mount-targets-mount': { cairn: 'fails', why: 'its context lost the helper binary `true` (removed from the data)' },
  'copyglob-4': { cairn: 'fails', why: 'buildah errors on the pattern ("Rel: can\'t make relative"); with ** as * it matches nothing' },
  'heredoc-copy': { cairn: 'builds', why: 'buildah 1.28 has no COPY heredocs' },
  'heredoc-quoting': { cairn: 'builds', why: 'buildah 1.28 fails on the heredoc ENV lines' },
  ...Object.fromEntries(
    [
      'add--exclude-includes-star',
      'add--exclude-includes-slash',
      'add--exclude-includes-dot',
      'copy--exclude-includes-subdir-slash',
      'copy--exclude-includes-dot-slash',
      'copy--exclude-includes-slash',
      'copy--exclude-subdir-under-source',
      'copy--form-and--exclude-subdir-under-source',
      'copy--exclude-exception-under-source',
    ].map((name) => [name, { cairn: 'builds' as const, why: 'buildah 1.28 has no --exclude' }]),
  ),
  ...Object.fromEntries(
    [
      'copy--parents',
      'copy--parents-directories',
      'copy--parents-all-directories',
      'copy--parents-directory-with-parent-directory',
      'copy--parents-path-with-star',
      'copy--parents-two-parent-directories',
      'copy--parents-unknown-count-parent-directories',
      'copy--parents-directory-limit-parents-unknown-count-parent-directories',
      'copy--parents-limit-parents-unknown-count-parent-directories',
      'copy--parents-limit-parent-directories',
      'copy--parents-limit-parent-directories-1',
    ].map((name) => [name, { cairn: 'builds' as const, why: 'buildah 1.28 has no --parents' }]),
  ),
};

/**
 * What cairn makes of the cases podman cannot build: the paths of the result (for busybox-based
 * cases, those the base lacks), following BuildKit's documented semantics for `--parents` (the
 * source's path below the destination, from a `/./` pivot when there is one), `--exclude`
 * (patterns matched relative to the source, `!` exceptions) and heredocs.
 */
const P = (dir: string, ...names: string[]): string[] => names.map((n) => `${dir}/${n}`);
const POPULATED_BUT = (excluded: string[]): string[] =>
  [
    'subdir',
    ...P('subdir', '.dotfile-a.txt', 'file-a.txt', 'file-b.txt', 'file-c.txt', 'subdir-b', 'subdir-b/.dotfile-b.txt', 'subdir-c', 'subdir-c/file-b.txt', 'subdir-c/file-c.txt'),
    ...P('subdir/subdir-e', '', 'file-a.txt', 'file-b.txt', 'file-n.txt', 'subdir-f', 'subdir-f/file-a.txt', 'subdir-f/file-n.txt', 'subdir-f/file-o.txt', 'subdir-f/subdir-g', 'subdir-f/subdir-g/subdir-b'),
  ]
    .map((p) => p.replace(/\/$/, ''))
    .filter((p) => !excluded.some((x) => p === `subdir/${x}` || p.startsWith(`subdir/${x}/`)));
const X_TREE = ['a.txt', 'y', 'y/a.txt', 'y/b.txt', 'z', 'z/a.txt', 'z/b.txt'];
const EXPECTED_PATHS: Readonly<Record<string, readonly string[]>> = {
  'copy--parents': ['no_parents', 'no_parents/a.txt', 'parents', 'parents/x', 'parents/x/a.txt', 'parents/y', 'parents/y/a.txt'],
  'copy--parents-directories': ['parents', 'parents/x', ...P('parents/x', ...X_TREE)],
  'copy--parents-all-directories': ['parents', 'parents/x', ...P('parents/x', ...X_TREE), 'parents/y', 'parents/y/a.txt', 'parents/y/b.txt'],
  'copy--parents-directory-with-parent-directory': ['parents', 'parents/x', 'parents/x/y', 'parents/x/y/a.txt', 'parents/x/y/b.txt'],
  'copy--parents-path-with-star': ['parents', 'parents/x', 'parents/x/y', 'parents/x/y/a.txt', 'parents/x/z', 'parents/x/z/a.txt', 'parents/y', 'parents/y/b.txt'],
  'copy--parents-two-parent-directories': ['parents', 'parents/x', 'parents/x/y', 'parents/x/y/a.txt', 'parents/x/y/b.txt'],
  'copy--parents-unknown-count-parent-directories': ['parents', 'parents/x', ...P('parents/x', ...X_TREE)],
  'copy--parents-directory-limit-parents-unknown-count-parent-directories': ['parents', ...P('parents', ...X_TREE)],
  'copy--parents-limit-parents-unknown-count-parent-directories': ['parents', ...P('parents', ...X_TREE)],
  'copy--parents-limit-parent-directories': ['parents', 'parents/y', 'parents/y/a.txt', 'parents/y/b.txt'],
  'copy--parents-limit-parent-directories-1': ['parents', 'parents/a.txt', 'parents/b.txt'],
  'add--exclude-includes-star': POPULATED_BUT(['subdir-c']),
  'add--exclude-includes-slash': POPULATED_BUT(['.dotfile-a.txt', 'file-a.txt', 'file-b.txt', 'file-c.txt']),
  'add--exclude-includes-dot': POPULATED_BUT(['subdir-c']),
  'copy--exclude-includes-subdir-slash': POPULATED_BUT(['subdir-c']),
  'copy--exclude-includes-dot-slash': POPULATED_BUT([]),
  'copy--exclude-includes-slash': POPULATED_BUT([]),
  'copy--exclude-subdir-under-source': ['app', 'app/storage', 'app/storage/cache', 'app/storage/cache/cache_file'],
  'copy--form-and--exclude-subdir-under-source': ['app', 'app/storage', 'app/storage/cache', 'app/storage/cache/cache_file'],
  'copy--exclude-exception-under-source': ['app', 'app/storage', 'app/storage/cache', 'app/storage/cache/cache_file', 'app/storage/views', 'app/storage/views/exception'],
  'heredoc-copy': ['test', 'test/file', 'test/humans.txt', 'test/robots.txt', 'test2', 'test2/humans.txt', 'test2/image_file', 'test2/robots.txt'],
};

type Tree = Record<string, TreeEntry>;

/**
 * Cases where cairn knowingly differs from podman: the difference, as a function that maps
 * podman's tree onto what cairn makes (anything else must still match), and why.
 */
const KNOWN_DIFFERENCES: Readonly<Record<string, { why: string; adjust: (theirs: Tree, ours: Tree) => Tree }>> = {
  ...Object.fromEntries(
    ['dockerignore-minimal-test', 'dockerignore-allowlist-subsubdir-file', 'dockerignore-allowlist-alternating'].map((name) => [
      name,
      {
        why: 'a directory .dockerignore excludes but an exception keeps a file in: buildah makes it 0755, cairn (like BuildKit\'s walker) keeps the directory\'s own mode',
        adjust: (theirs: Tree, ours: Tree): Tree =>
          Object.fromEntries(
            Object.entries(theirs).map(([p, e]) => [p, e.type === 'dir' && e.mode === 0o755 && ours[p]?.type === 'dir' ? { ...e, mode: ours[p]!.mode } : e]),
          ),
      },
    ]),
  ),
  'tar-g': {
    why: 'buildah makes /tmp for the archive\'s global PAX header (named /tmp/GlobalHead…); a global header is no file',
    adjust: (theirs: Tree): Tree => Object.fromEntries(Object.entries(theirs).filter(([p]) => p !== 'tmp')),
  },
};

function stageNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)/gim)) out.add((m[1] as string).toLowerCase());
  return out;
}

function runnable(c: Case): boolean {
  if (c.tweakContextDir || c.dockerfileContents_unextracted) return false;
  const file = path.join(BUILDAH, c.dockerfilePath);
  if (!existsSync(file)) return false;
  const stages = stageNames(readFileSync(file, 'utf8'));
  return (c.baseImages ?? []).every((b) => b === 'scratch' || b === BUSYBOX_NAME || stages.has(b.toLowerCase()));
}

const ALL: Case[] = existsSync(path.join(BUILDAH, 'cases.json')) ? (JSON.parse(readFileSync(path.join(BUILDAH, 'cases.json'), 'utf8')) as Case[]) : [];
// The cases podman cannot build cost no podman run: always in.
const CASES = ALL.filter(runnable).filter((c) => RUN_ALL || CI_CASES.has(c.name) || c.name in PODMAN_CANNOT);

interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
}

/** Every path under `root` (not `/dev`, `/proc`, `/sys`: mount points podman's storage shows). */
async function tree(root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(abs);
      const entry: TreeEntry = {
        type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other',
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
      };
      if (st.isFile()) {
        entry.size = st.size;
        entry.sha256 = createHash('sha256').update(await readFile(abs)).digest('hex');
      }
      if (st.isSymbolicLink()) entry.link = await readlink(abs);
      out[r] = entry;
      if (st.isDirectory()) await walk(abs, r);
    }
  };
  await walk(root, '');
  return out;
}

/**
 * What podman's RUN leaves in committed layers on its own (its `/etc/hostname`, `/etc/hosts`,
 * `/etc/resolv.conf`, `/run/.containerenv`…; see ../shared/README.md): ignored when only
 * podman's tree has them.
 */
const PODMAN_OWN = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'etc/mtab', 'run', 'run/.containerenv', 'run/secrets'];

function withoutPodmanOwn(theirs: Record<string, TreeEntry>, ours: Record<string, TreeEntry>): Record<string, TreeEntry> {
  const out = { ...theirs };
  for (const p of PODMAN_OWN) if (!(p in ours)) delete out[p];
  return out;
}

const CONFIG_FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Labels', 'Volumes', 'StopSignal'] as const;

function configFields(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of CONFIG_FIELDS) {
    let value = config?.[field];
    if (field === 'Labels' && value && typeof value === 'object') {
      const { 'io.buildah.version': _v, ...rest } = value as Record<string, string>;
      value = rest;
    }
    const empty = value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
    if (!empty) out[field] = value;
  }
  return out;
}

describe.skipIf(process.getuid?.() !== 0 || skipWithoutTools('podman', 'skopeo', 'runc') || skipWithoutFixtures(BUSYBOX) || ALL.length === 0)('buildah conformance: cairn build vs podman build', () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let store: Store;
  const podman = async (...args: string[]): Promise<{ stdout: string; stderr: string }> => run('podman', args, { env, maxBuffer: 64 << 20 });

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cairn-buildah-'));
    env = { ...process.env, ...hermeticContainersEnv(path.join(work, 'containers')) };
    const img = fixture(BUSYBOX);
    await run('skopeo', ['--tmpdir', env.TMPDIR ?? work, 'copy', '-q', `oci:${img.path}:${img.ref}`, `containers-storage:${BUSYBOX_NAME}:latest`], { env });
    store = await Store.open(path.join(work, 'store'));
    await copy(`oci:${img.path}:${img.ref}`, `${BUSYBOX_NAME}:latest`, { store });
  }, 120_000);

  afterAll(async () => {
    if (env) await podman('system', 'reset', '-f').catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  let basePaths: Set<string> | undefined;
  async function busyboxPaths(): Promise<Set<string>> {
    if (!basePaths) {
      const dir = path.join(work, 'busybox');
      await unpack(store, `${BUSYBOX_NAME}:latest`, dir);
      basePaths = new Set(Object.keys(await tree(dir)));
    }
    return basePaths;
  }

  it('selects the runnable cases', () => {
    expect(ALL.filter(runnable).length).toBeGreaterThan(90);
    expect(CASES.length).toBeGreaterThan(RUN_ALL ? 90 : 20);
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const known = KNOWN_DIFFERENCES[c.name];
    const cannot = PODMAN_CANNOT[c.name];
    const dockerfile = path.join(BUILDAH, c.dockerfilePath);
    let context = c.contextPath ? path.join(BUILDAH, c.contextPath) : path.join(work, `empty-${i}`);
    if (!c.contextPath) await mkdir(context, { recursive: true });
    const tag = `conformance/case-${i}:latest`;
    const args = Object.entries(c.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);

    let podmanError: unknown;
    if (!cannot) {
      try {
        await podman('build', '--pull=never', '--network=none', '-q', '-f', dockerfile, '-t', tag, ...args, context);
      } catch (err) {
        podmanError = err;
      }
    }
    let cairnError: unknown;
    try {
      await build(store, { contextDir: context, dockerfile, tags: [tag], ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}) });
    } catch (err) {
      cairnError = err;
    }

    if (cannot) {
      if (cannot.cairn === 'fails') {
        expect(cairnError, 'cairn should fail').toBeDefined();
        return;
      }
      expect(cairnError, String(cairnError)).toBeUndefined();
      const expected = EXPECTED_PATHS[c.name];
      if (expected) {
        const ours = path.join(work, `cairn-${i}`);
        await unpack(store, tag, ours);
        const base = await busyboxPaths();
        expect(Object.keys(await tree(ours)).filter((p) => !base.has(p)).sort()).toEqual([...expected].sort());
      }
      return;
    }
    if (c.shouldFailAt !== undefined) {
      expect(podmanError, 'podman should fail').toBeDefined();
      expect(cairnError, 'cairn should fail').toBeDefined();
      expect(isCairnError(cairnError) && cairnError.message, String(cairnError)).toMatch(new RegExp(`:${c.shouldFailAt}: `));
      return;
    }
    expect(podmanError, `podman failed: ${String((podmanError as { stderr?: string })?.stderr ?? podmanError)}`).toBeUndefined();
    expect(cairnError, String(cairnError)).toBeUndefined();

    const mounted = (await podman('image', 'mount', tag)).stdout.trim();
    try {
      const theirs = await tree(mounted);
      const ours = path.join(work, `cairn-${i}`);
      await unpack(store, tag, ours);
      const ourTree = await tree(ours);
      const expected = withoutPodmanOwn(theirs, ourTree);
      expect(ourTree).toEqual(known ? known.adjust(expected, ourTree) : expected);
    } finally {
      await podman('image', 'unmount', tag).catch(() => undefined);
    }
    const theirConfig = JSON.parse((await podman('image', 'inspect', '--format', '{{json .Config}}', tag)).stdout) as Record<string, unknown>;
    const ourConfig = (await readConfig(store, await resolveImage(store, tag))).config as Record<string, unknown> | undefined;
    expect(configFields(ourConfig)).toEqual(configFields(theirConfig));
    context = '';
  }, 120_000);
});
