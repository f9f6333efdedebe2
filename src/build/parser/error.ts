/**
 * @module build/parser/error
 * Dockerfile errors: a CairnError 'invalid-document' whose message starts `FILE:LINE: ` and whose
 * data names the file and lines, so the CLI prints one line and callers need not parse it.
 */
import { CairnError } from '../../errors.js';

/** Extra data some errors carry (a suggestion, the offending word). */
export type ErrorExtra = Readonly<Record<string, unknown>>;

/**
 * `Dockerfile:7: unknown instruction: RUNN`, with data `{ file, line, endLine, reason, ...extra }`.
 */
export function dockerfileError(
  file: string,
  line: number,
  endLine: number,
  reason: string,
  extra: ErrorExtra = {},
): CairnError {
  return new CairnError('invalid-document', `${file}:${line}: ${reason}`, {
    ...extra,
    file,
    line,
    endLine: Math.max(line, endLine),
    reason,
  });
}

/** A failure found while shaping one instruction, located by the caller. */
export class InstructionError extends Error {
  constructor(message: string, readonly extra: ErrorExtra = {}) {
    super(message);
  }
}

/**
 * Runs `fn` for a public helper that has no line to name: an InstructionError becomes a
 * CairnError 'invalid-document' with data `{ reason }`, which a caller that knows the line can
 * pass to `dockerfileError`.
 */
export function unlocated<R>(fn: () => R): R {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InstructionError) {
      throw new CairnError('invalid-document', err.message, { ...err.extra, reason: err.message });
    }
    throw err;
  }
}
