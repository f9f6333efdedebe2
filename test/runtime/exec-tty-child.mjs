// Child process for the `exec -it` test: runs under util-linux `script`, which gives it a real
// pty as stdin/stdout, and execs an interactive shell in the container through the built API.
// Usage: node exec-tty-child.mjs <containerDir> -- <args...>
import { exec } from '../../dist/runtime/index.js';

const [dir, sep, ...args] = process.argv.slice(2);
if (!dir || sep !== '--' || args.length === 0) {
  process.stderr.write('usage: exec-tty-child.mjs <containerDir> -- <args...>\n');
  process.exit(2);
}
const code = await exec(dir, { args, tty: true, interactive: true, stdio: 'inherit' });
process.exit(code);
