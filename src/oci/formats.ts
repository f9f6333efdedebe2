/**
 * @module oci/formats
 * The string grammars of the image spec, as the reference validator applies them: media types
 * (defs-descriptor.json), digests (descriptor.md + go-digest), base64 (Go's `[]byte` decoding)
 * and RFC 3339 date-times (Go's `time.Time` decoding). Each function returns a problem
 * description or undefined, so the validators can put it in an error naming the field.
 */

/** type "/" subtype, each a restricted-name of at most 127 characters (RFC 6838 §4.2). */
export const MEDIA_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** algorithm ":" encoded; algorithm = component (separator component)* (descriptor.md). */
export const DIGEST_PATTERN = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Algorithms whose encoded part has a fixed form. sha256, sha512 and blake3 are registered by
 * descriptor.md; sha384 is one go-digest (and so the reference validator) also checks.
 * Unregistered algorithms pass on grammar alone: the spec says implementations SHOULD accept
 * them, and cairn only fails later, if it is asked to verify such a digest.
 */
const ENCODED_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128, blake3: 64 };

export function isMediaType(value: string): boolean {
  return MEDIA_TYPE_PATTERN.test(value);
}

export function mediaTypeProblem(value: string): string | undefined {
  return isMediaType(value)
    ? undefined
    : `${quote(value)} is not a media type (type/subtype, each 1-127 of [A-Za-z0-9!#$&^_.+-], starting alphanumeric)`;
}

/** Grammar first, then the fixed lowercase-hex form of a registered algorithm. */
export function digestProblem(value: string): string | undefined {
  if (!DIGEST_PATTERN.test(value)) {
    return `${quote(value)} is not a digest (algorithm:encoded, e.g. sha256:<64 hex>)`;
  }
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const length = ENCODED_HEX_LENGTH[algorithm];
  if (length === undefined) return undefined;
  const encoded = value.slice(colon + 1);
  if (encoded.length !== length) {
    return `${quote(value)} is not a valid ${algorithm} digest: ${length} hex characters expected, found ${encoded.length}`;
  }
  if (!/^[0-9a-f]+$/.test(encoded)) {
    return `${quote(value)} is not a valid ${algorithm} digest: the hex must be lowercase [0-9a-f]`;
  }
  return undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Whether Go's `encoding/json` would decode the string into a `[]byte`: standard alphabet,
 * padding required, CR and LF ignored anywhere (base64.StdEncoding, not Strict, so non-zero
 * trailing bits pass).
 */
export function isGoBase64(value: string): boolean {
  return BASE64.test(value.replace(/[\r\n]/g, ''));
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * RFC 3339 `date-time` as both checks of the reference accept it: Go's time.Time decoding
 * (uppercase `T` and `Z`, no leap second) and the schema's `date-time` format. Fractional
 * seconds of any length; field ranges checked, including the days of the month.
 */
export function isRfc3339(value: string): boolean {
  const m = RFC3339.exec(value);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year)) return false;
  if (hour > 23 || minute > 59 || second > 59) return false;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return false;
  return true;
}

function daysIn(month: number, year: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** A value quoted for an error message, shortened so a hostile document cannot flood it. */
export function quote(value: string): string {
  const s = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(s);
}
