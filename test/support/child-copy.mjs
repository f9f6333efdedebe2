// `copy SOURCE DEST` into a store, run as
//   node child-copy.mjs STORE SOURCE DEST
// against the built library (dist/), printing the copy's progress events as lines
// (`blob start <digest>`, `blob done <digest>`, `document done <digest>`, `committed <digest>`)
// so the fault test can SIGKILL it in a chosen phase. `ready` is printed once the modules loaded.
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';

const [storeDir, source, destination] = process.argv.slice(2);
const store = await Store.open(storeDir);
console.log('ready');
const record = await copy(source, destination, {
  store,
  onProgress: (event) => console.log(`${event.kind} ${event.state} ${event.descriptor.digest}`),
});
console.log(`committed ${record.descriptor.digest}`);
