/**
 * @module errors
 * One error type for the whole library. Callers branch on `code` (stable, documented below),
 * never on the message; `data` carries the values that the message names, so a CLI or a test
 * can use them without parsing text. The CLI prints `error: <message>` and nothing else.
 */

/** Every code cairn throws. Adding one is a minor version; renaming one is a breaking change. */
export type ErrorCode =
  /** A name, digest, tag, path or container that does not exist. */
  | 'not-found'
  /** An argument is malformed (bad reference, bad digest string, bad flag value). */
  | 'invalid-argument'
  /** A JSON document (manifest, index, config, layout file) breaks its schema. */
  | 'invalid-document'
  /** Bytes hashed to another digest than the one promised. */
  | 'digest-mismatch'
  /** Bytes were longer or shorter than the size promised. */
  | 'size-mismatch'
  /** Something with that name already exists and may not be replaced. */
  | 'already-exists'
  /** The input uses a feature cairn does not implement (say which in the message). */
  | 'unsupported'
  /** An archive or layer is malformed (truncated tar, missing member, bad whiteout). */
  | 'invalid-archive'
  /** A layer entry tried to reach outside the root it is applied to. */
  | 'breakout'
  /** The operation conflicts with the current state (image in use, container running). */
  | 'conflict'
  /** Waiting for the store lock took longer than allowed. */
  | 'lock-timeout'
  /** An external program (runc, skopeo, ...) failed. */
  | 'process-failed'
  /** The store failed its consistency check. */
  | 'corrupt'
  /** A registry could not be reached, or refused a request (the message says what it answered). */
  | 'registry'
  /** A registry wants credentials that cairn does not have or that it refused. */
  | 'unauthorized';

export type ErrorData = Readonly<Record<string, unknown>>;

export class CairnError extends Error {
  override readonly name = 'CairnError';
  readonly code: ErrorCode;
  readonly data: ErrorData;

  constructor(code: ErrorCode, message: string, data: ErrorData = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.data = data;
  }
}

/** True when `err` is a CairnError, optionally with the given code. */
export function isCairnError(err: unknown, code?: ErrorCode): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}

/** The errno code of a Node system error (`ENOENT`, `EEXIST`...), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
