/**
 * A tiny HTTP GET for tests that talk to published container ports: loopback only, no
 * keep-alive (no socket outlives the call), a timeout on every attempt, and retries while the
 * server is not accepting yet (connection refused or reset, or an attempt that timed out) until
 * an overall deadline. An HTTP response of any status is returned as it is, never retried.
 *
 * @example
 * const { status, body } = await httpGet(port);                 // GET http://127.0.0.1:PORT/
 * await httpGet(port, { path: '/index.html', deadlineMs: 5000 });
 *
 * @module
 */
import { request } from 'node:http';

export interface HttpGetOptions {
  /** Request path (default `/`). */
  readonly path?: string;
  /** Time allowed for one attempt, connect to last byte (default 3 s). */
  readonly attemptTimeoutMs?: number;
  /** Keep retrying failed connections until this long after the first attempt (default 10 s). */
  readonly deadlineMs?: number;
  /** Pause between attempts (default 50 ms). */
  readonly retryDelayMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

function attempt(port: number, urlPath: string, timeoutMs: number): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: urlPath, method: 'GET', agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`GET 127.0.0.1:${port}${urlPath}: no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
      req.destroy(err);
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** GET http://127.0.0.1:PORT/PATH, retrying while nothing answers; throws after the deadline. */
export async function httpGet(port: number, options: HttpGetOptions = {}): Promise<HttpResponse> {
  const urlPath = options.path ?? '/';
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  for (;;) {
    try {
      return await attempt(port, urlPath, options.attemptTimeoutMs ?? 3000);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!RETRYABLE.has(code) || Date.now() >= deadline) {
        throw new Error(`GET http://127.0.0.1:${port}${urlPath} failed: ${(err as Error).message}`, { cause: err });
      }
    }
    await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 50));
  }
}
