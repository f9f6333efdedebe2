/**
 * @module build/history
 * `created_by` strings in docker's classic-builder form (moby `builder/dockerfile/
 * dispatchers.go`, `internals.go`), which `docker history` and most tools show:
 *
 * - config-only steps: the SHELL, then `#(nop) ` and the comment as separate words, so two
 *   spaces: `/bin/sh -c #(nop)  ENV A=b`, `/bin/sh -c #(nop)  CMD ["sh"]` (Go `%q` of the argv:
 *   `["/bin/sh" "-c" "echo hi"]`), `#(nop)  VOLUME [/a /b]` (Go `%v`), `#(nop)  HEALTHCHECK
 *   &{["CMD-SHELL" "x"] "30s" "3s" "0s" "0s" '\x03'}` (Go `%q` of the struct);
 * - WORKDIR, COPY and ADD: one word, so one space: `/bin/sh -c #(nop) WORKDIR /app`,
 *   `/bin/sh -c #(nop) COPY file:<sha256> in /dest ` (trailing space included; `dir:` for a
 *   directory, `multi:` for several sources; `--chown=U:G` right before the hash, unspaced,
 *   as moby writes it);
 * - RUN: the argv joined with spaces, behind `|N K=v …` when build args are in scope
 *   (sorted, N = how many): `|1 V=1 /bin/sh -c echo $V`.
 *
 * The SHELL in front is the stage's current one (docker's `getShell`). Hashes after `file:` are
 * sha256 of the file's bytes (docker uses a tarsum we cannot reproduce; see spec-notes).
 */
import type { HealthConfig } from '../oci/index.js';
import { goQuote, goQuoteList } from './shell/index.js';
import { DEFAULT_SHELL } from './config-steps.js';

function shellOf(shell: readonly string[] | undefined): readonly string[] {
  return shell && shell.length > 0 ? shell : DEFAULT_SHELL;
}

/** `/bin/sh -c #(nop)  COMMENT` (moby `withCmdComment`). */
export function nopComment(comment: string, shell?: readonly string[]): string {
  return [...shellOf(shell), '#(nop) ', comment].join(' ');
}

/** `/bin/sh -c #(nop) COMMENT` (moby `withCmdCommentString`: WORKDIR, COPY, ADD). */
export function nopString(comment: string, shell?: readonly string[]): string {
  return [...shellOf(shell), `#(nop) ${comment}`].join(' ');
}

/** A RUN's `created_by`: `|N K=v … ARGV` when build args are in scope, else the argv. */
export function runCreatedBy(argv: readonly string[], historyArgs: readonly string[] | undefined): string {
  if (historyArgs === undefined) return argv.join(' ');
  const sorted = [...historyArgs].sort();
  return [`|${sorted.length}`, ...sorted, ...argv].join(' ');
}

/** Go's `time.Duration.String()` for nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    // Sub-second: the largest of ns, µs, ms that keeps a non-zero integer part.
    const [unit, scale] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trimFraction(u / (scale as number))}${unit as string}`;
  } else {
    const h = Math.floor(u / 3.6e12);
    u -= h * 3.6e12;
    const m = Math.floor(u / 6e10);
    u -= m * 6e10;
    const s = `${trimFraction(u / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimFraction(value: number): string {
  const text = value.toFixed(9);
  return text.replace(/\.?0+$/, '');
}

/** Go's `%q` of an int: a quoted rune (`'\x03'`, `'A'`). */
function goQuoteRune(n: number): string {
  const quoted = goQuote(String.fromCodePoint(n));
  const inner = quoted.slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'");
  return `'${inner}'`;
}

/** moby's `fmt.Sprintf("HEALTHCHECK %q", runConfig.Healthcheck)`. */
export function healthcheckComment(h: HealthConfig): string {
  const d = (v: number | undefined): string => goQuote(goDuration(v ?? 0));
  return `HEALTHCHECK &{${goQuoteList(h.Test ?? [])} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${d(h.StartInterval)} ${goQuoteRune(h.Retries ?? 0)}}`;
}

/** Go's `%v` of a string slice: `[a b]`. */
export function goList(list: readonly string[]): string {
  return `[${list.join(' ')}]`;
}

export { goQuoteList };
