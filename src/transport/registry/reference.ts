/**
 * @module transport/registry/reference
 * Where an image lives in a registry, from what a docker user types: `NAME[:TAG|@DIGEST]`, with
 * docker's defaults — no host means Docker Hub (`docker.io`, reached at `registry-1.docker.io`),
 * a one-component Hub name means `library/NAME`, no tag means `latest`. The first component is
 * a host when it has a `.` or a `:` or is `localhost`, exactly as docker decides.
 */
import type { Digest } from '../../digest/index.js';
import { parseReference, DEFAULT_TAG } from '../../store/reference.js';

export interface RegistryReference {
  /** The host as written (`127.0.0.1:5000`, `docker.io`), used for credentials and messages. */
  readonly host: string;
  /** The host to connect to: `registry-1.docker.io` for `docker.io`. */
  readonly endpoint: string;
  /** The repository inside the registry: `library/busybox`, `team/app`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

const DOCKER_HUB = 'docker.io';

export function parseRegistryReference(text: string, what = 'registry reference'): RegistryReference {
  const ref = parseReference(text, what);
  const parts = ref.name.split('/');
  const first = parts[0] ?? '';
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  const host = hasHost ? first : DOCKER_HUB;
  let repository = hasHost ? parts.slice(1).join('/') : ref.name;
  if ((host === DOCKER_HUB || host === 'index.docker.io') && !repository.includes('/')) repository = `library/${repository}`;
  const tag = ref.tag ?? (ref.digest === undefined ? DEFAULT_TAG : undefined);
  return {
    host,
    endpoint: host === DOCKER_HUB || host === 'index.docker.io' ? 'registry-1.docker.io' : host,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
  };
}

/** `host/repository:tag` (and `@digest`), as the user would write it again. */
export function formatRegistryReference(ref: RegistryReference): string {
  return `${ref.host}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** True for hosts on this machine, which docker treats as insecure registries by default. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}
