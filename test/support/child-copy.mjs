// `copy SOURCE DEST` into a store, run as
//   node child-copy.mjs STORE SOURCE DEST
// against the built library (dist/), printing the copy's progress as lines so the fault test can
// SIGKILL it in a chosen phase: `ready` once the modules loaded, then `blob start <digest>`,
// `bytes <digest> <n>` every 4 MiB read of a blob, `blob done <digest>`, `document done <digest>`,
// and `committed <digest>` when copy() returned.
import { Transform, pipeline } from 'node:stream';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';

const [storeDir, source, destination] = process.argv.slice(2);
const STEP = 4 << 20;

function counting(digest, stream) {
  let seen = 0;
  let next = STEP;
  const counter = new Transform({
    transform(chunk, _encoding, callback) {
      seen += chunk.length;
      while (seen >= next) {
        console.log(`bytes ${digest} ${next}`);
        next += STEP;
      }
      callback(null, chunk);
    },
  });
  pipeline(stream, counter, () => {});
  return counter;
}

const store = await Store.open(storeDir);
console.log('ready');
const record = await copy(source, destination, {
  store,
  onProgress: (event) => console.log(`${event.kind} ${event.state} ${event.descriptor.digest}`),
  wrapBlob: (descriptor, stream) => counting(descriptor.digest, stream),
});
console.log(`committed ${record.descriptor.digest}`);
