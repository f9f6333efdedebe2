/**
 * @module tar/zstd
 * `zstd-napi`, loaded on first use. Its native addon costs ~8 ms to load, and most commands
 * never meet a zstd layer (busybox, docker-built images are gzip), so the modules that
 * (de)compress zstd ask for it here instead of importing it at the top. `require` rather than
 * `import()`: the stream constructors are synchronous, and zstd-napi is CommonJS anyway.
 */
import { createRequire } from 'node:module';

type ZstdNapi = typeof import('zstd-napi');

let loaded: ZstdNapi | undefined;

/** The zstd-napi module (loaded once, on the first call). */
export function zstd(): ZstdNapi {
  loaded ??= createRequire(import.meta.url)('zstd-napi') as ZstdNapi;
  return loaded;
}
