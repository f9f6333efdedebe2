/**
 * Stage 2, `parseInstructions`: typed instructions, stages, meta ARGs, and every check BuildKit's
 * instructions package makes at parse time (CASES.md §8), each with its exact message.
 */
import { describe, expect, test } from 'vitest';
import {
  parseDevice,
  parseDockerfile,
  parseInstructions,
  parseMount,
  type Instruction,
  type ParsedInstructions,
} from '../../src/build/parser/index.js';
import { parseGoDuration } from '../../src/build/parser/go-values.js';
import { isCairnError } from '../../src/errors.js';

const parse = (text: string, file?: string): ParsedInstructions =>
  parseInstructions(parseDockerfile(text, file === undefined ? {} : { file }));

/** The instructions of the only stage of `FROM x\n<text>`. */
function stageOf(text: string): Instruction[] {
  return [...(parse(`FROM x\n${text}`).stages[0]?.instructions ?? [])];
}
const one = (text: string): Instruction => stageOf(text)[0] as Instruction;

function errorOf(text: string, file?: string): { message: string; data: Readonly<Record<string, unknown>> } {
  try {
    parse(text, file);
  } catch (err) {
    if (isCairnError(err, 'invalid-document')) return { message: err.message, data: err.data };
    throw err;
  }
  throw new Error('expected an error');
}

describe('error format', () => {
  test('unknown instruction names file and line, suggestion in data', () => {
    const e = errorOf('FROM alpine\n\n\n\n\n\nRUNN echo hi\n');
    expect(e.message).toBe('Dockerfile:7: unknown instruction: RUNN');
    expect(e.data).toMatchObject({ file: 'Dockerfile', line: 7, suggestion: 'RUN', reason: 'unknown instruction: RUNN' });
  });
  test('the original case is kept', () => {
    expect(errorOf('FOO bar').message).toBe('Dockerfile:1: unknown instruction: FOO');
    expect(errorOf('foo bar').message).toBe('Dockerfile:1: unknown instruction: foo');
  });
  test('FROM arity, with the caller-given file name', () => {
    expect(errorOf('ARG A\n\nFROM a b\n', 'build/Containerfile').message).toBe(
      'build/Containerfile:3: FROM requires either one or three arguments',
    );
    expect(errorOf('FROM\n').message).toBe('Dockerfile:1: FROM requires either one or three arguments');
  });
  test('a multi-line instruction is located at its first line', () => {
    const e = errorOf('FROM x\nCOPY \\\n  onlyone\n');
    expect(e.data).toMatchObject({ line: 2, endLine: 3 });
  });
  test('an instruction before any FROM (other than ARG)', () => {
    expect(errorOf('RUN ls\nFROM x\n').message).toBe('Dockerfile:1: no build stage in current context');
  });
});

describe('argument counts (CASES.md §8)', () => {
  test.each(['MAINTAINER', 'WORKDIR', 'USER', 'STOPSIGNAL'])('%s requires exactly one argument', (cmd) => {
    expect(errorOf(`FROM x\n${cmd}`).message).toBe(`Dockerfile:2: ${cmd} requires exactly one argument`);
  });
  test.each(['ENV', 'LABEL', 'ONBUILD', 'HEALTHCHECK', 'EXPOSE', 'VOLUME', 'ARG'])(
    '%s requires at least one argument',
    (cmd) => {
      expect(errorOf(`FROM x\n${cmd}`).message).toBe(`Dockerfile:2: ${cmd} requires at least one argument`);
    },
  );
  test.each(['ADD', 'COPY'])('%s without a destination', (cmd) => {
    expect(errorOf(`FROM x\n${cmd} arg1`).message).toBe(
      `Dockerfile:2: ${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  });
  test('COPY split over lines with only one word', () => {
    expect(errorOf('COPY\t\n\t\tquux \\\n      bar').message).toContain('COPY requires at least two arguments');
  });
  test('SHELL [] and SHELL in shell form', () => {
    expect(errorOf('FROM x\nSHELL []').message).toBe('Dockerfile:2: SHELL requires at least one argument');
    expect(errorOf('FROM x\nSHELL powershell -command').message).toBe(
      'Dockerfile:2: SHELL requires the arguments to be in JSON form',
    );
  });
  test('VOLUME with an empty JSON element', () => {
    expect(errorOf('FROM x\nVOLUME ["/a", " "]').message).toBe(
      'Dockerfile:2: VOLUME specified can not be an empty string',
    );
  });
});

describe('FROM and stages', () => {
  test('stages, names lower-cased, platform, meta args, doc comments', () => {
    const p = parse(
      '# foo sets foo\nARG foo=bar\n\n# base defines first stage\nFROM --platform=$BUILDPLATFORM busybox AS Base\n' +
        '# this is irrelevant\nARG foo\n# bar defines bar\n# baz is something else\nARG bar baz=123\nFROM base\nRUN ls\n',
    );
    expect(p.metaArgs).toHaveLength(1);
    expect(p.metaArgs[0]?.args).toEqual([{ key: 'foo', value: 'bar', docComment: 'sets foo' }]);
    expect(p.stages).toHaveLength(2);
    const [first, second] = p.stages;
    expect(first).toMatchObject({
      name: 'base',
      from: { image: 'busybox', platform: '$BUILDPLATFORM' },
      docComment: 'defines first stage',
      startLine: 5,
    });
    expect(first?.instructions.map((i) => i.kind)).toEqual(['arg', 'arg']);
    const args = first?.instructions.flatMap((i) => (i.kind === 'arg' ? i.args : []));
    expect(args).toEqual([
      { key: 'foo' },
      { key: 'bar', docComment: 'defines bar' },
      { key: 'baz', value: '123', docComment: 'is something else' },
    ]);
    expect(second?.name).toBeUndefined();
    expect(second?.from).toEqual({ image: 'base' });
  });
  test('AS name rules', () => {
    expect(errorOf('FROM x AS 1st').message).toBe(
      'Dockerfile:1: invalid name for build stage: "1st", name can\'t start with a number or contain symbols',
    );
    expect(errorOf('FROM x AS a$b').message).toContain('invalid name for build stage: "a$b"');
    expect(parse('FROM x as my-stage_1.0').stages[0]?.name).toBe('my-stage_1.0');
    expect(errorOf('FROM x AS').message).toBe('Dockerfile:1: FROM requires either one or three arguments');
    expect(errorOf('FROM x FOR y').message).toBe('Dockerfile:1: FROM requires either one or three arguments');
  });
  test('FROM takes only --platform', () => {
    expect(errorOf('FROM --plaform=linux/amd64 x').message).toBe('Dockerfile:1: unknown flag: --plaform');
    expect(errorOf('FROM --plaform=linux/amd64 x').data.suggestion).toBe('platform');
  });
});

describe('flags', () => {
  test('unknown flag', () => {
    expect(errorOf('MAINTAINER --boo joe@example.com').message).toBe('Dockerfile:1: unknown flag: --boo');
  });
  test('duplicate, missing values, bad booleans', () => {
    expect(errorOf('FROM x\nCOPY --from=a --from=b s d').message).toBe(
      'Dockerfile:2: duplicate flag specified: --from',
    );
    expect(errorOf('FROM x\nCOPY --from s d').message).toBe('Dockerfile:2: missing a value on flag: --from');
    expect(errorOf('FROM x\nCOPY --link= s d').message).toBe('Dockerfile:2: missing a value on flag: --link');
    expect(errorOf('FROM x\nCOPY --link=yes s d').message).toBe(
      'Dockerfile:2: expecting boolean value for flag --link, not: yes',
    );
  });
  test('flags not allowed on an instruction', () => {
    expect(errorOf('FROM x\nENV --x=1 A=b').message).toBe('Dockerfile:2: unknown flag: --x');
    expect(errorOf('FROM x\nCOPY --network=none a b').message).toBe('Dockerfile:2: unknown flag: --network');
    expect(errorOf('FROM x\nWORKDIR --chown=1 /a').message).toBe('Dockerfile:2: unknown flag: --chown');
  });
  test('BuildKit does not check flags of STOPSIGNAL and ARG', () => {
    expect(one('STOPSIGNAL --x SIGKILL')).toMatchObject({ kind: 'stopsignal', signal: 'SIGKILL' });
    expect(one('ARG --x A')).toMatchObject({ kind: 'arg', args: [{ key: 'A' }] });
  });
});

describe('typed instructions', () => {
  test('COPY and ADD', () => {
    expect(one('COPY --from=build --chown=1:2 --chmod=755 --link --exclude=*.md --exclude=x a b /dst/')).toMatchObject({
      kind: 'copy',
      sources: ['a', 'b'],
      contents: [],
      dest: '/dst/',
      from: 'build',
      chown: '1:2',
      chmod: '755',
      link: true,
      parents: false,
      exclude: ['*.md', 'x'],
    });
    const add = one('ADD --keep-git-dir=false --unpack --checksum=sha256:abc ["a b", "/c"]');
    expect(add).toMatchObject({ kind: 'add', sources: ['a b'], dest: '/c', keepGitDir: false, unpack: true, checksum: 'sha256:abc' });
    expect(one('ADD a b')).not.toHaveProperty('unpack');
    expect(one('COPY a b')).not.toHaveProperty('from');
  });
  test('COPY heredocs become contents; chomp applied; quoted names not expanded', () => {
    const copy = one("COPY <<-A <<'B' src /d\n\tx\nA\n$y\nB\n");
    expect(copy).toMatchObject({
      kind: 'copy',
      sources: ['src'],
      contents: [
        { path: 'A', data: 'x\n', expand: true },
        { path: 'B', data: '$y\n', expand: false },
      ],
      dest: '/d',
    });
  });
  test('a heredoc as COPY destination', () => {
    expect(errorOf('FROM x\nCOPY a <<EOF\nEOF\n').message).toBe(
      'Dockerfile:2: COPY cannot accept a heredoc as a destination',
    );
  });
  test('RUN: shell and exec form, heredoc files, mounts, network, security, devices', () => {
    expect(one('RUN echo  hi')).toMatchObject({ kind: 'run', cmdLine: ['echo  hi'], prependShell: true, files: [] });
    expect(one('RUN ["echo", "hi"]')).toMatchObject({ cmdLine: ['echo', 'hi'], prependShell: false });
    const run = one('RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none <<EOF\necho\nEOF\n');
    expect(run).toMatchObject({
      kind: 'run',
      cmdLine: ['<<EOF'],
      files: [{ name: 'EOF', data: 'echo\n', chomp: false }],
      mounts: ['type=cache,target=/c', 'type=tmpfs,target=/t'],
      network: 'none',
      security: 'sandbox',
      flagsUsed: ['mount', 'network'],
    });
    expect(one('RUN --mount=type=tmpfs,target=/foo/ echo hello')).toMatchObject({ flagsUsed: ['mount'] });
    expect(one('RUN --device=/dev/fuse,required ls')).toMatchObject({ devices: [{ name: '/dev/fuse', required: true }] });
    expect(errorOf('FROM x\nRUN --network=bridge ls').message).toBe('Dockerfile:2: invalid network mode "bridge"');
    expect(errorOf('FROM x\nRUN --security=x ls').message).toBe('Dockerfile:2: security "x" is not valid');
    expect(errorOf('FROM x\nRUN --mount=from=$X,target=/a ls').message).toBe(
      "Dockerfile:2: 'from' doesn't support variable expansion, define alias stage instead",
    );
    expect(errorOf('FROM x\nRUN --mount=target=\\"/a ls').message).toBe(
      'Dockerfile:2: failed to parse csv mounts: parse error on line 1, column 8: bare " in non-quoted-field',
    );
  });
  test('CMD, ENTRYPOINT, SHELL', () => {
    expect(one('CMD ["a", "b"]')).toMatchObject({ kind: 'cmd', cmdLine: ['a', 'b'], prependShell: false });
    expect(one('CMD []')).toMatchObject({ kind: 'cmd', cmdLine: [] });
    expect(one('ENTRYPOINT exec  x')).toMatchObject({ kind: 'entrypoint', cmdLine: ['exec  x'], prependShell: true });
    expect(one('SHELL ["powershell", "-command"]')).toMatchObject({ kind: 'shell', shell: ['powershell', '-command'] });
  });
  test('ENV and LABEL pairs', () => {
    expect(one('ENV A=1 B="two words"')).toMatchObject({
      kind: 'env',
      pairs: [
        { key: 'A', value: '1', noDelim: false },
        { key: 'B', value: '"two words"', noDelim: false },
      ],
    });
    expect(one('ENV PATH /usr/bin:/bin')).toMatchObject({ pairs: [{ key: 'PATH', value: '/usr/bin:/bin', noDelim: true }] });
    expect(one('LABEL a=b')).toMatchObject({ kind: 'label', pairs: [{ key: 'a', value: 'b', noDelim: false }] });
    expect(errorOf('FROM x\nENV =x').message).toBe('Dockerfile:2: ENV names can not be blank');
    expect(errorOf('FROM x\nLABEL =x').message).toBe('Dockerfile:2: LABEL names can not be blank');
    expect(errorOf('FROM x\nARG =x').message).toBe('Dockerfile:2: ARG names can not be blank');
  });
  test('EXPOSE sorted, VOLUME, USER, WORKDIR, MAINTAINER, STOPSIGNAL', () => {
    expect(one('EXPOSE 8080 53/udp 443')).toMatchObject({ kind: 'expose', ports: ['443', '53/udp', '8080'] });
    expect(one('VOLUME ["/a", "/b"]')).toMatchObject({ kind: 'volume', volumes: ['/a', '/b'] });
    expect(one('VOLUME /a /b')).toMatchObject({ volumes: ['/a', '/b'] });
    expect(one('USER app:app')).toMatchObject({ kind: 'user', user: 'app:app' });
    expect(one('WORKDIR /a b')).toMatchObject({ kind: 'workdir', path: '/a b' });
    expect(one('MAINTAINER Jo <jo@x>')).toMatchObject({ kind: 'maintainer', maintainer: 'Jo <jo@x>' });
    expect(one('STOPSIGNAL SIGTERM')).toMatchObject({ kind: 'stopsignal', signal: 'SIGTERM' });
  });
  test('every instruction carries its keyword, source and lines', () => {
    expect(one('run  echo \\\n  hi')).toMatchObject({
      keyword: 'run',
      original: 'run  echo   hi',
      startLine: 2,
      endLine: 3,
    });
  });
});

describe('HEALTHCHECK', () => {
  test('shell form becomes CMD-SHELL', () => {
    expect(one('HEALTHCHECK CMD hello world')).toMatchObject({ health: { test: ['CMD-SHELL', 'hello world'] } });
  });
  test('exec form with options, in nanoseconds', () => {
    expect(
      one('HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0s --start-interval=100ms --retries=3 CMD ["curl", "x"]'),
    ).toMatchObject({
      kind: 'healthcheck',
      health: {
        test: ['CMD', 'curl', 'x'],
        interval: 5e9,
        timeout: 90e9,
        startPeriod: 0,
        startInterval: 1e8,
        retries: 3,
      },
    });
  });
  test('NONE, and NONE with arguments', () => {
    expect(one('HEALTHCHECK NONE')).toMatchObject({ health: { test: ['NONE'] } });
    expect(errorOf('FROM x\nHEALTHCHECK NONE x').message).toBe('Dockerfile:2: HEALTHCHECK NONE takes no arguments');
  });
  test('other types, missing command, bad options', () => {
    expect(errorOf('FROM x\nHEALTHCHECK CONNECT TCP 7000').message).toBe(
      'Dockerfile:2: Unknown type "CONNECT" in HEALTHCHECK (try CMD)',
    );
    expect(errorOf('FROM x\nHEALTHCHECK CMD').message).toBe('Dockerfile:2: Missing command after HEALTHCHECK CMD');
    expect(errorOf('FROM x\nHEALTHCHECK --interval=50ns CMD x').message).toBe(
      'Dockerfile:2: Interval "interval" cannot be less than 1ms',
    );
    expect(errorOf('FROM x\nHEALTHCHECK --timeout=5 CMD x').message).toBe(
      'Dockerfile:2: time: missing unit in duration "5"',
    );
    expect(errorOf('FROM x\nHEALTHCHECK --retries=-1 CMD x').message).toBe(
      'Dockerfile:2: --retries cannot be negative (-1)',
    );
    expect(errorOf('FROM x\nHEALTHCHECK --retries=x CMD x').message).toBe(
      'Dockerfile:2: strconv.ParseInt: parsing "x": invalid syntax',
    );
    expect(errorOf('FROM x\nHEALTHCHECK --foo=1 CMD x').message).toBe('Dockerfile:2: unknown flag: --foo');
  });
  test('0ms and 1ms are accepted', () => {
    expect(one('HEALTHCHECK --interval=0ms --timeout=1ms CMD x')).toMatchObject({ health: { interval: 0, timeout: 1e6 } });
  });
});

describe('ONBUILD', () => {
  test('the trigger expression keeps its flags and heredocs', () => {
    expect(one('ONBUILD RUN --mount=type=cache,target=/c make')).toMatchObject({
      kind: 'onbuild',
      expression: 'RUN --mount=type=cache,target=/c make',
    });
    expect(one('onbuild COPY <<EOF /x\nhi\nEOF\n')).toMatchObject({ expression: 'COPY <<EOF /x\nhi\nEOF' });
  });
  test.each([
    ['ONBUILD ONBUILD RUN touch foobar', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed'],
    ['ONBUILD FROM scratch', "FROM isn't allowed as an ONBUILD trigger"],
    ['ONBUILD maintainer me', "MAINTAINER isn't allowed as an ONBUILD trigger"],
  ])('%s', (line, message) => {
    expect(errorOf(`FROM x\n${line}`).message).toBe(`Dockerfile:2: ${message}`);
  });
});

describe('RUN option values', () => {
  test('parseMount defaults and fields', () => {
    expect(parseMount('type=cache,target=/root/.cache,id=go,sharing=locked,mode=0755,uid=1000')).toEqual({
      type: 'cache',
      target: '/root/.cache',
      id: 'go',
      sharing: 'locked',
      mode: 0o755,
      uid: 1000,
      readOnly: false,
      required: false,
    });
    expect(parseMount('target=/src,from=build,source=/out')).toMatchObject({ type: 'bind', readOnly: true });
    expect(parseMount('type=bind,target=/src,rw')).toMatchObject({ readOnly: false });
    expect(parseMount('type=tmpfs,target=/t,size=64m')).toMatchObject({ sizeLimit: 64 * 1024 * 1024, readOnly: false });
    expect(parseMount('type=secret,id=tok,env=TOKEN,required')).toMatchObject({ id: 'tok', env: 'TOKEN', required: true });
    expect(parseMount('type=cache,target=$DIR', (v) => v.replace('$DIR', '/d'))).toMatchObject({ target: '/d' });
  });
  test.each([
    ['type=nfs,target=/x', 'unsupported mount type "nfs"'],
    ['type=bind,target=/x,mode=0644', 'mode not allowed for "bind" type mounts'],
    ['type=cache,target=/x,required', "unexpected key 'required' for mount type 'cache'"],
    ['type=bind,size=1m', "unexpected key 'size' for mount type 'bind'"],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=bind,sharing=shared', 'invalid cache sharing set for bind mount'],
    ['type=cache,foo=bar', "unexpected key 'foo' in 'foo=bar'"],
    ['type=cache,target', "invalid field 'target' must be a key=value pair"],
    ['type=cache,ro=maybe', 'invalid value for ro: maybe'],
  ])('parseMount %s', (spec, message) => {
    expect(() => parseMount(spec)).toThrow(message);
  });
  test('option errors are CairnError invalid-document with the reason in data', () => {
    let caught: unknown;
    try {
      parseMount('type=nfs');
    } catch (err) {
      caught = err;
    }
    expect(isCairnError(caught, 'invalid-document')).toBe(true);
    expect((caught as { data: { reason: string } }).data.reason).toBe('unsupported mount type "nfs"');
  });
  test('parseDevice', () => {
    expect(parseDevice('/dev/kvm')).toEqual({ name: '/dev/kvm', required: false });
    expect(parseDevice('name=/dev/kvm,required=true')).toEqual({ name: '/dev/kvm', required: true });
    expect(() => parseDevice('a,b')).toThrow("invalid field 'b' must be a key=value pair");
  });
  test('Go durations', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3723.5e9);
    expect(parseGoDuration('-1.5us')).toBe(-1500);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('.5ms')).toBe(5e5);
    expect(() => parseGoDuration('1')).toThrow('time: missing unit in duration "1"');
    expect(() => parseGoDuration('1d')).toThrow('time: unknown unit "d" in duration "1d"');
    expect(() => parseGoDuration('')).toThrow('time: invalid duration ""');
    expect(() => parseGoDuration('.s')).toThrow('time: invalid duration ".s"');
    expect(() => parseGoDuration('9999999999h')).toThrow('time: invalid duration "9999999999h"');
  });
});
