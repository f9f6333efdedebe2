/**
 * @module store/reference
 * Image references as a docker user types them: `NAME[:TAG]`, `NAME@DIGEST`, where NAME may carry
 * a registry host (`localhost:5000/team/app`). A bare name means `:latest`, as in docker. Names
 * are kept as written (no `docker.io/library/` expansion): the store is local, and a name is what
 * the user tagged.
 */
import { isDigest, type Digest } from '../digest/index.js';
import { CairnError } from '../errors.js';

export interface Reference {
  /** The repository: `busybox`, `localhost:5000/team/app`. */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

export const DEFAULT_TAG = 'latest';

/** Parses `NAME[:TAG][@DIGEST]`. `what` names the input in errors. */
export function parseReference(text: string, what = 'image reference'): Reference {
  const bad = (why: string): CairnError =>
    new CairnError('invalid-argument', `${what} "${text}": ${why}`, { reference: text });
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(`"${d}" is not a valid digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (rest.length === 0) throw bad('the name is empty');
  if (rest.length > 255) throw bad('the name is longer than 255 characters');
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (hasHost && !HOST.test(first)) throw bad(`"${first}" is not a valid registry host`);
  for (const component of hasHost ? parts.slice(1) : parts) {
    if (!COMPONENT.test(component)) {
      throw bad(`"${component}" is not a valid name component (lowercase letters, digits and separators . _ __ -)`);
    }
  }
  return { name: rest, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `name:tag` with the default tag filled in (the value of the ref.name annotation in the store). */
export function tagged(ref: Reference): string {
  return `${ref.name}:${ref.tag ?? DEFAULT_TAG}`;
}

export function formatReference(ref: Reference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** Splits a stored `name:tag` annotation back into its parts. */
export function splitTagged(value: string): { name: string; tag: string } {
  const slash = value.lastIndexOf('/');
  const colon = value.lastIndexOf(':');
  if (colon > slash) return { name: value.slice(0, colon), tag: value.slice(colon + 1) };
  return { name: value, tag: DEFAULT_TAG };
}
