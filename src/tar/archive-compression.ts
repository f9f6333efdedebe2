/**
 * @module tar/archive-compression
 * Decompression of local archives, which may use more than layers may: `ADD archive /dest`
 * and build contexts read as tar streams accept gzip, bzip2, xz (docker's `DecompressStream`)
 * and zstd, detected by magic bytes. gzip and zstd go through tar/compression; xz and bzip2
 * through the `xz` and `bzip2` programs, streaming (docker itself runs `xz -d -c -q`; Node has
 * neither codec and no package here provides them).
 *
 * Errors: a corrupt stream fails the output with CairnError('invalid-archive') naming the
 * input (`what`) and the program's message; a missing program is 'unsupported'.
 */
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { CairnError } from '../errors.js';
import { decodeStream, detectCompression, otherCompressionOf, peekStream, type Compression } from './compression.js';

export type ArchiveCompression = Compression | 'xz' | 'bzip2';

/** `input` through `xz -dcq` or `bzip2 -dcq`: its output, failing as CairnError. */
function programDecoder(compression: 'xz' | 'bzip2', input: Readable, what: string): Readable {
  const output = new PassThrough();
  const child = spawn(compression, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let failed = false;
  const fail = (err: Error): void => {
    failed = true;
    if (!input.destroyed) input.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill();
    output.destroy(err);
  };
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    fail(
      err.code === 'ENOENT'
        ? new CairnError('unsupported', `${what}: ${compression} data needs the ${compression} program, which is not installed`, { what, compression }, { cause: err })
        : err,
    );
  });
  child.on('close', (code, signal) => {
    if (failed) return;
    if (code === 0) output.end();
    else fail(new CairnError('invalid-archive', `${what}: corrupt ${compression} data: ${stderr.trim() || `${compression} exited with ${code ?? signal}`}`, { what, compression }));
  });
  // The consumer stopped early: stop the program and the input (no error to report).
  output.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    if (!input.destroyed) input.destroy();
  });
  child.stdout.pipe(output, { end: false });
  input.on('error', (err) => fail(err));
  // EPIPE when the program stops reading (it failed, or was killed): its exit reports why.
  child.stdin.on('error', () => undefined);
  input.pipe(child.stdin);
  return output;
}

/**
 * Detects the compression of a local archive by its first bytes and returns the uncompressed
 * stream.
 *
 * @example
 * const { compression, stream } = await decompressArchive(createReadStream('rootfs.tar.xz'), { what: 'ADD rootfs.tar.xz' });
 */
export async function decompressArchive(input: Readable, options: { readonly what: string }): Promise<{ compression: ArchiveCompression; stream: Readable }> {
  const { head, stream } = await peekStream(input);
  const other = otherCompressionOf(head);
  if (other !== undefined) return { compression: other, stream: programDecoder(other, stream, options.what) };
  const compression = detectCompression(head);
  return { compression, stream: decodeStream(compression, stream, options.what) };
}
