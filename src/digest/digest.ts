/**
 * @module digest
 * The `Digest` type: a validated `algorithm:hex` string (OCI image-spec descriptor.md). It is a
 * branded string so that a digest that has not been checked cannot reach the store by accident,
 * yet it serialises to JSON as itself.
 */
import { CairnError } from '../errors.js';

declare const digestBrand: unique symbol;
export type Digest = string & { readonly [digestBrand]: true };

/** Algorithms whose encoded form we check. Others are accepted by grammar only when `lenient`. */
const HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Parses and validates a digest string. `what` names the input in the error message. */
export function parseDigest(value: string, what = 'digest'): Digest {
  if (!isDigest(value)) {
    throw new CairnError('invalid-argument', `${what}: "${truncate(value)}" is not a valid sha256 or sha512 digest`, {
      value,
    });
  }
  return value;
}

/** True when `value` is `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`. */
export function isDigest(value: unknown): value is Digest {
  if (typeof value !== 'string' || !GRAMMAR.test(value)) return false;
  const colon = value.indexOf(':');
  const expected = HEX_LENGTH[value.slice(0, colon)];
  if (expected === undefined) return false;
  const hex = value.slice(colon + 1);
  return hex.length === expected && /^[0-9a-f]+$/.test(hex);
}

export function digestAlgorithm(digest: Digest): string {
  return digest.slice(0, digest.indexOf(':'));
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** Builds a sha256 digest from a 64-char lowercase hex string. */
export function sha256Digest(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

/** docker's short image ID: the first 12 hex characters. */
export function shortId(digest: Digest): string {
  return digestHex(digest).slice(0, 12);
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}
