/**
 * @module build/stages
 * Which stages a build runs, in what order. A stage depends on the stage its FROM names and on
 * the stages `COPY --from=` and `RUN --mount=from=` name (by name, case-insensitively, or by
 * index); a name that is no stage is an image in the store. FROM sees only earlier stages
 * (`FROM busybox AS busybox` is the image), `--from` any stage. Only the target stage (`--target`,
 * else the last) and what it needs are built, dependencies first (BuildKit's rule: a stage no
 * one needs is skipped). A dependency cycle is an error naming the line that closes it.
 */
import { CairnError } from '../errors.js';
import { dockerfileError, parseMount } from './parser/index.js';
import type { Instruction, ParsedInstructions, Stage } from './parser/index.js';
import { expandWord, type ShellEnv } from './shell/index.js';

/** What a FROM or a `--from` refers to. */
export type StageRef = { readonly kind: 'scratch' } | { readonly kind: 'stage'; readonly index: number } | { readonly kind: 'image'; readonly ref: string };

export interface StagePlan {
  readonly index: number;
  readonly stage: Stage;
  /** The FROM line after expansion with the meta args. */
  readonly base: StageRef;
  readonly baseText: string;
  /** Stages this one needs (FROM and `--from`), by index. */
  readonly needs: readonly number[];
}

export interface BuildPlan {
  /** Stages to build, dependencies first; the last is the target. */
  readonly order: readonly StagePlan[];
  readonly target: StagePlan;
  /** Every stage, built or not (for `--from` lookups by index). */
  readonly all: readonly StagePlan[];
}

/** Finds a stage by name or index among `stages`; undefined when it is no stage. */
export function findStage(stages: readonly Stage[], name: string): number | undefined {
  if (/^\d+$/.test(name)) {
    const i = Number(name);
    return i < stages.length ? i : undefined;
  }
  const lower = name.toLowerCase();
  const i = stages.findIndex((s) => s.name === lower);
  return i < 0 ? undefined : i;
}

/** The `--from` of a COPY or the `from=` of a RUN mount, expanded, or undefined. */
export function fromReferences(instruction: Instruction, env: ShellEnv, escape: '\\' | '`'): string[] {
  const opts = { escape };
  if (instruction.kind === 'copy' && instruction.from !== undefined) return [expandWord(instruction.from, env, opts)];
  if (instruction.kind === 'run') {
    const out: string[] = [];
    for (const spec of instruction.mounts) {
      const m = parseMount(spec, (v) => expandWord(v, env, opts));
      if (m.from !== undefined && m.from !== '') out.push(m.from);
    }
    return out;
  }
  return [];
}

/**
 * Resolves FROM lines and dependencies, picks the target and orders the stages it needs.
 *
 * @throws CairnError 'invalid-document' (`Dockerfile:N: …`): empty base name, cyclic
 *   dependency; 'not-found' for an unknown `--target`.
 */
export function planStages(parsed: ParsedInstructions, options: { file: string; metaEnv: ShellEnv; escape: '\\' | '`'; target?: string }): BuildPlan {
  const { stages } = parsed;
  if (stages.length === 0) throw new CairnError('invalid-document', `${options.file}: no FROM instruction: a Dockerfile must start a stage with FROM`, { file: options.file });
  const opts = { escape: options.escape };
  const all: StagePlan[] = stages.map((stage, index) => {
    const baseText = expandWord(stage.from.image, options.metaEnv, opts);
    if (baseText === '') throw dockerfileError(options.file, stage.startLine, stage.endLine, `base name (${stage.from.image}) should not be blank`);
    const needs = new Set<number>();
    let base: StageRef;
    const byName = findStage(stages, baseText);
    if (baseText.toLowerCase() === 'scratch') base = { kind: 'scratch' };
    else if (byName !== undefined && byName < index && !/^\d+$/.test(baseText)) {
      base = { kind: 'stage', index: byName };
      needs.add(byName);
    } else base = { kind: 'image', ref: baseText };
    for (const instruction of stage.instructions) {
      let refs: string[];
      try {
        refs = fromReferences(instruction, options.metaEnv, options.escape);
      } catch (err) {
        throw located(err, options.file, instruction);
      }
      for (const ref of refs) {
        const i = findStage(stages, ref);
        if (i !== undefined) needs.add(i);
      }
    }
    return { index, stage, base, baseText, needs: [...needs] };
  });

  let targetIndex = stages.length - 1;
  if (options.target !== undefined) {
    const i = stages.findIndex((s) => s.name === options.target?.toLowerCase());
    if (i < 0) throw new CairnError('not-found', `target stage "${options.target}" could not be found`, { target: options.target });
    targetIndex = i;
  }

  const order: StagePlan[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (i: number, via: number | undefined): void => {
    const s = state.get(i);
    if (s === 'done') return;
    const plan = all[i] as StagePlan;
    if (s === 'visiting') {
      const from = all[via ?? i] as StagePlan;
      const line = lineReferencing(from, i, stages) ?? { startLine: from.stage.startLine, endLine: from.stage.endLine };
      throw dockerfileError(options.file, line.startLine, line.endLine, `circular dependency detected on stage: ${stageLabel(plan)}`);
    }
    state.set(i, 'visiting');
    for (const dep of plan.needs) visit(dep, i);
    state.set(i, 'done');
    order.push(plan);
  };
  visit(targetIndex, undefined);
  return { order, target: all[targetIndex] as StagePlan, all };
}

export function stageLabel(plan: StagePlan): string {
  return plan.stage.name ?? String(plan.index);
}

function lineReferencing(from: StagePlan, target: number, stages: readonly Stage[]): { startLine: number; endLine: number } | undefined {
  if (from.base.kind === 'stage' && from.base.index === target) return from.stage;
  for (const instruction of from.stage.instructions) {
    const ref = instruction.kind === 'copy' ? instruction.from : undefined;
    if (ref !== undefined && findStage(stages, ref) === target) return instruction;
    if (instruction.kind === 'run' && instruction.mounts.some((m) => /(^|,)from=/.test(m))) return instruction;
  }
  return undefined;
}

function located(err: unknown, file: string, at: { startLine: number; endLine: number }): unknown {
  if (err instanceof CairnError && err.code === 'invalid-document' && typeof err.data.reason === 'string' && err.data.line === undefined) {
    return dockerfileError(file, at.startLine, at.endLine, err.data.reason);
  }
  return err;
}
