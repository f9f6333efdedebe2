/**
 * @module build/args
 * Build arguments as docker scopes them:
 *
 * - ARGs before the first FROM (meta args) are usable in FROM lines only; a stage sees one when
 *   it says `ARG NAME` again (taking the meta value unless `--build-arg` overrides it).
 * - A stage starts with no args; `ARG NAME[=default]` brings NAME into scope with the
 *   `--build-arg` value, else the default (expanded), else the meta value; without any value
 *   it is in scope but unset.
 * - ENV beats ARG: a name set by ENV expands to the ENV value and is left out of RUN's args.
 * - Predefined args (`HTTP_PROXY`, `http_proxy`, … `ALL_PROXY`, `all_proxy`) reach RUN's
 *   environment when given with `--build-arg`, declared or not, and are kept out of history
 *   and the cache key unless declared (docker's `IsReferencedOrNotBuiltin`).
 * - Platform args (`TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`, `BUILDPLATFORM`,
 *   `BUILDOS`, `BUILDARCH`, `BUILDVARIANT`) are set in the meta scope, and in a stage once
 *   declared (BuildKit's automatic platform args).
 */
import type { Platform } from '../oci/index.js';

export const PROXY_ARGS: readonly string[] = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
];

/** BuildKit's automatic platform args for a build on and for `platform`. */
export function platformArgs(platform: Platform): Map<string, string> {
  const text = `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
  const out = new Map<string, string>();
  for (const prefix of ['TARGET', 'BUILD']) {
    out.set(`${prefix}PLATFORM`, text);
    out.set(`${prefix}OS`, platform.os);
    out.set(`${prefix}ARCH`, platform.architecture);
    out.set(`${prefix}VARIANT`, platform.variant ?? '');
  }
  return out;
}

/** The `--build-arg` values and which of them a build used. */
export class BuildArgs {
  readonly #given: ReadonlyMap<string, string>;
  readonly #used = new Set<string>();

  constructor(given: Readonly<Record<string, string>> | ReadonlyMap<string, string> = {}) {
    this.#given = given instanceof Map ? new Map(given) : new Map(Object.entries(given));
  }

  get(name: string): string | undefined {
    const value = this.#given.get(name);
    if (value !== undefined) this.#used.add(name);
    return value;
  }

  /** Proxy args given on the command line (RUN gets them, declared or not). */
  proxies(): Map<string, string> {
    const out = new Map<string, string>();
    for (const name of PROXY_ARGS) {
      const value = this.#given.get(name);
      if (value !== undefined) {
        out.set(name, value);
        this.#used.add(name);
      }
    }
    return out;
  }

  /** `--build-arg` names no ARG consumed (docker warns about them; never about the predefined ones). */
  unused(): string[] {
    return [...this.#given.keys()].filter((k) => !this.#used.has(k) && !PROXY_ARGS.includes(k)).sort();
  }
}

/**
 * The args of one stage: declared names, in declaration order (a later ARG of the same name
 * replaces the earlier value).
 */
export class StageArgs {
  /** name → value (undefined: declared without a value). */
  readonly #values = new Map<string, string | undefined>();

  declare(name: string, value: string | undefined): void {
    this.#values.delete(name);
    this.#values.set(name, value);
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** Declared args that have a value. */
  withValues(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of this.#values) if (v !== undefined) out.set(k, v);
    return out;
  }

  clone(): StageArgs {
    const copy = new StageArgs();
    for (const [k, v] of this.#values) copy.declare(k, v);
    return copy;
  }
}

/** `NAME=value` entries of an image Env as a map (the last entry of a name wins). */
export function envMap(env: readonly string[] | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    out.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
  }
  return out;
}

/** What expansion sees in a stage: args with values, then ENV over them. */
export function expansionEnv(args: StageArgs, env: readonly string[] | null | undefined): Map<string, string> {
  const out = args.withValues();
  for (const [k, v] of envMap(env)) out.set(k, v);
  return out;
}

/**
 * What RUN gets: `env` (declared args with values plus given proxies, minus names ENV sets) for
 * the process, and `history` (the declared ones among them, `K=v`) for `created_by` and the
 * cache key. `history` is undefined when there is nothing to prefix (docker adds `|0` when only
 * undeclared proxies are set).
 */
export function runArgs(args: StageArgs, proxies: ReadonlyMap<string, string>, env: readonly string[] | null | undefined): { env: string[]; history: string[] | undefined } {
  const set = envMap(env);
  const declared = [...args.withValues()].filter(([k]) => !set.has(k));
  const extra = [...proxies].filter(([k]) => !set.has(k) && !args.has(k));
  const all = [...declared, ...extra];
  return {
    env: all.map(([k, v]) => `${k}=${v}`),
    history: all.length === 0 ? undefined : declared.map(([k, v]) => `${k}=${v}`),
  };
}
