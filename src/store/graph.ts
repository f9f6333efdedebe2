/**
 * @module store/graph
 * The content graph: which blobs a manifest or index references. Used by gc (mark) and fsck
 * (every reference must resolve). It reads documents leniently — an index's `manifests`, a
 * manifest's `config`, `layers` and `subject` — so a store with one malformed document can
 * still be collected and checked; validation is fsck's separate step.
 */
import { isDigest, type Digest } from '../digest/index.js';
import type { BlobStore } from './blobs.js';

export interface GraphEdge {
  readonly digest: Digest;
  readonly mediaType?: string;
  /** The document that references it. */
  readonly from: Digest;
  /** Where in that document (`layers[2]`, `manifests[0]`, `config`). */
  readonly field: string;
}

interface LooseDescriptor {
  digest?: unknown;
  mediaType?: unknown;
}

/** Descriptors referenced by a manifest or index document. */
export function referencesOf(from: Digest, bytes: Uint8Array): GraphEdge[] {
  let doc: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return [];
    doc = parsed as Record<string, unknown>;
  } catch {
    return [];
  }
  const edges: GraphEdge[] = [];
  const add = (value: unknown, field: string): void => {
    const d = value as LooseDescriptor | null;
    if (typeof d !== 'object' || d === null || !isDigest(d.digest)) return;
    edges.push({ digest: d.digest, from, field, ...(typeof d.mediaType === 'string' ? { mediaType: d.mediaType } : {}) });
  };
  if (Array.isArray(doc.manifests)) doc.manifests.forEach((m, i) => add(m, `manifests[${i}]`));
  add(doc.config, 'config');
  if (Array.isArray(doc.layers)) doc.layers.forEach((l, i) => add(l, `layers[${i}]`));
  add(doc.subject, 'subject');
  return edges;
}

/** True when a referenced blob is itself a document whose references must be followed. */
export function isTraversable(edge: GraphEdge): boolean {
  return edge.field.startsWith('manifests[') || edge.field === 'subject';
}

export interface WalkResult {
  /** Every digest reachable from the roots, the roots included. */
  readonly reachable: Set<Digest>;
  /** References to blobs the store does not have. */
  readonly missing: GraphEdge[];
  /** The image configs among `reachable` (their diff_ids name the layers derived data may keep). */
  readonly configs: Set<Digest>;
}

/** The largest blob read as a document (BlobStore.readBytes' default limit). */
const MAX_DOCUMENT_SIZE = 64 << 20;

/** Marks everything reachable from `roots` (manifest or index digests; other blobs are kept as leaves). */
export async function walkGraph(blobs: BlobStore, roots: Iterable<Digest>): Promise<WalkResult> {
  const reachable = new Set<Digest>();
  const missing: GraphEdge[] = [];
  const queue: Digest[] = [];
  for (const root of roots) {
    if (!reachable.has(root)) {
      reachable.add(root);
      queue.push(root);
    }
  }
  const configs = new Set<Digest>();
  while (queue.length > 0) {
    const digest = queue.pop() as Digest;
    // Absent, or too big to be a document (a root may pin a layer blob directly): nothing to follow.
    const size = await blobs.stat(digest);
    if (size === undefined || size > MAX_DOCUMENT_SIZE) continue;
    const bytes = await blobs.readBytes(digest, { verify: false });
    for (const edge of referencesOf(digest, bytes)) {
      if (!(await blobs.has(edge.digest))) {
        missing.push(edge);
        continue;
      }
      if (edge.field === 'config') configs.add(edge.digest);
      if (reachable.has(edge.digest)) continue;
      reachable.add(edge.digest);
      if (isTraversable(edge)) queue.push(edge.digest);
    }
  }
  return { reachable, missing, configs };
}
