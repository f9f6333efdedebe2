/**
 * @module cli/commands/inspect
 * `cairn inspect IMAGE...`: docker's image inspect JSON (Id, RepoTags, RepoDigests, Created,
 * Author, Config, Architecture, Os, Size, RootFS, ...), plus the manifest descriptor under
 * `Descriptor` since cairn images are OCI first.
 */
import { summarize, type ImageSummary } from '../../image/list.js';
import { resolveImage } from '../../image/resolve.js';
import { CairnError } from '../../errors.js';
import { tagRecords } from '../../store/tags.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'inspect [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Display detailed information on one or more images',
  options: {
    format: { type: 'string', short: 'f', value: 'TEMPLATE', description: 'print one field: {{.Id}}, {{.Config.Cmd}}, {{json .Config}}' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length === 0) throw new CairnError('invalid-argument', 'inspect: needs at least one image');
    const store = await openStore(io, options.store);
    const records = tagRecords((await store.readIndex()).manifests);
    const out: Record<string, unknown>[] = [];
    for (const text of positionals) {
      const image = await resolveImage(store, text);
      const summary = await summarize(store, image);
      const tags = records.filter((r) => r.descriptor.digest === image.entry.digest && r.name !== undefined);
      out.push(dockerInspect(summary, tags.map((r) => `${r.name}:${r.tag}`)));
    }
    if (options.format !== undefined) {
      for (const item of out) print(io.stdout, applyFormat(options.format, item));
      return 0;
    }
    print(io.stdout, JSON.stringify(out, null, 4));
    return 0;
  },
});

function dockerInspect(image: ImageSummary, repoTags: string[]): Record<string, unknown> {
  const config = image.config;
  const history = config.history ?? [];
  const names = [...new Set(repoTags.map((t) => t.slice(0, t.lastIndexOf(':'))))];
  return {
    Id: image.id,
    RepoTags: repoTags,
    RepoDigests: names.map((n) => `${n}@${image.manifestDescriptor.digest}`),
    Parent: '',
    Comment: history.at(-1)?.comment ?? '',
    Created: config.created ?? '',
    Author: config.author ?? '',
    Config: config.config ?? {},
    Architecture: config.architecture,
    ...(config.variant !== undefined ? { Variant: config.variant } : {}),
    Os: config.os,
    Size: image.size,
    RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
    Descriptor: image.manifestDescriptor,
  };
}

/** A small subset of Go templates: `{{.A.B}}` and `{{json .A}}`, enough for scripts. */
export function applyFormat(template: string, value: Record<string, unknown>): string {
  return template.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let current: unknown = value;
    for (const key of path.split('.').filter(Boolean)) {
      current = typeof current === 'object' && current !== null ? (current as Record<string, unknown>)[key] : undefined;
    }
    if (json) return JSON.stringify(current ?? null);
    if (Array.isArray(current)) return `[${current.join(' ')}]`;
    if (current === undefined || current === null) return '<no value>';
    return typeof current === 'object' ? JSON.stringify(current) : String(current);
  });
}
