/**
 * @module transport/registry/http
 * One HTTP exchange with a registry over node:http(s), streaming both ways: a request body can be
 * a layer stream of any size, and a response body is handed over unread. Redirects (a registry
 * may send blob reads to object storage) are followed for GET and HEAD; credentials are not sent
 * to another host.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: URL;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: Buffer | Readable;
  /** false: accept any certificate (skopeo's --tls-verify=false). */
  readonly verifyTls: boolean;
}

const MAX_REDIRECTS = 5;
/** A registry that stops answering mid-transfer fails after this long without a byte. */
const IDLE_TIMEOUT_MS = 60_000;

export async function send(request: HttpRequest): Promise<IncomingMessage> {
  let current = request;
  for (let hop = 0; ; hop++) {
    const response = await exchange(current);
    const location = response.headers.location;
    const redirect = response.statusCode !== undefined && [301, 302, 303, 307, 308].includes(response.statusCode);
    if (!redirect || location === undefined || (current.method !== 'GET' && current.method !== 'HEAD') || hop >= MAX_REDIRECTS) {
      return response;
    }
    response.resume();
    const next = new URL(location, current.url);
    const headers = { ...current.headers };
    if (next.host !== current.url.host) delete headers.authorization;
    current = { ...current, url: next, headers };
  }
}

function exchange(request: HttpRequest): Promise<IncomingMessage> {
  const { url, body } = request;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: OutgoingHttpHeaders = { 'user-agent': 'cairn/0.1', ...request.headers };
  if (Buffer.isBuffer(body)) headers['content-length'] = body.length;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: request.method, headers, rejectUnauthorized: request.verifyTls });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no answer from ${url.host} for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.once('response', resolve);
    req.once('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    // A registry may answer (say, 400) before the whole body went out: the response still wins.
    else pipeline(body, req).catch((err: unknown) => req.destroy(err instanceof Error ? err : new Error(String(err))));
  });
}

/** Reads a whole (small) response body, failing beyond `limit` bytes. */
export async function readBody(response: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      response.destroy();
      throw new Error(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
