/**
 * Properties: line continuations, comment lines and blank lines change nothing about the
 * instructions a Dockerfile holds; expansion of text with nothing to expand is the identity.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseDockerfile, parseInstructions, type AstNode } from '../../src/build/parser/index.js';
import { expandWord, expandWords } from '../../src/build/shell/index.js';

const word = fc.stringMatching(/^[a-z0-9_./:-]{1,8}$/);
const words = (min: number, max: number) => fc.array(word, { minLength: min, maxLength: max });
const jsonArray = words(1, 3).map((w) => `[${w.map((x) => `"${x}"`).join(', ')}]`);
const kv = fc.tuple(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,5}$/), word).map(([k, v]) => `${k}=${v}`);

/** One instruction: its first line, and heredoc body lines that must stay untouched. */
interface Rendered {
  line: string;
  body: string[];
}

const instruction: fc.Arbitrary<Rendered> = fc.oneof(
  fc.tuple(word, fc.option(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/), { nil: undefined }))
    .map(([img, name]) => `FROM ${img}${name === undefined ? '' : ` AS ${name}`}`),
  words(1, 5).map((w) => `RUN ${w.join(' ')}`),
  jsonArray.map((j) => `CMD ${j}`),
  jsonArray.map((j) => `ENTRYPOINT ${j}`),
  fc.array(kv, { minLength: 1, maxLength: 3 }).map((p) => `ENV ${p.join(' ')}`),
  fc.tuple(fc.stringMatching(/^[A-Z]{1,5}$/), words(1, 3)).map(([k, v]) => `ENV ${k} ${v.join(' ')}`),
  fc.array(kv, { minLength: 1, maxLength: 3 }).map((p) => `LABEL ${p.join(' ')}`),
  fc.tuple(fc.option(word, { nil: undefined }), words(2, 4))
    .map(([from, w]) => `COPY ${from === undefined ? '' : `--from=${from} `}${w.join(' ')}`),
  jsonArray.map((j) => `ADD ${j.replace(']', ', "/dst"]')}`),
  word.map((w) => `WORKDIR /${w}`),
  fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 }).map((p) => `EXPOSE ${p.join(' ')}`),
  kv.map((p) => `ARG ${p}`),
  word.map((w) => `USER ${w}`),
  words(1, 3).map((w) => `HEALTHCHECK --interval=5s CMD ${w.join(' ')}`),
  words(1, 3).map((w) => `ONBUILD RUN ${w.join(' ')}`),
).map((line) => ({ line, body: [] }));

const heredoc: fc.Arbitrary<Rendered> = fc
  .tuple(fc.constantFrom('RUN', 'COPY'), fc.array(words(1, 4), { minLength: 0, maxLength: 3 }))
  .map(([kw, body]) => ({
    line: kw === 'RUN' ? 'RUN <<EOF bash' : 'COPY <<EOF /dest',
    body: [...body.map((b) => b.join(' ')), 'EOF'],
  }));

const dockerfile = fc.array(fc.oneof({ arbitrary: instruction, weight: 4 }, { arbitrary: heredoc, weight: 1 }), {
  minLength: 1,
  maxLength: 8,
});

/** Where to break a line and what to put between the pieces. */
interface Decoration {
  splits: number[];
  trailing: string;
  inside: string[];
  between: string[];
}
const decoration: fc.Arbitrary<Decoration> = fc.record({
  splits: fc.array(fc.nat(), { maxLength: 4 }),
  trailing: fc.constantFrom('', ' ', '\t', '  '),
  inside: fc.array(fc.constantFrom('', '# a comment', '   # indented comment', '\t'), { maxLength: 2 }),
  between: fc.array(fc.constantFrom('', '# between', '  ', '#'), { maxLength: 2 }),
});

/** Breaks `line` with `esc`+newline at positions where that keeps the joined line the same. */
function continueLine(line: string, esc: string, d: Decoration): string {
  const cuts = [...new Set(d.splits.map((s) => 1 + (s % Math.max(1, line.length - 1))))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let last = 0;
  for (const cut of cuts) {
    // A piece that is blank or starts with `#` would be dropped as an empty or comment line.
    const next = line.slice(cut, cuts.find((c) => c > cut) ?? line.length);
    if (next.trim() === '' || next.trimStart().startsWith('#')) continue;
    pieces.push(line.slice(last, cut));
    last = cut;
  }
  pieces.push(line.slice(last));
  return pieces.join(`${esc}${d.trailing}\n${d.inside.map((l) => `${l}\n`).join('')}`);
}

const shape = (n: AstNode): unknown => ({
  instruction: n.instruction,
  args: n.args,
  flags: n.flags,
  json: n.json,
  heredocs: n.heredocs,
  original: n.original,
  sub: n.sub ? shape(n.sub) : undefined,
});

/** parseInstructions output without line numbers and comments, or the error reason. */
function typed(text: string): unknown {
  try {
    return JSON.parse(
      JSON.stringify(parseInstructions(parseDockerfile(text)), (k, v: unknown) =>
        k === 'startLine' || k === 'endLine' || k === 'comments' ? undefined : v,
      ),
    );
  } catch (err) {
    return (err as { data?: { reason?: unknown } }).data?.reason;
  }
}

describe('continuations, comments and blank lines are transparent', () => {
  test('same AST and same typed instructions', () => {
    fc.assert(
      fc.property(dockerfile, fc.array(decoration, { minLength: 8, maxLength: 8 }), fc.boolean(), (instrs, decos, backtick) => {
        const esc = backtick ? '`' : '\\';
        const head = backtick ? '# escape=`\n' : '';
        const plain = head + instrs.map((i) => [i.line, ...i.body].join('\n')).join('\n') + '\n';
        const decorated =
          head +
          instrs
            .map((i, at) => {
              const d = decos[at % decos.length] as Decoration;
              const lines = [...d.between, continueLine(i.line, esc, d), ...i.body];
              return lines.join('\n');
            })
            .join('\n') +
          '\n';
        const a = parseDockerfile(plain);
        const b = parseDockerfile(decorated);
        expect(b.nodes.map(shape)).toEqual(a.nodes.map(shape));
        expect(typed(decorated)).toEqual(typed(plain));
      }),
      { numRuns: 300 },
    );
  });
});

describe('expansion of plain text', () => {
  // Text with no `$`, quotes or escape characters. A leading U+FEFF is dropped by Go's
  // text/scanner (and by us), so it is excluded from the first position.
  const plainText = fc
    .string({ unit: 'binary', maxLength: 40 })
    .filter((s) => !/[$'"\\]/.test(s) && !s.startsWith('\uFEFF'));
  test('expandWord is the identity', () => {
    fc.assert(
      fc.property(plainText, (s) => {
        expect(expandWord(s, { A: 'x' })).toBe(s);
      }),
    );
  });
  test('expandWord with the backtick escape is the identity on text without `', () => {
    fc.assert(
      fc.property(plainText.filter((s) => !s.includes('`')), (s) => {
        expect(expandWord(s, {}, { escape: '`' })).toBe(s);
      }),
    );
  });
  test('expandWords gives the white-space-separated words', () => {
    // A word ending in `<<` keeps the blanks after it, and so the next word, as BuildKit's lexer
    // does for heredoc markers (`<<  EOF`; shell.test.ts): not a plain separator there.
    const noSpace = fc.stringMatching(/^[^$'"\\\s\u0085\ufeff]{1,10}$/).filter((w) => !w.endsWith('<<'));
    fc.assert(
      fc.property(fc.array(noSpace, { minLength: 1, maxLength: 5 }), (ws) => {
        expect(expandWords(ws.join(' \t '), {})).toEqual(ws);
      }),
    );
  });
});
