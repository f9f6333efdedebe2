/**
 * @module cli/commands/demo
 * `cairn demo`: the "customise an image" walk-through, narrated, in a temporary store (or the
 * one given with --store). It builds a busybox image from the host's static busybox, imports
 * it, makes a web image with the library, then — when runc, root and overlayfs are there —
 * runs it with a published port, changes the page with exec, diffs, commits, and runs the new
 * image beside the old one. Without them it says what is missing and does the parts that need
 * no process: file edits through the API, diff, commit, history.
 */
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createContainer, removeContainer, writeContainerFile, listRecords } from '../../container/index.js';
import { Store } from '../../store/store.js';
import { overlayAvailable } from '../../sys/mount.js';
import { defineCommand, print, type CliIO } from '../context.js';
import { buildBusyboxLayout, hostBusybox } from '../demo/busybox-image.js';
import { makeWebImage, WEB_ROOT } from '../demo/web-image.js';
import { main } from '../main.js';

export const command = defineCommand({
  usage: 'demo',
  summary: 'Walk through customising an image: run, exec, diff, commit, images, history',
  options: {
    keep: { type: 'boolean', description: 'keep the containers and the temporary store' },
  },
  async run(io, { options }) {
    const scratch = await mkdtemp(path.join(tmpdir(), 'cairn-demo-'));
    const storeDir = options.store ?? path.join(scratch, 'store');
    const store = await Store.open(storeDir);
    const cairn = async (...args: string[]): Promise<number> => {
      say(io, `$ cairn ${args.map(quote).join(' ')}`);
      return main(['--store', store.root, ...args], io);
    };
    try {
      say(io, `# A temporary store: ${store.root}`);
      const busybox = await hostBusybox();
      if (!busybox) {
        print(io.stdout, 'busybox is not installed on this machine (Debian: apt-get install busybox-static); the demo needs its binary.');
        return 1;
      }
      say(io, '# Build a busybox image from this machine\'s static busybox, into an OCI layout');
      const layout = path.join(scratch, 'busybox-layout');
      await buildBusyboxLayout(layout, busybox, 'busybox:latest');
      await cairn('copy', `oci:${layout}:busybox:latest`, 'busybox');
      await cairn('images');

      const missing = await missingForContainers();
      if (missing.length > 0) {
        say(io, `# Running containers needs ${missing.join(', ')}: showing the parts that run no process.`);
        return await offline(io, store, cairn);
      }

      say(io, '# Make a web image with the library: a container from busybox, files written through the API, committed with a CMD');
      await makeWebImage(store, 'busybox', 'web');
      await cairn('history', 'web');
      const [port1, port2] = [await freePort(8080), await freePort(8081)];
      if ((await cairn('run', '--name', 'webserver', '-d', '-p', `${port1}:80`, 'web')) !== 0) return 1;
      await get(io, port1);
      if ((await cairn('exec', 'webserver', 'sh', '-c', `echo '<h1>Hello, Docker!</h1>' > ${WEB_ROOT}/index.html`)) !== 0) return 1;
      await get(io, port1);
      await cairn('diff', 'webserver');
      await cairn('commit', '--author', 'cairn demo <demo@cairn>', '--message', 'changed the default page', 'webserver', 'web:v2');
      await cairn('images', 'web');
      await cairn('history', 'web:v2');
      await cairn('run', '--name', 'web2', '-d', '-p', `${port2}:80`, 'web:v2');
      await get(io, port2);
      await get(io, port1);
      await cairn('ps');
      if (!options.keep) {
        await cairn('stop', '-t', '1', 'webserver', 'web2');
        await cairn('ps', '-a');
        await cairn('rm', 'webserver', 'web2');
      }
      say(io, '# Done.');
      return 0;
    } finally {
      if (!options.keep) {
        for (const record of await listRecords(store).catch(() => [])) await removeContainer(store, record, { force: true }).catch(() => undefined);
        await rm(scratch, { recursive: true, force: true });
      } else {
        say(io, `# Kept: the store is ${store.root}`);
      }
    }
  },
});

async function offline(io: CliIO, store: Store, cairn: (...args: string[]) => Promise<number>): Promise<number> {
  const container = await createContainer(store, { image: 'busybox', name: 'editor' });
  say(io, '# A container from busybox (nothing runs in it); change a file through the library');
  await writeContainerFile(store, container, '/etc/motd', 'changed by the cairn demo\n');
  await cairn('diff', 'editor');
  await cairn('commit', '--author', 'cairn demo <demo@cairn>', '--message', 'changed the motd', 'editor', 'busybox:motd');
  await cairn('history', 'busybox:motd');
  await cairn('images');
  await removeContainer(store, container, { force: true });
  return 0;
}

async function missingForContainers(): Promise<string[]> {
  const missing: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root');
  else if (!(await overlayAvailable())) missing.push('overlayfs');
  if (!(await onPath('runc'))) missing.push('runc (apt-get install runc)');
  return missing;
}

async function onPath(name: string): Promise<boolean> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].filter(Boolean);
  for (const dir of dirs) {
    if (await access(path.join(dir, name), constants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}

function say(io: CliIO, line: string): void {
  print(io.stdout, `\n${line}`);
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `preferred` when nothing listens there, else a port the kernel picks. */
function freePort(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      const other = createServer();
      other.listen(0, '127.0.0.1', () => {
        const address = other.address();
        other.close(() => resolve(typeof address === 'object' && address ? address.port : preferred));
      });
    });
    server.listen(preferred, '0.0.0.0', () => server.close(() => resolve(preferred)));
  });
}

/** `curl http://127.0.0.1:PORT/`, printed, with a few retries while the server starts. */
async function get(io: CliIO, port: number): Promise<void> {
  say(io, `$ curl http://127.0.0.1:${port}/`);
  for (let attempt = 0; attempt < 20; attempt++) {
    const body = await new Promise<string | undefined>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve(text));
      });
      req.on('error', () => resolve(undefined));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (body !== undefined) {
      io.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  print(io.stdout, '(no answer)');
}
