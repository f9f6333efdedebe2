/**
 * @module build/config-steps
 * The instructions that change only the image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
 * USER, WORKDIR, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER), applied to a
 * `ContainerConfig` as docker applies them. Shared by the builder and by
 * `commit --change` (which takes the same one-line instructions, as `docker commit` does).
 * Words are expanded with the config's own Env, as a Dockerfile step would see it.
 */
import { CairnError } from '../errors.js';
import type { ContainerConfig, HealthConfig } from '../oci/index.js';
import { parseDockerfile, parseInstruction } from './parser/index.js';
import type { Instruction } from './parser/instruction-types.js';
import { expandWord, expandWords, type ShellEnv } from './shell/index.js';

/** The instruction kinds that only touch the config. */
export const CONFIG_KINDS = ['cmd', 'entrypoint', 'env', 'expose', 'label', 'user', 'workdir', 'volume', 'stopsignal', 'shell', 'healthcheck', 'onbuild', 'maintainer'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

/** `commit --change` accepts these (docker's list). */
export const COMMIT_CHANGE_KINDS: readonly ConfigKind[] = ['cmd', 'entrypoint', 'env', 'expose', 'label', 'user', 'workdir', 'volume', 'stopsignal', 'onbuild'];

export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

export interface ConfigStepResult {
  readonly config: ContainerConfig;
  /** MAINTAINER sets the image's author, outside the container config. */
  readonly author?: string;
}

function envMap(config: ContainerConfig): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const eq = entry.indexOf('=');
    map.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
  }
  return map;
}

/** The argv a CMD/ENTRYPOINT/RUN line runs: exec form as written, shell form behind the SHELL. */
export function commandArgv(cmdLine: readonly string[], prependShell: boolean, shell: readonly string[] | undefined): string[] {
  return prependShell ? [...(shell && shell.length > 0 ? shell : DEFAULT_SHELL), cmdLine.join(' ')] : [...cmdLine];
}

function setEnv(env: readonly string[] | null | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const at = out.findIndex((e) => e === key || e.startsWith(`${key}=`));
  if (at >= 0) out[at] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

function health(h: { test: readonly string[]; interval: number; timeout: number; startPeriod: number; startInterval: number; retries: number }): HealthConfig {
  return {
    Test: [...h.test],
    ...(h.interval ? { Interval: h.interval } : {}),
    ...(h.timeout ? { Timeout: h.timeout } : {}),
    ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
    ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
    ...(h.retries ? { Retries: h.retries } : {}),
  };
}

export interface ConfigStepOptions {
  /**
   * What words expand with (a build stage's args with its ENV over them); default: the
   * config's own Env. ENV instructions add to a copy of it as they go.
   */
  readonly env?: ShellEnv;
  /** The Dockerfile's escape character (`# escape=`). */
  readonly escape?: '\\' | '`';
}

/** Applies one config instruction; other kinds are an error naming the instruction. */
export function applyConfigInstruction(config: ContainerConfig, instruction: Instruction, options: ConfigStepOptions = {}): ConfigStepResult {
  const env = options.env ? new Map(options.env instanceof Map ? options.env : Object.entries(options.env)) : envMap(config);
  const lexer = options.escape ? { escape: options.escape } : {};
  const word = (w: string): string => expandWord(w, env, lexer);
  switch (instruction.kind) {
    case 'cmd':
      return { config: { ...config, Cmd: commandArgv(instruction.cmdLine, instruction.prependShell, config.Shell) } };
    case 'entrypoint':
      return { config: { ...config, Entrypoint: commandArgv(instruction.cmdLine, instruction.prependShell, config.Shell) } };
    case 'env': {
      let next = config.Env ?? [];
      for (const pair of instruction.pairs) {
        const value = word(pair.value);
        next = setEnv(next, word(pair.key), value);
        env.set(word(pair.key), value);
      }
      return { config: { ...config, Env: [...next] } };
    }
    case 'label': {
      const labels: Record<string, string> = { ...(config.Labels ?? {}) };
      for (const pair of instruction.pairs) labels[word(pair.key)] = word(pair.value);
      return { config: { ...config, Labels: labels } };
    }
    case 'expose': {
      const ports: Record<string, Record<string, never>> = { ...(config.ExposedPorts ?? {}) };
      for (const raw of instruction.ports.flatMap((p) => expandWords(p, env, lexer))) ports[raw.includes('/') ? raw.toLowerCase() : `${raw}/tcp`] = {};
      return { config: { ...config, ExposedPorts: ports } };
    }
    case 'user':
      return { config: { ...config, User: word(instruction.user) } };
    case 'workdir': {
      const dir = word(instruction.path);
      // A relative WORKDIR is relative to the previous one, as docker resolves it.
      const base = config.WorkingDir && config.WorkingDir !== '' ? config.WorkingDir : '/';
      const joined = dir.startsWith('/') ? dir : `${base.replace(/\/$/, '')}/${dir}`;
      return { config: { ...config, WorkingDir: joined } };
    }
    case 'volume': {
      const volumes: Record<string, Record<string, never>> = { ...(config.Volumes ?? {}) };
      for (const v of instruction.volumes) volumes[word(v)] = {};
      return { config: { ...config, Volumes: volumes } };
    }
    case 'stopsignal':
      return { config: { ...config, StopSignal: word(instruction.signal) } };
    case 'shell':
      return { config: { ...config, Shell: [...instruction.shell] } };
    case 'healthcheck':
      return { config: { ...config, Healthcheck: health(instruction.health) } };
    case 'onbuild':
      return { config: { ...config, OnBuild: [...(config.OnBuild ?? []), instruction.expression] } };
    case 'maintainer':
      return { config, author: instruction.maintainer };
    default:
      throw new CairnError('invalid-argument', `${instruction.keyword.toUpperCase()} does not change the image config`, { instruction: instruction.original });
  }
}

/**
 * Parses and applies `--change` values (`'CMD ["sh"]'`, `'ENV A=b'`), as `docker commit --change`.
 * Errors name the change.
 */
export function applyChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  let current = config;
  for (const change of changes) {
    const parsed = parseDockerfile(change, { file: '--change' });
    const node = parsed.nodes[0];
    if (!node || parsed.nodes.length !== 1) {
      throw new CairnError('invalid-argument', `--change "${change}": give exactly one instruction`, { change });
    }
    const instruction = parseInstruction(node);
    if (instruction.kind === 'from' || !(COMMIT_CHANGE_KINDS as readonly string[]).includes(instruction.kind)) {
      throw new CairnError('invalid-argument', `--change "${change}": ${node.instruction.toUpperCase()} is not supported here (use one of ${COMMIT_CHANGE_KINDS.map((k) => k.toUpperCase()).join(', ')})`, {
        change,
      });
    }
    current = applyConfigInstruction(current, instruction).config;
  }
  return current;
}
