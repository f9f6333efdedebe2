/**
 * The shape of a benchmark module: `bench/benchmarks/<name>.js` default-exports a `Benchmark`.
 * See spec-notes/benchmarks.md for how the harness runs and measures it.
 */

/** One measured (or warm-up) run of one case. */
export interface RunContext {
  /**
   * A fresh, empty directory for this run alone. The harness deletes it only after every
   * benchmark has run, so no timed run follows a deletion (spec-notes/benchmarks.md).
   */
  readonly dir: string;
  /** 0-based index of the measured run; -1 for warm-up runs. */
  readonly index: number;
}

interface CaseBase<S> {
  /** Unique within the benchmark; shown in the table and used for ratios and targets. */
  readonly label: string;
  /** Ratios to this case get their own column ("× label"). */
  readonly baseline?: boolean;
  /** Runs before every run of this case, untimed, in the harness (e.g. fill `run.dir`). */
  readonly prepare?: (state: S, run: RunContext) => Promise<void>;
  /** Checked after every run, untimed: throw if the case did not do its job. */
  readonly verify?: (state: S, run: RunContext) => Promise<void>;
}

/**
 * A whole process, timed from spawn to exit and with its peak RSS, run with NODE_EXTRA_CA_CERTS
 * and NODE_OPTIONS unset (as on a user's machine).
 */
export interface ProcessCase<S> extends CaseBase<S> {
  /** argv[0] is the program (a path or a name on PATH). */
  readonly command: (state: S, run: RunContext) => string[];
  /** Extra environment for the process. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * A library call, run in a fresh Node process that has already imported the benchmark module:
 * only `fn` is timed, so process start and module loading are left out. Peak RSS is that
 * process's.
 */
export interface FunctionCase<S> extends CaseBase<S> {
  /**
   * Runs in the same process before the clock starts; its result is `fn`'s third argument.
   * For what a long-lived library user has done once already (open the store, find the
   * container, load the native module on a first lock), so `fn` times the call alone.
   */
  readonly load?: (state: S, run: RunContext) => Promise<unknown>;
  readonly fn: (state: S, run: RunContext, loaded: unknown) => Promise<void>;
}

export type Case<S> = ProcessCase<S> | FunctionCase<S>;

export interface Target {
  /** The case this target is about. */
  readonly case: string;
  /** With `maxRatio` (and `minRatio`): median(case) / median(vs) must be at most (at least) that. */
  readonly vs?: string;
  readonly maxRatio?: number;
  readonly minRatio?: number;
  /** Median wall time of the case must be below this (milliseconds). */
  readonly maxMs?: number;
  /** Median peak RSS of the case must be below this (MiB). */
  readonly maxRssMiB?: number;
}

export interface Fixtures {
  /** The fixture directory (`.cache/fixtures`, or $CAIRN_BENCH_FIXTURES). */
  readonly dir: string;
  /** An image of `manifest.json` by its name there (e.g. `debian/oci-umoci:bookworm`). */
  image(name: string): FixtureImage;
}

export interface FixtureImage {
  readonly name: string;
  /** `oci` layout directory or archive file, absolute. */
  readonly path: string;
  readonly kind: string;
  readonly ref: string;
}

/** One blob of an OCI layout, as read from the layout itself. */
export interface LayoutBlob {
  readonly digest: string;
  readonly size: number;
  readonly path: string;
}

export interface LayoutImage {
  readonly manifest: LayoutBlob;
  readonly config: LayoutBlob;
  readonly layers: LayoutBlob[];
}

export interface SetupContext {
  /** The repository root. */
  readonly root: string;
  /** This benchmark's scratch directory (under .cache/bench, same filesystem as fixtures). */
  readonly scratch: string;
  /** Builds (if stale) and opens the project's fixtures with scripts/build-fixtures. */
  fixtures(options?: { debian?: boolean }): Promise<Fixtures>;
  /** Reads every file under these paths once, so the page cache is warm. */
  warm(paths: readonly string[]): Promise<void>;
  log(message: string): void;
}

export interface Benchmark<S = unknown> {
  /** Short name, used on the command line (`npm run bench -- NAME`) and in result file names. */
  readonly name: string;
  /** One line: what is measured. */
  readonly title: string;
  /** Commands whose first output line goes into the results (e.g. `['skopeo', '--version']`). */
  readonly versions?: readonly (readonly string[])[];
  /**
   * Prepares inputs; the state it returns must survive JSON (function cases get a copy in their
   * own process).
   */
  setup(ctx: SetupContext): Promise<S>;
  /** Markdown describing the input, for the results (e.g. sizes). */
  describe?(state: S): string;
  readonly cases: readonly Case<S>[];
  readonly targets?: readonly Target[];
  teardown?(state: S): Promise<void>;
}

/** What one run measured. */
export interface Sample {
  /** Wall time, seconds. */
  readonly seconds: number;
  /** Peak resident set size, KiB. */
  readonly maxRssKiB: number;
  /** User + system CPU time, seconds (NaN when it could not be measured). */
  readonly cpuSeconds: number;
}
