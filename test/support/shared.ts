/**
 * Locates `../shared` (design, conformance vectors) beside the checkout. Tests that need it call
 * `sharedPath()` in `describe.skipIf(!hasShared)`: a user's clone without it skips with a clear
 * message, but in CI a missing shared/ is a failure.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = process.env.CAIRN_SHARED_DIR ?? path.resolve(repoRoot, '..', 'shared');
export const hasShared = existsSync(path.join(SHARED_DIR, 'conformance'));
export const inCI = process.env.CI === 'true';

if (!hasShared) {
  const msg = `../shared not found at ${SHARED_DIR}: conformance tests are skipped`;
  if (inCI) throw new Error(`${msg} — not allowed in CI`);
  console.warn(msg);
}

/** A path under ../shared/conformance. */
export function conformancePath(...parts: string[]): string {
  return path.join(SHARED_DIR, 'conformance', ...parts);
}
