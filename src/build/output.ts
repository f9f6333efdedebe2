/**
 * @module build/output
 * What a build reports, as events, and their text in docker's classic-builder form:
 *
 *     Step 1/3 : FROM busybox
 *      ---> 44aa4490ce2c
 *     Step 2/3 : RUN echo hi
 *      ---> Running in 0bd2f5c7c8e1
 *     hi
 *     Removing intermediate container 0bd2f5c7c8e1
 *      ---> 5f5d0b0e6e1a
 *     Step 3/3 : CMD ["sh"]
 *      ---> Using cache
 *      ---> 7d3cf0b2c6a4
 *     Successfully built 7d3cf0b2c6a4
 *     Successfully tagged web:v3
 *
 * Only RUN starts a container, so only RUN prints `Running in` / `Removing intermediate
 * container` (docker's classic builder also makes a throwaway container for config-only
 * steps; cairn changes the config directly). IDs are 12 hex digits of the image ID (config
 * digest) and of the container ID.
 */

export type BuildEvent =
  | { readonly type: 'step'; readonly index: number; readonly total: number; readonly text: string }
  | { readonly type: 'triggers'; readonly count: number }
  /** A step's resulting image ID; `base` for the line after FROM (the base image). */
  | { readonly type: 'image'; readonly id: string; readonly base?: boolean }
  | { readonly type: 'cached' }
  | { readonly type: 'container'; readonly id: string }
  | { readonly type: 'output'; readonly data: string }
  | { readonly type: 'removed'; readonly id: string }
  | { readonly type: 'warning'; readonly text: string }
  | { readonly type: 'built'; readonly id: string }
  | { readonly type: 'tagged'; readonly ref: string };

/**
 * The log a rebuild that hits the cache at every step would print, from a build's events:
 * each step that ran gets ` ---> Using cache` instead of its container lines and output.
 */
export function cachedRendition(events: readonly BuildEvent[]): BuildEvent[] {
  const out: BuildEvent[] = [];
  for (const event of events) {
    if (event.type === 'container' || event.type === 'output' || event.type === 'removed') continue;
    if (event.type === 'image' && !event.base && out[out.length - 1]?.type !== 'cached') out.push({ type: 'cached' });
    out.push(event);
  }
  return out;
}

/** 12 hex digits of an ID (`sha256:` dropped). */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** The classic text of one event (RUN output passes through as it came). */
export function formatEvent(event: BuildEvent): string {
  switch (event.type) {
    case 'step':
      return `Step ${event.index}/${event.total} : ${event.text}\n`;
    case 'triggers':
      return `# Executing ${event.count} build trigger${event.count === 1 ? '' : 's'}\n`;
    case 'image':
      return ` ---> ${shortId(event.id)}\n`;
    case 'cached':
      return ' ---> Using cache\n';
    case 'container':
      return ` ---> Running in ${shortId(event.id)}\n`;
    case 'output':
      return event.data;
    case 'removed':
      return `Removing intermediate container ${shortId(event.id)}\n`;
    case 'warning':
      return `[Warning] ${event.text}\n`;
    case 'built':
      return `Successfully built ${shortId(event.id)}\n`;
    case 'tagged':
      return `Successfully tagged ${event.ref}\n`;
  }
}
