// Child process for the attached-run tests that need a process of their own: a terminal from
// util-linux `script` (`run -it`), or signals sent to the CLI process (sig-proxy). Runs the
// built API the way the CLI will: stdio inherited, signals forwarded.
// Usage: node run-child.mjs <rootfs> <containerDir> <tty:0|1> -- <args...>
import { generateSpec, runAttached } from '../../dist/runtime/index.js';

const [rootfs, dir, tty, sep, ...args] = process.argv.slice(2);
if (!rootfs || !dir || sep !== '--' || args.length === 0) {
  process.stderr.write('usage: run-child.mjs <rootfs> <containerDir> <tty:0|1> -- <args...>\n');
  process.exit(2);
}
const image = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [] } };
const spec = await generateSpec(image, { rootfs, args, tty: tty === '1' });
process.stdout.write(`ready ${process.pid}\n`);
process.exit(await runAttached({ containerDir: dir, spec, stdio: 'inherit', interactive: true }));
