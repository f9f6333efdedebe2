// Holds a FileLock until killed, run as
//   node child-lock.mjs LOCKFILE exclusive|shared
// against the built library (dist/), printing `locked` once it holds the lock, so a test can
// SIGKILL it and check that the kernel released the lock.
import { FileLock } from '../../dist/sys/lock.js';

const [file, mode] = process.argv.slice(2);
const lock = new FileLock(file);
const hold = () => {
  console.log('locked');
  // A pending promise alone would let Node exit (and the kernel drop the lock): keep a timer.
  return new Promise(() => setInterval(() => {}, 1 << 30));
};
await (mode === 'shared' ? lock.shared(hold) : lock.exclusive(hold));
