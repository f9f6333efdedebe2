/**
 * @module cli/transfer-log
 * The lines podman and skopeo print while an image moves between a registry and the store
 * (`Copying blob 1234abcd5678 done`, `… skipped: already exists`, `Writing manifest to image
 * destination`), on stderr, so stdout carries only the result.
 */
import type { CopyProgress } from '../transport/copy.js';
import type { CliIO } from './context.js';

export function transferLog(io: CliIO, quiet: boolean): ((event: CopyProgress) => void) | undefined {
  if (quiet) return undefined;
  io.stderr.write('Getting image source signatures\n');
  return (event) => {
    const short = event.descriptor.digest.slice('sha256:'.length, 'sha256:'.length + 12);
    const isConfig = event.descriptor.mediaType.includes('config');
    if (event.kind === 'blob' && event.state === 'skipped') io.stderr.write(`Copying blob ${short} skipped: already exists\n`);
    else if (event.kind === 'blob' && event.state === 'done') io.stderr.write(`Copying blob ${short} done\n`);
    else if (isConfig && event.state === 'done') io.stderr.write(`Copying config ${short} done\n`);
  };
}
