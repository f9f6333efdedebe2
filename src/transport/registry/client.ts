/**
 * @module transport/registry/client
 * The distribution API calls cairn needs (OCI distribution-spec 1.1): read and write manifests by
 * tag or digest, test, read and upload blobs. It picks the scheme (HTTPS; plain HTTP only for
 * loopback hosts, which docker treats as insecure registries by default, or with
 * `tlsVerify: false`), answers auth challenges, and turns every failure into a CairnError that
 * names the reference and what the registry said.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Digest } from '../../digest/index.js';
import { CairnError, errnoCode, type ErrorCode } from '../../errors.js';
import { authFiles, basicAuthorization, findCredentials, parseChallenge, type Challenge } from './auth.js';
import { readBody, send } from './http.js';
import { formatRegistryReference, isLoopbackHost, type RegistryReference } from './reference.js';

export interface RegistryOptions {
  /** false: allow plain HTTP and accept any certificate (skopeo's `--tls-verify=false`). */
  readonly tlsVerify?: boolean;
  /** Where to look for credentials (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export type Access = 'pull' | 'push';

/** The media types cairn reads, best first (what docker and skopeo send). */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** The distribution spec lets registries refuse manifests over 4 MiB; none should be larger. */
const MANIFEST_LIMIT = 4 << 20;

type Body = Buffer | Readable;

export class RegistryClient {
  readonly reference: RegistryReference;
  readonly #options: RegistryOptions;
  readonly #access: Access;
  #scheme: 'https:' | 'http:' | undefined;
  #authorization: string | undefined;

  constructor(reference: RegistryReference, access: Access, options: RegistryOptions = {}) {
    this.reference = reference;
    this.#access = access;
    this.#options = options;
  }

  get description(): string {
    return `docker://${formatRegistryReference(this.reference)}`;
  }

  /** A manifest or index by tag or digest, with the media type the registry gave it. */
  async getManifest(tagOrDigest: string): Promise<{ bytes: Buffer; mediaType: string | undefined }> {
    const what = `manifest ${tagOrDigest}`;
    const response = await this.#expect('GET', `manifests/${tagOrDigest}`, { accept: MANIFEST_ACCEPT }, undefined, [200], what);
    const bytes = await this.#read(response, MANIFEST_LIMIT, what);
    const type = response.headers['content-type']?.split(';')[0]?.trim();
    return { bytes, mediaType: type === undefined || type === 'application/json' || type === 'text/plain' ? undefined : type };
  }

  async putManifest(tagOrDigest: string, mediaType: string, bytes: Buffer): Promise<void> {
    const response = await this.#expect('PUT', `manifests/${tagOrDigest}`, { 'content-type': mediaType }, bytes, [200, 201], `manifest ${tagOrDigest}`);
    response.resume();
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    const response = await this.#expect('HEAD', `blobs/${digest}`, {}, undefined, [200, 404], `blob ${digest}`);
    response.resume();
    return response.statusCode === 200;
  }

  /** The blob's bytes as they arrive, unverified (the copy engine hashes them on the way). */
  openBlob(digest: Digest, what = `blob ${digest}`): Promise<IncomingMessage> {
    return this.#expect('GET', `blobs/${digest}`, {}, undefined, [200], what);
  }

  async readBlob(digest: Digest, size: number, what = `blob ${digest}`): Promise<Buffer> {
    return this.#read(await this.openBlob(digest, what), size, what);
  }

  /** A monolithic upload (POST, then PUT with the digest): the registry verifies the digest. */
  async uploadBlob(digest: Digest, size: number, body: Body, what: string): Promise<void> {
    const started = await this.#expect('POST', 'blobs/uploads/', { 'content-length': 0 }, undefined, [202], what);
    started.resume();
    const location = started.headers.location;
    if (location === undefined) throw this.#error('registry', `${what}: the registry started an upload without a Location`);
    const url = new URL(location, this.#base());
    url.searchParams.set('digest', digest);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': size };
    const done = await this.#expect('PUT', url, headers, body, [201, 204], what);
    done.resume();
  }

  #base(): URL {
    return new URL(`${this.#scheme ?? 'https:'}//${this.reference.endpoint}/v2/`);
  }

  async #expect(method: 'GET' | 'HEAD' | 'POST' | 'PUT', target: string | URL, headers: OutgoingHttpHeaders, body: Body | undefined, ok: readonly number[], what: string): Promise<IncomingMessage> {
    const response = await this.#request(method, target, headers, body, what);
    if (ok.includes(response.statusCode ?? 0)) return response;
    throw await this.#statusError(response, what);
  }

  async #request(method: 'GET' | 'HEAD' | 'POST' | 'PUT', target: string | URL, headers: OutgoingHttpHeaders, body: Body | undefined, what: string): Promise<IncomingMessage> {
    const attempt = async (): Promise<IncomingMessage> => {
      const url = typeof target === 'string' ? new URL(`${this.reference.repository}/${target}`, this.#base()) : target;
      const all = this.#authorization === undefined ? headers : { ...headers, authorization: this.#authorization };
      return send({ method, url, headers: all, ...(body !== undefined ? { body } : {}), verifyTls: this.#options.tlsVerify !== false });
    };
    await this.#pickScheme(what);
    let response = await this.#network(attempt, what);
    if (response.statusCode === 401) {
      const challenge = parseChallenge(String(response.headers['www-authenticate'] ?? ''));
      response.resume();
      // A streamed body is gone once sent; uploads authenticate on their POST, before streaming.
      if (!challenge || (body !== undefined && !Buffer.isBuffer(body))) throw this.#unauthorized(what);
      await this.#authenticate(challenge, what);
      response = await this.#network(attempt, what);
      if (response.statusCode === 401) {
        response.resume();
        throw this.#unauthorized(what);
      }
    }
    return response;
  }

  /** HTTPS first; plain HTTP when the host is on this machine or TLS checks are off, as docker does. */
  async #pickScheme(what: string): Promise<void> {
    if (this.#scheme !== undefined) return;
    const insecureAllowed = this.#options.tlsVerify === false || isLoopbackHost(this.reference.host);
    this.#scheme = 'https:';
    if (!insecureAllowed) return;
    try {
      (await send({ method: 'GET', url: this.#base(), verifyTls: this.#options.tlsVerify !== false })).resume();
    } catch (err) {
      this.#scheme = 'http:';
      try {
        (await send({ method: 'GET', url: this.#base(), verifyTls: false })).resume();
      } catch {
        throw this.#networkError(err, what);
      }
    }
  }

  async #network(call: () => Promise<IncomingMessage>, what: string): Promise<IncomingMessage> {
    try {
      return await call();
    } catch (err) {
      throw this.#networkError(err, what);
    }
  }

  async #authenticate(challenge: Challenge, what: string): Promise<void> {
    const env = this.#options.env ?? process.env;
    const credentials = await findCredentials(this.reference.host, this.reference.repository, authFiles(env));
    if (challenge.scheme === 'basic') {
      if (!credentials) throw this.#unauthorized(what);
      this.#authorization = basicAuthorization(credentials);
      return;
    }
    const realm = challenge.params.realm;
    if (challenge.scheme !== 'bearer' || realm === undefined) {
      throw this.#error('unsupported', `${what}: the registry asks for "${challenge.scheme}" authentication, which cairn does not speak`);
    }
    const url = new URL(realm);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    const actions = this.#access === 'push' ? 'pull,push' : 'pull';
    url.searchParams.set('scope', `repository:${this.reference.repository}:${actions}`);
    const headers: OutgoingHttpHeaders = credentials ? { authorization: basicAuthorization(credentials) } : {};
    const response = await this.#network(() => send({ method: 'GET', url, headers, verifyTls: this.#options.tlsVerify !== false }), `token for ${what}`);
    if (response.statusCode !== 200) {
      response.resume();
      throw this.#unauthorized(what);
    }
    const body = JSON.parse((await this.#read(response, 1 << 20, 'token')).toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (token === undefined) throw this.#error('registry', `${what}: the token service at ${url.host} returned no token`);
    this.#authorization = `Bearer ${token}`;
  }

  async #read(response: IncomingMessage, limit: number, what: string): Promise<Buffer> {
    try {
      return await readBody(response, limit, what);
    } catch (err) {
      throw this.#networkError(err, what);
    }
  }

  async #statusError(response: IncomingMessage, what: string): Promise<CairnError> {
    const status = response.statusCode ?? 0;
    let detail = `HTTP ${status}`;
    let registryCode: string | undefined;
    try {
      const body = JSON.parse((await readBody(response, 64 << 10, 'error')).toString('utf8')) as { errors?: { code?: string; message?: string }[] };
      const first = body.errors?.[0];
      if (first) {
        registryCode = first.code;
        detail = `${first.code ?? status}: ${first.message ?? ''}`.trim();
      }
    } catch {
      response.resume();
    }
    const code: ErrorCode =
      status === 404 ? 'not-found' : status === 401 || status === 403 ? 'unauthorized' : registryCode === 'DIGEST_INVALID' ? 'digest-mismatch' : 'registry';
    return new CairnError(code, `${this.description}: ${what}: ${detail}`, { reference: this.description, status, registryCode });
  }

  #unauthorized(what: string): CairnError {
    return this.#error('unauthorized', `${what}: authentication required by ${this.reference.host} (log in with podman/docker login; cairn reads their auth files)`);
  }

  #networkError(err: unknown, what: string): CairnError {
    if (err instanceof CairnError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return this.#error('registry', `${what}: cannot reach ${this.reference.host}: ${message}`, { errno: errnoCode(err) }, err);
  }

  #error(code: ErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown): CairnError {
    return new CairnError(code, `${this.description}: ${message}`, { reference: this.description, ...data }, cause === undefined ? undefined : { cause });
  }
}
