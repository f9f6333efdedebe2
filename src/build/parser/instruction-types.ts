/**
 * @module build/parser/instruction-types
 * The typed instructions `parseInstructions` produces for the builder: a discriminated union
 * on `kind`, one member per Dockerfile instruction, mirroring BuildKit's `instructions`
 * package. Values are as written (nothing expanded): the builder expands them with
 * `expandWord` when it runs the step, because build args and ENV are only known then.
 */
import type { CacheSharing, MountType, NetworkMode, RunDevice, RunMount, SecurityMode } from './run-options.js';

export type { CacheSharing, MountType, NetworkMode, RunDevice, RunMount, SecurityMode };

/** Where an instruction is and how it was written. */
export interface InstructionBase {
  /** The keyword as written (`RUN`, `run`). */
  readonly keyword: string;
  /** The source text of the logical line, trimmed (BuildKit's `String()`). */
  readonly original: string;
  readonly startLine: number;
  readonly endLine: number;
  /** Comment lines directly above. */
  readonly comments: readonly string[];
}

/** ENV/LABEL pair; `noDelim` for the legacy `ENV key value` form. */
export interface KeyValuePair {
  readonly key: string;
  readonly value: string;
  readonly noDelim: boolean;
}

/** ARG `name` or `name=default`; `docComment` from a `# name …` comment above. */
export interface ArgDefinition {
  readonly key: string;
  readonly value?: string;
  readonly docComment?: string;
}

/** A heredoc used as a COPY/ADD source. */
export interface SourceContent {
  /** The heredoc name, used as the file name. */
  readonly path: string;
  /** The body (leading tabs already removed for `<<-`). */
  readonly data: string;
  /** Whether variables in `data` are to be expanded. */
  readonly expand: boolean;
}

/** A heredoc attached to RUN/CMD/ENTRYPOINT. */
export interface ShellInlineFile {
  readonly name: string;
  readonly data: string;
  /** `<<-`: strip leading tabs when using it. */
  readonly chomp: boolean;
}

/** What RUN, CMD and ENTRYPOINT share. */
export interface CommandLine {
  /** Exec form: the array; shell form: one string (arguments joined by a space). */
  readonly cmdLine: readonly string[];
  /** True for shell form: the image's SHELL is to be put in front. */
  readonly prependShell: boolean;
  readonly files: readonly ShellInlineFile[];
}

export interface EnvInstruction extends InstructionBase { readonly kind: 'env'; readonly pairs: readonly KeyValuePair[] }
export interface LabelInstruction extends InstructionBase { readonly kind: 'label'; readonly pairs: readonly KeyValuePair[] }
export interface MaintainerInstruction extends InstructionBase { readonly kind: 'maintainer'; readonly maintainer: string }
export interface WorkdirInstruction extends InstructionBase { readonly kind: 'workdir'; readonly path: string }
export interface UserInstruction extends InstructionBase { readonly kind: 'user'; readonly user: string }
export interface StopSignalInstruction extends InstructionBase { readonly kind: 'stopsignal'; readonly signal: string }
export interface VolumeInstruction extends InstructionBase { readonly kind: 'volume'; readonly volumes: readonly string[] }
/** Ports as written (`80`, `53/udp`, `$PORT`), sorted as BuildKit sorts them. */
export interface ExposeInstruction extends InstructionBase { readonly kind: 'expose'; readonly ports: readonly string[] }
export interface ShellInstruction extends InstructionBase { readonly kind: 'shell'; readonly shell: readonly string[] }
export interface ArgInstruction extends InstructionBase { readonly kind: 'arg'; readonly args: readonly ArgDefinition[] }
/** ONBUILD: the trigger's source text, stored in the image and parsed when a child build runs. */
export interface OnbuildInstruction extends InstructionBase { readonly kind: 'onbuild'; readonly expression: string }

/** Sources and destination of COPY/ADD. */
export interface SourcesAndDest {
  readonly sources: readonly string[];
  /** Heredoc sources (`COPY <<EOF /dest`). */
  readonly contents: readonly SourceContent[];
  readonly dest: string;
}

export interface CopyInstruction extends InstructionBase, SourcesAndDest {
  readonly kind: 'copy';
  /** `--from=stage|image|index`. */
  readonly from?: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
}

export interface AddInstruction extends InstructionBase, SourcesAndDest {
  readonly kind: 'add';
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  /** Present only when `--keep-git-dir` was given. */
  readonly keepGitDir?: boolean;
  readonly checksum?: string;
  /** Present only when `--unpack` was given. */
  readonly unpack?: boolean;
  readonly exclude: readonly string[];
}

export interface RunInstruction extends InstructionBase, CommandLine {
  readonly kind: 'run';
  /** Raw `--mount` values (syntax checked); `parseMount(value, expand)` types them. */
  readonly mounts: readonly string[];
  readonly network: NetworkMode;
  readonly security: SecurityMode;
  readonly devices: readonly RunDevice[];
  /** Flag names given, in order. */
  readonly flagsUsed: readonly string[];
}

export interface CmdInstruction extends InstructionBase, CommandLine { readonly kind: 'cmd' }
export interface EntrypointInstruction extends InstructionBase, CommandLine { readonly kind: 'entrypoint' }

/** Docker's HealthcheckConfig; durations in nanoseconds, 0 = inherit the default. */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", …]` (exec form) or `["CMD-SHELL", "cmd"]`. */
  readonly test: readonly string[];
  readonly interval: number;
  readonly timeout: number;
  readonly startPeriod: number;
  readonly startInterval: number;
  readonly retries: number;
}

export interface HealthcheckInstruction extends InstructionBase {
  readonly kind: 'healthcheck';
  readonly health: HealthConfig;
}

/** Every instruction that can appear inside a stage. */
export type Instruction =
  | AddInstruction
  | ArgInstruction
  | CmdInstruction
  | CopyInstruction
  | EntrypointInstruction
  | EnvInstruction
  | ExposeInstruction
  | HealthcheckInstruction
  | LabelInstruction
  | MaintainerInstruction
  | OnbuildInstruction
  | RunInstruction
  | ShellInstruction
  | StopSignalInstruction
  | UserInstruction
  | VolumeInstruction
  | WorkdirInstruction;

export type InstructionKind = Instruction['kind'];

/** A build stage: a FROM and the instructions after it. */
export interface Stage {
  /** `AS name`, lower-cased; absent for unnamed stages. */
  readonly name?: string;
  readonly from: {
    /** The base: `scratch`, an image reference, a stage name, possibly with `$ARG`s. */
    readonly image: string;
    /** `--platform=` as written. */
    readonly platform?: string;
  };
  readonly instructions: readonly Instruction[];
  /** The FROM line. */
  readonly keyword: string;
  readonly original: string;
  readonly startLine: number;
  readonly endLine: number;
  readonly comments: readonly string[];
  /** From a `# name …` comment above the FROM. */
  readonly docComment?: string;
}

/** What `parseInstructions` returns. */
export interface ParsedInstructions {
  readonly stages: readonly Stage[];
  /** ARGs before the first FROM. */
  readonly metaArgs: readonly ArgInstruction[];
}
