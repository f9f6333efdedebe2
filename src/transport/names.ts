/**
 * @module transport/names
 * Parses skopeo-style transport names: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
 * `docker-archive:FILE[:NAME[:TAG]|:@N]`, `docker://HOST/NAME[:TAG|@DIGEST]` (a registry);
 * anything else is an image in the store
 * (`NAME[:TAG]`, `NAME@DIGEST`, an image ID). As in skopeo, the path ends at the first `:`.
 */
import { CairnError } from '../errors.js';

export type TransportName =
  | { readonly kind: 'oci'; readonly path: string; readonly ref?: string }
  | { readonly kind: 'oci-archive'; readonly path: string; readonly ref?: string }
  | { readonly kind: 'docker-archive'; readonly path: string; readonly ref?: string }
  | { readonly kind: 'docker'; readonly reference: string }
  | { readonly kind: 'store'; readonly ref: string };

const PREFIXES = ['oci', 'oci-archive', 'docker-archive'] as const;

export function parseTransportName(text: string): TransportName {
  for (const kind of PREFIXES) {
    if (!text.startsWith(`${kind}:`)) continue;
    const rest = text.slice(kind.length + 1);
    const colon = rest.indexOf(':');
    const filePath = colon < 0 ? rest : rest.slice(0, colon);
    const ref = colon < 0 ? undefined : rest.slice(colon + 1);
    if (filePath === '') throw new CairnError('invalid-argument', `"${text}": the ${kind} transport needs a path`, { name: text });
    return ref === undefined || ref === '' ? { kind, path: filePath } : { kind, path: filePath, ref };
  }
  if (text.startsWith('docker://')) {
    const reference = text.slice('docker://'.length);
    if (reference === '') throw new CairnError('invalid-argument', `"${text}": the docker transport needs an image reference`, { name: text });
    return { kind: 'docker', reference };
  }
  if (/^[a-z][a-z0-9-]*:\/\//.test(text) || text.startsWith('docker:') || text.startsWith('dir:')) {
    throw new CairnError('unsupported', `"${text}": transport not supported (use oci:, oci-archive:, docker-archive:, docker:// or a store image name)`, {
      name: text,
    });
  }
  return { kind: 'store', ref: text };
}

export function formatTransportName(name: TransportName): string {
  if (name.kind === 'store') return name.ref;
  if (name.kind === 'docker') return `docker://${name.reference}`;
  return `${name.kind}:${name.path}${name.ref !== undefined ? `:${name.ref}` : ''}`;
}
