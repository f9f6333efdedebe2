import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { digestOf, nodeSha256 } from '../../src/digest/hasher.js';
import { sha256HexSmall } from '../../src/digest/sha256-small.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const opensslHex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('sha256HexSmall', () => {
  it('matches OpenSSL (node:crypto) for every length up to 300 bytes and around block edges', () => {
    const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1023, 1024, 1025, 4095, 4096, 70_000];
    for (const length of lengths) {
      const bytes = randomBytes(length);
      expect(sha256HexSmall(bytes), `length ${length}`).toBe(opensslHex(bytes));
    }
  });

  it('hashes the FIPS 180-4 examples', () => {
    expect(sha256HexSmall(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256HexSmall(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });
});

describe('nodeSha256 and digestOf', () => {
  it('give node:crypto digests whichever implementation hashes (chunks across the switch)', () => {
    for (const length of [0, 100, 1024, 1025, 5000]) {
      const bytes = randomBytes(length);
      const hasher = nodeSha256();
      for (let at = 0; at < length; at += 300) hasher.update(bytes.subarray(at, at + 300));
      expect(hasher.digest()).toBe(`sha256:${opensslHex(bytes)}`);
      expect(digestOf(bytes)).toBe(`sha256:${opensslHex(bytes)}`);
    }
    expect(digestOf('sha256:a sha256:b')).toBe(`sha256:${opensslHex(Buffer.from('sha256:a sha256:b'))}`);
  });

  it('hash small inputs without loading node:crypto, and large ones with it (a fresh process)', () => {
    // The built modules in a process of their own: this test process has node:crypto loaded.
    const script = `
      import { digestOf, nodeSha256 } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'digest', 'hasher.js'))};
      import { cryptoLoaded } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'sys', 'crypto.js'))};
      const small = digestOf('x'.repeat(1000));
      const h = nodeSha256(); h.update(Buffer.from('y'.repeat(600))); h.update(Buffer.from('y'.repeat(400)));
      const chunked = h.digest();
      const before = cryptoLoaded();
      const large = digestOf('z'.repeat(1025));
      console.log(JSON.stringify({ small, chunked, before, large, after: cryptoLoaded() }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(out).toEqual({
      small: `sha256:${opensslHex(Buffer.from('x'.repeat(1000)))}`,
      chunked: `sha256:${opensslHex(Buffer.from('y'.repeat(1000)))}`,
      before: false,
      large: `sha256:${opensslHex(Buffer.from('z'.repeat(1025)))}`,
      after: true,
    });
  });
});
