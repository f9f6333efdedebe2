/**
 * @module cli/demo/busybox-image
 * A busybox image the demo builds itself from the host's static busybox (Debian's
 * busybox-static): one layer with the binary, its applet links and a minimal /etc, written with
 * the library into an OCI layout, so the demo has something to import without a registry.
 */
import { readFile } from 'node:fs/promises';
import { appendLayer, mutateConfig, scratchImage, writeImage } from '../../image/draft.js';
import { Store } from '../../store/store.js';
import { packTar, type TarEntryInit } from '../../tar/index.js';

const EPOCH = new Date('2024-01-01T00:00:00Z');
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'touch', 'chmod', 'id', 'env', 'sleep', 'true', 'false', 'pwd', 'uname', 'wc', 'head', 'tail', 'grep', 'sed', 'find', 'date', 'wget', 'hostname', 'ps', 'kill'];

/** The host's static busybox, or undefined when it is not installed. */
export async function hostBusybox(): Promise<Buffer | undefined> {
  for (const candidate of ['/bin/busybox', '/usr/bin/busybox']) {
    const bytes = await readFile(candidate).catch(() => undefined);
    if (bytes) return bytes;
  }
  return undefined;
}

/** Writes a busybox image tagged `tag` into the OCI layout at `dir` (a scratch store). */
export async function buildBusyboxLayout(dir: string, busybox: Buffer, tag: string): Promise<void> {
  const builder = await Store.open(dir);
  await builder.ingest(async () => {
    const dirEntry = (path: string, mode = 0o755): { entry: TarEntryInit } => ({ entry: { path, type: 'directory', mode, mtime: EPOCH } });
    const file = (path: string, text: string, mode = 0o644): { entry: TarEntryInit; body: Buffer } => ({ entry: { path, type: 'file', mode, mtime: EPOCH }, body: Buffer.from(text) });
    const items = [
      dirEntry('bin'),
      { entry: { path: 'bin/busybox', type: 'file' as const, mode: 0o755, mtime: EPOCH }, body: busybox },
      ...APPLETS.map((name) => ({ entry: { path: `bin/${name}`, type: 'symlink' as const, linkname: 'busybox', mtime: EPOCH } })),
      dirEntry('etc'),
      file('etc/group', 'root:x:0:\nnogroup:x:65534:\n'),
      file('etc/motd', 'a cairn is a stack of stones\n'),
      file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
      dirEntry('root', 0o700),
      dirEntry('tmp', 0o1777),
    ];
    let draft = await appendLayer(builder, scratchImage(), packTar(items), {
      history: { created: EPOCH.toISOString(), created_by: '/bin/sh -c #(nop) ADD file:busybox in / ' },
    });
    draft = mutateConfig(draft, (c) => ({ ...c, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] }), {
      created: EPOCH.toISOString(),
      created_by: '/bin/sh -c #(nop)  CMD ["sh"]',
    });
    await builder.setTag(tag, await writeImage(builder, draft, { created: EPOCH }));
  });
}
