/**
 * @module cli/demo/web-image
 * The walk-through's starting image, made with the library as a user of cairn would: a
 * container from busybox, its files changed through the API (no process runs), committed with
 * a CMD. Used by `cairn demo` and the end-to-end test.
 */
import {
  commitContainer,
  createContainer,
  makeContainerDir,
  removeContainer,
  symlinkInContainer,
  writeContainerFile,
  type CommitResult,
} from '../../container/index.js';
import type { Store } from '../../store/store.js';

export const WELCOME_PAGE = `<!DOCTYPE html>
<html>
<head><title>Welcome to cairn!</title></head>
<body>
<h1>Welcome to cairn!</h1>
<p>If you see this page, the web server is working.</p>
</body>
</html>
`;

export const WEB_ROOT = '/usr/share/nginx/html';
export const WEB_CMD = ['httpd', '-f', '-p', '80', '-h', WEB_ROOT] as const;

export async function makeWebImage(store: Store, base: string, reference: string): Promise<CommitResult> {
  const container = await createContainer(store, { image: base, name: `make-web-${Date.now()}` });
  try {
    await makeContainerDir(store, container, WEB_ROOT, { recursive: true });
    await writeContainerFile(store, container, `${WEB_ROOT}/index.html`, WELCOME_PAGE, { mode: 0o644 });
    await symlinkInContainer(store, container, 'busybox', '/bin/httpd');
    return await commitContainer(store, container, {
      reference,
      author: 'cairn demo',
      message: 'a web server from busybox',
      changes: [`CMD ${JSON.stringify(WEB_CMD)}`, 'EXPOSE 80'],
    });
  } finally {
    await removeContainer(store, container, { force: true });
  }
}
