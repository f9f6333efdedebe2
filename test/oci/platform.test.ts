import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CairnError } from '../../src/errors.js';
import {
  MediaType,
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
  type Descriptor,
  type ImageIndex,
  type Platform,
} from '../../src/oci/index.js';
import { parseDigest } from '../../src/digest/index.js';

describe('parsePlatform', () => {
  test('os/arch and os/arch/variant', () => {
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('Linux/ARM/V7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  test('aliases become Go names', () => {
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/i386')).toEqual({ os: 'linux', architecture: '386' });
    expect(parsePlatform('linux/armhf')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/armel')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(parsePlatform('macos/arm64')).toEqual({ os: 'darwin', architecture: 'arm64' });
  });

  test.each(['linux', 'amd64', '', 'linux/', '/amd64', 'linux/amd64/v8/x', 'linux/am d64', 'linux/*'])(
    'refuses %j with an error naming it',
    (input) => {
      try {
        parsePlatform(input);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CairnError);
        expect((err as CairnError).code).toBe('invalid-argument');
        expect((err as CairnError).message).toContain(`"${input}"`);
        expect((err as CairnError).data).toEqual({ value: input });
      }
    },
  );

  const word = fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,11}$/);
  const canonical = fc
    .record({
      os: word.filter((w) => w !== 'macos'),
      architecture: word.filter((w) => !['x86_64', 'x86-64', 'aarch64', 'i386', 'armhf', 'armel'].includes(w)),
      variant: fc.option(word, { nil: undefined }),
    })
    .map(({ variant, ...p }): Platform => (variant === undefined ? p : { ...p, variant }));

  test('property: parsePlatform(formatPlatform(p)) is p for a platform in canonical form', () => {
    fc.assert(
      fc.property(canonical, (p) => {
        expect(parsePlatform(formatPlatform(p))).toEqual(p);
      }),
      { numRuns: 1000 },
    );
  });

  test('property: formatting a parsed specifier and parsing it again changes nothing', () => {
    const anyWord = fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/);
    const specifier = fc
      .tuple(anyWord, fc.oneof(anyWord, fc.constantFrom('x86_64', 'aarch64', 'armhf', 'armel', 'i386')), fc.option(anyWord))
      .map(([os, arch, variant]) => (variant === null ? `${os}/${arch}` : `${os}/${arch}/${variant}`));
    fc.assert(
      fc.property(specifier, (s) => {
        const once = parsePlatform(s);
        expect(parsePlatform(formatPlatform(once))).toEqual(once);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('normalisation and matching (containerd)', () => {
  const p = (s: string): Platform => parsePlatform(s);

  test('default variants equal no variant', () => {
    expect(platformMatches(p('linux/arm64'), p('linux/arm64/v8'))).toBe(true);
    expect(platformMatches(p('linux/arm64/v8'), p('linux/arm64'))).toBe(true);
    expect(platformMatches(p('linux/amd64'), p('linux/amd64/v1'))).toBe(true);
    expect(platformMatches(p('linux/arm'), p('linux/arm/v7'))).toBe(true);
    expect(platformMatches(p('linux/arm/7'), p('linux/arm/v7'))).toBe(true);
    expect(platformMatches(p('linux/aarch64'), p('linux/arm64/v8'))).toBe(true);
  });

  test('different variants, architectures or systems do not match', () => {
    expect(platformMatches(p('linux/arm/v7'), p('linux/arm/v6'))).toBe(false);
    expect(platformMatches(p('linux/amd64/v3'), p('linux/amd64'))).toBe(false);
    expect(platformMatches(p('linux/amd64'), p('windows/amd64'))).toBe(false);
    expect(platformMatches(p('linux/amd64'), p('linux/arm64'))).toBe(false);
  });

  test('a candidate may need only OS features the wanted platform has', () => {
    const want: Platform = { os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] };
    expect(platformMatches(want, { os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] })).toBe(true);
    expect(platformMatches({ os: 'windows', architecture: 'amd64' }, want)).toBe(false);
  });

  test('Windows compares os.version up to the build number', () => {
    const w = (v: string): Platform => ({ os: 'windows', architecture: 'amd64', 'os.version': v });
    expect(platformMatches(w('10.0.17763.1'), w('10.0.17763.2000'))).toBe(true);
    expect(platformMatches(w('10.0.17763.1'), w('10.0.20348.1'))).toBe(false);
  });

  test('normalizePlatform', () => {
    expect(normalizePlatform({ os: 'Linux', architecture: 'aarch64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  test('compatible platforms, best first (containerd platformVector)', () => {
    expect(compatiblePlatforms(p('linux/amd64/v3')).map(formatPlatform)).toEqual([
      'linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64/v1', 'linux/386',
    ]);
    expect(compatiblePlatforms(p('linux/arm64')).map(formatPlatform)).toEqual([
      'linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5',
    ]);
    expect(compatiblePlatforms(p('linux/arm/v6')).map(formatPlatform)).toEqual(['linux/arm/v6', 'linux/arm/v5']);
    expect(compatiblePlatforms(p('linux/arm64/v9.1')).map(formatPlatform).slice(0, 4)).toEqual([
      'linux/arm64/v9.1', 'linux/arm64/v9', 'linux/arm64/v8.6', 'linux/arm64/v8.5',
    ]);
  });
});

describe('selectManifest', () => {
  const digest = (n: number): ReturnType<typeof parseDigest> => parseDigest(`sha256:${String(n).padStart(64, '0')}`);
  const entry = (n: number, platform?: Platform): Descriptor => ({
    mediaType: MediaType.OciManifest,
    size: 100,
    digest: digest(n),
    ...(platform ? { platform } : {}),
  });
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      entry(1, { os: 'linux', architecture: 'amd64' }),
      entry(2, { os: 'linux', architecture: 'arm', variant: 'v6' }),
      entry(3, { os: 'linux', architecture: 'arm', variant: 'v7' }),
      entry(4, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      entry(5),
      entry(6, { os: 'unknown', architecture: 'unknown' }),
    ],
  };

  test('an exact match', () => {
    expect(selectManifest(index, parsePlatform('linux/arm64')).digest).toBe(digest(4));
    expect(selectManifest(index, parsePlatform('linux/arm/v7')).digest).toBe(digest(3));
    expect(selectManifest(index, parsePlatform('linux/amd64')).digest).toBe(digest(1));
  });

  test('the best compatible platform when there is no exact one', () => {
    expect(selectManifest(index, parsePlatform('linux/amd64/v3')).digest).toBe(digest(1));
    const armOnly: ImageIndex = { schemaVersion: 2, manifests: index.manifests.slice(1, 3) };
    expect(selectManifest(armOnly, parsePlatform('linux/arm64')).digest).toBe(digest(3));
    expect(() => selectManifest(armOnly, parsePlatform('linux/arm64'), { compatible: false })).toThrow(CairnError);
  });

  test('not found lists what the index has', () => {
    try {
      selectManifest(index, parsePlatform('linux/s390x'));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CairnError);
      const e = err as CairnError;
      expect(e.code).toBe('not-found');
      expect(e.message).toBe(
        'no manifest for linux/s390x in the index; it has linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, unknown/unknown',
      );
      expect(e.data).toEqual({
        platform: 'linux/s390x',
        available: ['linux/amd64', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm64/v8', 'unknown/unknown'],
      });
    }
  });
});

describe('hostPlatform', () => {
  test.each([
    [{ platform: 'linux', arch: 'x64' }, { os: 'linux', architecture: 'amd64' }],
    [{ platform: 'linux', arch: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    [{ platform: 'linux', arch: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ platform: 'linux', arch: 'arm', armVersion: '6' }, { os: 'linux', architecture: 'arm', variant: 'v6' }],
    [{ platform: 'win32', arch: 'ia32' }, { os: 'windows', architecture: '386' }],
    [{ platform: 'darwin', arch: 'arm64' }, { os: 'darwin', architecture: 'arm64', variant: 'v8' }],
    [{ platform: 'linux', arch: 'ppc64' }, { os: 'linux', architecture: 'ppc64le' }],
    [{ platform: 'aix', arch: 'ppc64' }, { os: 'aix', architecture: 'ppc64' }],
    [{ platform: 'linux', arch: 's390x' }, { os: 'linux', architecture: 's390x' }],
    [{ platform: 'linux', arch: 'mips64el' }, { os: 'linux', architecture: 'mips64le' }],
    [{ platform: 'linux', arch: 'riscv64' }, { os: 'linux', architecture: 'riscv64' }],
    [{ platform: 'sunos', arch: 'x64' }, { os: 'solaris', architecture: 'amd64' }],
  ])('%j → %j', (info, expected) => {
    expect(hostPlatform(info)).toEqual(expected);
  });

  test('this process', () => {
    const host = hostPlatform();
    expect(host.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
    expect(typeof host.architecture).toBe('string');
  });
});
