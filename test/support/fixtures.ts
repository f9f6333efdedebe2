/**
 * The real-tool fixture images built by `scripts/build-fixtures` (see spec-notes/fixtures.md),
 * as the test global setup left them: its directory and its parsed manifest.json.
 *
 * Never write into a fixture: copy it to a temp dir first. Paths in entries are absolute.
 *
 * Skip rule: a missing fixture set (tools missing, build failed) skips outside CI and throws in
 * CI. The Debian images are opt-in (CAIRN_FIXTURES_DEBIAN=1): without it they skip, even in CI.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inject, type TestContext } from 'vitest';
import { inCI } from './tools.js';

/** What the global setup hands to tests (vitest `provide`/`inject`). */
export interface FixtureState {
  /** The fixture directory, or null when no usable fixture set exists. */
  dir: string | null;
  /** Why `dir` is null, for skip messages. */
  reason: string;
  /** Whether the Debian images were asked for (CAIRN_FIXTURES_DEBIAN=1). */
  debianRequested: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    cairnFixtures: FixtureState;
  }
}

export type FixtureKind = 'oci' | 'oci-archive' | 'docker-archive' | 'dir';

/** One image of manifest.json, with `path` made absolute. */
export interface FixtureImage {
  name: string;
  /** Absolute path of the layout dir, archive file or `dir:` directory. */
  path: string;
  kind: FixtureKind;
  /** The tag in the layout's index.json (`org.opencontainers.image.ref.name`) or the archive's
   *  RepoTag; null for `dir`. */
  ref: string | null;
  /** Same digests on every build of the same fixture version on the same machine. */
  reproducible: boolean;
  mediaType: string;
  /** The manifest (or index) digest; null for docker-archive, which stores no manifest blob. */
  manifestDigest: string | null;
  /** Null for an index. */
  configDigest: string | null;
  /** Layer digests as stored (docker-archive: uncompressed tars, so equal to diffIds). */
  layers: string[];
  diffIds: string[];
  /** Only for an index: its entries. */
  manifests?: { digest: string; mediaType: string; platform?: { os: string; architecture: string; variant?: string } }[];
}

/** The parsed manifest.json. */
export interface FixtureSet {
  dir: string;
  versions: { busybox: number; debian: number };
  /** Root filesystems the images were made from (absolute paths). */
  rootfs: { busybox: string };
  images: Record<string, FixtureImage>;
}

/** Image names that are only built with CAIRN_FIXTURES_DEBIAN=1. */
/** The busybox fixture images kept in OCI layouts: every one of them unpacks with cairn and umoci. */
export const BUSYBOX_LAYOUT_IMAGES = [
  'busybox/oci-umoci:1',
  'busybox/oci-umoci:2',
  'busybox/oci-umoci:3',
  'busybox/oci-umoci-insert:1',
  'busybox/oci-buildah-det:1',
  'busybox/oci-built:1',
  'busybox/oci-committed:1',
  'busybox/oci-zstd:3',
  'busybox/oci-uncompressed:3',
] as const;

export const OPTIONAL_FIXTURES = ['debian/oci-umoci:bookworm', 'debian/oci-umoci:bookworm-v2'] as const;

/** Reads `<dir>/manifest.json`. Usable outside vitest (benchmarks, scripts). */
export function loadFixtures(dir: string): FixtureSet {
  const raw = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    manifestVersion: number;
    versions: FixtureSet['versions'];
    rootfs: FixtureSet['rootfs'];
    images: Record<string, Omit<FixtureImage, 'name'>>;
  };
  if (raw.manifestVersion !== 1) throw new Error(`${dir}/manifest.json: unknown manifestVersion ${raw.manifestVersion}`);
  const images: Record<string, FixtureImage> = {};
  for (const [name, e] of Object.entries(raw.images)) images[name] = { ...e, name, path: path.join(dir, e.path) };
  return { dir, versions: raw.versions, rootfs: { busybox: path.join(dir, raw.rootfs.busybox) }, images };
}

let cached: { set: FixtureSet | null; reason: string; debianRequested: boolean } | undefined;

function state(): { set: FixtureSet | null; reason: string; debianRequested: boolean } {
  if (cached) return cached;
  const s = inject('cairnFixtures');
  if (!s) {
    cached = { set: null, reason: 'the vitest global setup did not run (test/global-setup.ts)', debianRequested: false };
  } else if (!s.dir || !existsSync(path.join(s.dir, 'manifest.json'))) {
    cached = { set: null, reason: s.reason || `no manifest.json in ${s.dir}`, debianRequested: s.debianRequested };
  } else {
    cached = { set: loadFixtures(s.dir), reason: '', debianRequested: s.debianRequested };
  }
  return cached;
}

/** The fixture set, or null (with the reason) when it is unavailable. Never throws for absence. */
export function fixtures(): { set: FixtureSet | null; reason: string } {
  const { set, reason } = state();
  return { set, reason };
}

/** Why `name` cannot be used, or null if it can. Throws for names no build ever produces. */
function unavailable(name: string): { reason: string; optional: boolean } | null {
  const { set, reason, debianRequested } = state();
  const optional = (OPTIONAL_FIXTURES as readonly string[]).includes(name) && !debianRequested;
  if (!set) return { reason: `fixtures unavailable: ${reason}`, optional };
  if (set.images[name]) return null;
  if (optional) return { reason: `fixture ${name} needs CAIRN_FIXTURES_DEBIAN=1`, optional };
  if (name.startsWith('busybox/') || name.startsWith('debian/')) return { reason: `fixture ${name} was not built`, optional };
  throw new Error(`unknown fixture ${name}; known: ${Object.keys(set.images).join(', ')}`);
}

/**
 * For `describe.skipIf(...)`: true (skip, with a warning) when any of `names` is unavailable
 * (no names: the fixture set itself); in CI it throws instead, except for the opt-in Debian
 * images.
 *
 * @example
 * describe.skipIf(skipWithoutFixtures('busybox/oci-umoci:3'))('unpack', () => {
 *   it('...', () => { const img = fixture('busybox/oci-umoci:3'); ... });
 * });
 */
export function skipWithoutFixtures(...names: string[]): boolean {
  const { set, reason } = state();
  const checks = names.length > 0 ? names.map(unavailable) : [set ? null : { reason: `fixtures unavailable: ${reason}`, optional: false }];
  const missing = checks.filter((c) => c !== null);
  if (missing.length === 0) return false;
  const hard = missing.find((m) => !m.optional);
  if (hard && inCI) throw new Error(`${hard.reason} — tests cannot be skipped in CI`);
  console.warn(`skipping: ${missing.map((m) => m.reason).join('; ')}`);
  return true;
}

/**
 * The manifest entry for `name`. When it is unavailable: with a test context, skips the test
 * (throws in CI, except for opt-in images); without one, throws — call it under
 * `skipWithoutFixtures` or pass `ctx`.
 */
export function fixture(name: string, ctx?: TestContext): FixtureImage {
  const why = unavailable(name);
  if (!why) return state().set!.images[name]!;
  if (ctx && (why.optional || !inCI)) ctx.skip(why.reason);
  throw new Error(inCI && !why.optional ? `${why.reason} — tests cannot be skipped in CI` : why.reason);
}

/** The skopeo/containers-image transport reference for an entry (e.g. `oci:/abs/dir:3`). */
export function transportRef(img: FixtureImage): string {
  switch (img.kind) {
    case 'oci':
    case 'oci-archive':
      return `${img.kind}:${img.path}:${img.ref}`;
    case 'docker-archive':
      return `docker-archive:${img.path}`;
    case 'dir':
      return `dir:${img.path}`;
  }
}
