// Tags as index.json entries (withTag/withoutTag invariants, as property tests) and image
// references (parseReference on a table of valid and invalid names; format∘parse round trip).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/index.js';
import { isCairnError } from '../../src/errors.js';
import type { Descriptor } from '../../src/oci/index.js';
import { formatReference, parseReference, splitTagged, tagged, type Reference } from '../../src/store/reference.js';
import { REF_NAME_ANNOTATION, refNameOf, tagRecords, withTag, withoutTag } from '../../src/store/tags.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const digestN = (n: number): Digest => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;

// ---------------------------------------------------------------------------------------------
// withTag / withoutTag

type Op = { kind: 'tag'; key: string | undefined; image: number; extra: boolean } | { kind: 'untag'; key: string };

const KEYS = ['a:latest', 'a:1', 'b:latest', 'localhost:5000/c/d:x'];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tag' as const), key: fc.option(fc.constantFrom(...KEYS), { nil: undefined }), image: fc.integer({ min: 1, max: 5 }), extra: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('untag' as const), key: fc.constantFrom(...KEYS) }) },
);

/** The descriptor of image n; `extra` adds annotations, including a stale ref.name that must not leak. */
function descriptorOf(image: number, extra: boolean): Descriptor {
  return {
    mediaType: MANIFEST,
    digest: digestN(image),
    size: 100 + image,
    ...(extra ? { annotations: { 'org.example.note': `n${image}`, [REF_NAME_ANNOTATION]: 'stale:name' } } : {}),
  };
}

/** Invariants of every index.json we produce. */
function checkInvariants(manifests: readonly Descriptor[]): void {
  const names = manifests.map(refNameOf).filter((n): n is string => n !== undefined);
  // A tag names exactly one entry.
  expect(new Set(names).size).toBe(names.length);
  // Entries are never duplicated; an untagged entry is the only entry for its digest.
  for (const d of manifests) {
    if (refNameOf(d) === undefined) expect(manifests.filter((m) => m.digest === d.digest)).toHaveLength(1);
  }
  expect(names.every((n) => KEYS.includes(n))).toBe(true);
}

describe('withTag / withoutTag (properties)', () => {
  it('keep their invariants over any sequence of tag and untag operations', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        let manifests: Descriptor[] = [];
        for (const op of ops) {
          const before = manifests;
          const snapshot = JSON.stringify(before);
          const digestsBefore = new Set(before.map((d) => d.digest));
          if (op.kind === 'tag') {
            const descriptor = descriptorOf(op.image, op.extra);
            manifests = withTag(before, op.key, descriptor);
            // Tagging never loses an image: every digest is still there, plus the new one.
            for (const d of digestsBefore) expect(manifests.some((m) => m.digest === d)).toBe(true);
            expect(manifests.some((m) => m.digest === descriptor.digest)).toBe(true);
            if (op.key !== undefined) {
              const entry = manifests.find((m) => refNameOf(m) === op.key);
              expect(entry?.digest).toBe(descriptor.digest);
              expect(entry?.size).toBe(descriptor.size);
              if (op.extra) expect(entry?.annotations?.['org.example.note']).toBe(`n${op.image}`);
              // Other tags did not move.
              for (const old of before) {
                const name = refNameOf(old);
                if (name !== undefined && name !== op.key) expect(manifests.find((m) => refNameOf(m) === name)?.digest).toBe(old.digest);
              }
              // A moved tag leaves the old image as an untagged entry, unless another entry still references it.
              const previous = before.find((m) => refNameOf(m) === op.key);
              if (previous && previous.digest !== descriptor.digest) {
                const others = manifests.filter((m) => m.digest === previous.digest);
                const stillTagged = before.some((m) => m.digest === previous.digest && refNameOf(m) !== undefined && refNameOf(m) !== op.key);
                if (stillTagged) expect(others.every((m) => refNameOf(m) !== undefined)).toBe(true);
                else expect(others.map(refNameOf)).toEqual([undefined]);
              }
            } else {
              // Keeping an image untagged adds an entry only when nothing references it yet.
              expect(manifests.length).toBe(before.length + (digestsBefore.has(descriptor.digest) ? 0 : 1));
            }
          } else {
            manifests = withoutTag(before, op.key);
            expect(manifests.some((m) => refNameOf(m) === op.key)).toBe(false);
            expect(manifests).toEqual(before.filter((m) => refNameOf(m) !== op.key));
          }
          checkInvariants(manifests);
          // Pure: the input list is left as it was.
          expect(JSON.stringify(before)).toBe(snapshot);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('re-tagging an image with the tag it already has changes nothing', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 20 }), fc.constantFrom(...KEYS), fc.integer({ min: 1, max: 5 }), (ops, key, image) => {
        let manifests: Descriptor[] = [];
        for (const op of ops) {
          manifests = op.kind === 'tag' ? withTag(manifests, op.key, descriptorOf(op.image, op.extra)) : withoutTag(manifests, op.key);
        }
        const once = withTag(manifests, key, descriptorOf(image, false));
        const twice = withTag(once, key, descriptorOf(image, false));
        expect(new Set(twice.map((d) => JSON.stringify(d)))).toEqual(new Set(once.map((d) => JSON.stringify(d))));
        expect(twice).toHaveLength(once.length);
      }),
      { numRuns: 200 },
    );
  });

  it('does not modify its input', () => {
    const input = Object.freeze([Object.freeze(descriptorOf(1, true))]) as readonly Descriptor[];
    const snapshot = JSON.stringify(input);
    withTag(input, 'a:1', descriptorOf(2, true));
    withTag(input, undefined, descriptorOf(3, false));
    withoutTag(input, 'a:1');
    expect(JSON.stringify(input)).toBe(snapshot);
  });

  it('moves a tag and keeps the old image dangling (the docker <none> image)', () => {
    let m = withTag([], 'app:1', descriptorOf(1, false));
    m = withTag(m, 'app:1', descriptorOf(2, false));
    expect(tagRecords(m).map((r) => [r.name, r.tag, r.descriptor.digest])).toEqual([
      [undefined, undefined, digestN(1)],
      ['app', '1', digestN(2)],
    ]);
    // Tagging the dangling image again absorbs its untagged entry.
    m = withTag(m, 'app:old', descriptorOf(1, false));
    expect(m.filter((d) => d.digest === digestN(1)).map(refNameOf)).toEqual(['app:old']);
  });
});

// ---------------------------------------------------------------------------------------------
// parseReference

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('parseReference', () => {
  it.each<[string, Reference]>([
    ['busybox', { name: 'busybox' }],
    ['busybox:1.36', { name: 'busybox', tag: '1.36' }],
    ['library/busybox:latest', { name: 'library/busybox', tag: 'latest' }],
    ['localhost:5000/a/b:tag', { name: 'localhost:5000/a/b', tag: 'tag' }],
    ['localhost:5000/a', { name: 'localhost:5000/a' }],
    ['localhost/a:1', { name: 'localhost/a', tag: '1' }],
    [`a@${D}`, { name: 'a', digest: D as Digest }],
    [`a:v1@${D}`, { name: 'a', tag: 'v1', digest: D as Digest }],
    ['registry.example.com/team/app:v1.2-rc_3', { name: 'registry.example.com/team/app', tag: 'v1.2-rc_3' }],
    ['Registry.Example.COM:443/app', { name: 'Registry.Example.COM:443/app' }],
    ['[::1]:5000/app:x', { name: '[::1]:5000/app', tag: 'x' }],
    ['a__b/c.d/e-f/g---h', { name: 'a__b/c.d/e-f/g---h' }],
    ['a:Tag_With.UPPER-case', { name: 'a', tag: 'Tag_With.UPPER-case' }],
    [`a:${'t'.repeat(128)}`, { name: 'a', tag: 't'.repeat(128) }],
    ['a:_x', { name: 'a', tag: '_x' }],
  ])('accepts %s', (text, expected) => {
    expect(parseReference(text)).toEqual(expected);
    expect(formatReference(parseReference(text))).toBe(text);
  });

  it.each([
    ['', 'empty'],
    ['UPPER', 'uppercase name'],
    ['localhost:5000/App', 'uppercase path component'],
    ['Docker.io', 'uppercase name without a path (not a host)'],
    [`a:${'t'.repeat(129)}`, '129-character tag'],
    ['a:', 'empty tag'],
    ['a:.x', 'tag starting with a dot'],
    ['a:-x', 'tag starting with a dash'],
    ['a:b c', 'space in the tag'],
    [':tag', 'no name'],
    ['a/', 'empty trailing component'],
    ['/a', 'empty leading component'],
    ['a//b', 'empty component'],
    ['a..b', 'double dot'],
    ['a_-b', 'mixed separators'],
    ['-a', 'leading separator'],
    ['a-', 'trailing separator'],
    ['a@sha256:abc', 'short digest'],
    [`a@md5:${'0'.repeat(32)}`, 'unknown digest algorithm'],
    [`@${D}`, 'digest without a name'],
    [`a@${D}@${D}`, 'two digests'],
    ['exa_mple.com:5000/a', 'bad host'],
    ['a.b__c/d', "a first component with a '.' is a host, and hosts have no '_' (as docker)"],
    [`${'a'.repeat(256)}`, 'name over 255 characters'],
  ])('rejects %j (%s) with invalid-argument', (text) => {
    let caught: unknown;
    try {
      parseReference(text, 'the image');
    } catch (err) {
      caught = err;
    }
    expect(isCairnError(caught, 'invalid-argument')).toBe(true);
    expect((caught as Error).message).toContain('the image');
  });

  const alnum = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const lowerRun = fc.string({ unit: fc.constantFrom(...alnum.split('')), minLength: 1, maxLength: 6 });
  const component = fc
    .tuple(lowerRun, fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), lowerRun), { maxLength: 2 }))
    .map(([first, rest]) => first + rest.map(([sep, run]) => sep + run).join(''));
  const hostLabel = fc.string({ unit: fc.constantFrom(...'abcXYZ019'.split('')), minLength: 1, maxLength: 5 });
  const host = fc.oneof(
    fc.constant('localhost'),
    fc.tuple(hostLabel, hostLabel).map(([a, b]) => `${a}.${b}`),
    fc.constant('[::1]'),
  );
  const port = fc.option(fc.integer({ min: 1, max: 65535 }).map(String), { nil: undefined });
  const tagArb = fc
    .tuple(
      fc.constantFrom(...'aZ09_'.split('')),
      fc.string({ unit: fc.constantFrom(...'abcXYZ0189_.-'.split('')), maxLength: 127 }),
    )
    .map(([first, rest]) => first + rest);
  const hexArb = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 64, maxLength: 64 });
  const referenceText = fc
    .record({
      host: fc.option(fc.tuple(host, port), { nil: undefined }),
      path: fc.array(component, { minLength: 1, maxLength: 3 }),
      tag: fc.option(tagArb, { nil: undefined }),
      digest: fc.option(hexArb.map((h) => `sha256:${h}`), { nil: undefined }),
    })
    .map(({ host: h, path: generated, tag, digest }) => {
      // As in docker, a first component with a '.' before a '/' is a registry host, where '_' is
      // not allowed: without a host, keep dots out of the first of several components.
      const path = !h && generated.length > 1 ? [generated[0]!.replaceAll('.', '-'), ...generated.slice(1)] : generated;
      const name = [...(h ? [`${h[0]}${h[1] !== undefined ? `:${h[1]}` : ''}`] : []), ...path].join('/');
      return { name, text: `${name}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`, tag, digest };
    });

  it('round-trips every valid generated name: formatReference(parseReference(x)) === x', () => {
    fc.assert(
      fc.property(referenceText, ({ name, text, tag, digest }) => {
        const ref = parseReference(text);
        expect(ref.name).toBe(name);
        expect(ref.tag).toBe(tag);
        expect(ref.digest).toBe(digest);
        expect(formatReference(ref)).toBe(text);
        // The store's ref.name form splits back into the same name and tag.
        expect(splitTagged(tagged(ref))).toEqual({ name, tag: tag ?? 'latest' });
      }),
      { numRuns: 500 },
    );
  });

  it('tagged() fills in latest; splitTagged() reads a host port as part of the name', () => {
    expect(tagged(parseReference('localhost:5000/a'))).toBe('localhost:5000/a:latest');
    expect(splitTagged('localhost:5000/a')).toEqual({ name: 'localhost:5000/a', tag: 'latest' });
    expect(splitTagged('localhost:5000/a:v2')).toEqual({ name: 'localhost:5000/a', tag: 'v2' });
  });
});
