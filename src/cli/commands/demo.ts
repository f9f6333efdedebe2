/**
 * @module cli/commands/demo
 * `cairn demo`: a short tour on the user's store. It builds a small two-layer image with the
 * library into a scratch OCI layout (busybox goes in when the host has a static one), imports
 * it with `copy`, then shows `images`, `history` and `inspect` as a user would type them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { appendLayer, mutateConfig, scratchImage, writeImage } from '../../image/draft.js';
import { Store } from '../../store/store.js';
import { packTar, type TarEntryInit } from '../../tar/index.js';
import { copy } from '../../transport/open.js';
import { defineCommand, openStore, print, type CliIO } from '../context.js';
import { main } from '../main.js';

const DEMO_TAG = 'cairn-demo:latest';
const EPOCH = new Date('2024-01-01T00:00:00Z');

export const command = defineCommand({
  usage: 'demo',
  summary: 'Build a small image, import it and look at it',
  options: {},
  async run(io, { options }) {
    const store = await openStore(io, options.store);
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'cairn-demo-'));
    try {
      say(io, `Store: ${store.root}`);
      say(io, 'Building a two-layer image with the library (a base rootfs, then an app layer)...');
      const layout = await buildDemoImage(path.join(scratch, 'layout'));
      say(io, `$ cairn copy oci:${layout}:${DEMO_TAG} ${DEMO_TAG}`);
      const record = await copy(`oci:${layout}:${DEMO_TAG}`, DEMO_TAG, { store });
      print(io.stdout, `Copied ${record.descriptor.digest}`);
      const storeArgs = ['--store', store.root];
      for (const args of [['images', 'cairn-demo'], ['history', DEMO_TAG], ['inspect', '--format', '{{.Id}} {{.Config.Cmd}} {{.RootFS.Layers}}', DEMO_TAG]]) {
        say(io, `$ cairn ${args.join(' ')}`);
        const status = await main([...storeArgs, ...args], io);
        if (status !== 0) return status;
      }
      say(io, 'Done. Try: cairn inspect cairn-demo, cairn save -o demo.tar cairn-demo, cairn rmi cairn-demo && cairn gc');
      return 0;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  },
});

function say(io: CliIO, line: string): void {
  print(io.stdout, `\n${line}`);
}

async function buildDemoImage(dir: string): Promise<string> {
  const builder = await Store.open(dir);
  await builder.ingest(async () => {
    let draft = scratchImage();
    const busybox = await readFile('/bin/busybox').catch(() => undefined);
    const base: { entry: TarEntryInit; body?: Buffer }[] = [
      { entry: { path: 'bin', type: 'directory', mtime: EPOCH } },
      ...(busybox
        ? [
            { entry: { path: 'bin/busybox', type: 'file' as const, mode: 0o755, mtime: EPOCH }, body: busybox },
            { entry: { path: 'bin/sh', type: 'symlink' as const, linkname: 'busybox', mtime: EPOCH } },
          ]
        : []),
      { entry: { path: 'etc', type: 'directory', mtime: EPOCH } },
      { entry: { path: 'etc/motd', type: 'file', mtime: EPOCH }, body: Buffer.from('a cairn is a stack of stones\n') },
      { entry: { path: 'tmp', type: 'directory', mode: 0o1777, mtime: EPOCH } },
    ];
    draft = await appendLayer(builder, draft, packTar(base), { history: { created: EPOCH.toISOString(), created_by: 'cairn demo: base rootfs' } });
    const app = [
      { entry: { path: 'srv', type: 'directory' as const, mtime: EPOCH } },
      { entry: { path: 'srv/index.html', type: 'file' as const, mtime: EPOCH }, body: Buffer.from('<h1>Hello from cairn</h1>\n') },
    ];
    draft = await appendLayer(builder, draft, packTar(app), { history: { created: EPOCH.toISOString(), created_by: 'cairn demo: app layer' } });
    draft = mutateConfig(draft, (c) => ({ ...c, Cmd: busybox ? ['/bin/sh'] : ['/srv/index.html'], WorkingDir: '/srv' }), {
      created: EPOCH.toISOString(),
      created_by: `/bin/sh -c #(nop)  CMD ["${busybox ? '/bin/sh' : '/srv/index.html'}"]`,
    });
    const descriptor = await writeImage(builder, draft, { created: EPOCH, author: 'cairn demo' });
    await builder.setTag(DEMO_TAG, descriptor);
  });
  return dir;
}
