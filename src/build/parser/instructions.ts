/**
 * @module build/parser/instructions
 * The second stage: AST nodes → typed instructions grouped into stages, with the checks
 * BuildKit's `instructions.Parse` makes before building (argument counts, `AS name` rules,
 * ENV/LABEL pairs, ARG names, flags allowed per instruction, HEALTHCHECK options, ONBUILD
 * triggers, SHELL in JSON form). Messages are BuildKit's; each error names `file:line`.
 */
import { goQuote, goTrimSpace } from '../shell/chars.js';
import type { AstNode, ParsedDockerfile } from './ast.js';
import { dockerfileError, InstructionError } from './error.js';
import { BuildFlags, suggest } from './flags.js';
import { parseGoDuration, parseGoInt } from './go-values.js';
import { chompHeredocContent, readMarker } from './heredoc.js';
import type * as T from './instruction-types.js';
import { checkMountSpec, deviceFromSpec, type NetworkMode, type SecurityMode } from './run-options.js';

const ALL_INSTRUCTIONS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
];
const STAGE_NAME = /^[a-z][a-z0-9_.-]*$/;
const MILLISECOND = 1_000_000;

/** A FROM line on its own (a stage before its instructions are attached). */
export type FromInstruction = Omit<T.Stage, 'instructions'> & { readonly kind: 'from' };

const atLeastOne = (cmd: string): InstructionError => new InstructionError(`${cmd} requires at least one argument`);
const exactlyOne = (cmd: string): InstructionError => new InstructionError(`${cmd} requires exactly one argument`);

/** The arguments BuildKit's `nodeArgs` gives: ONBUILD's trigger keyword, then its arguments. */
function nodeArgs(node: AstNode): string[] {
  return node.sub ? [node.sub.instruction, ...nodeArgs(node.sub)] : [...node.args];
}

function base(node: AstNode): T.InstructionBase {
  return {
    keyword: node.instruction,
    original: goTrimSpace(node.original),
    startLine: node.startLine,
    endLine: node.endLine,
    comments: node.comments,
  };
}

/** Shell form is one string (the words joined), exec form the array. */
function commandLine(node: AstNode, args: readonly string[]): T.CommandLine {
  const cmdLine = args.length === 0 ? [] : node.json ? [...args] : [args.join(' ')];
  return {
    cmdLine,
    prependShell: !node.json,
    files: node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp })),
  };
}

function keyValues(args: readonly string[], cmd: string): T.KeyValuePair[] {
  if (args.length === 0) throw atLeastOne(cmd);
  if (args.length % 3 !== 0) throw new InstructionError(`Bad input to ${cmd}, too many arguments`);
  const out: T.KeyValuePair[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i] as string;
    if (key.length === 0) throw new InstructionError(`${cmd} names can not be blank`);
    out.push({ key, value: args[i + 1] as string, noDelim: args[i + 2] === '' });
  }
  return out;
}

function docComment(comments: readonly string[], name: string): string | undefined {
  if (name === '') return undefined;
  for (const line of comments) if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  return undefined;
}

const heredocMarker = (word: string): ReturnType<typeof readMarker> => {
  try {
    return readMarker(word);
  } catch {
    return undefined; // BuildKit's MustParseHeredoc ignores malformed markers here
  }
};

function sourcesAndDest(node: AstNode, args: readonly string[], cmd: string): T.SourcesAndDest {
  const dest = args[args.length - 1] as string;
  if (heredocMarker(dest)) throw new InstructionError(`${cmd} cannot accept a heredoc as a destination`);
  const bodies = new Map(node.heredocs.map((h) => [h.name, h.content] as const));
  const sources: string[] = [];
  const contents: T.SourceContent[] = [];
  for (const src of args.slice(0, -1)) {
    const marker = heredocMarker(src);
    if (!marker) {
      sources.push(src);
      continue;
    }
    const body = bodies.get(marker.name) ?? '';
    contents.push({ path: marker.name, data: marker.chomp ? chompHeredocContent(body) : body, expand: marker.expand });
  }
  return { sources, contents, dest };
}

/** A string flag's value, or nothing when it was empty (the builder's "not set"). */
const opt = <K extends string>(key: K, value: string): { [P in K]?: string } =>
  (value === '' ? {} : { [key]: value }) as { [P in K]?: string };

function interval(value: string, name: string): number {
  if (value === '') return 0;
  const d = parseGoDuration(value);
  if (d === 0) return 0;
  if (d < MILLISECOND) throw new InstructionError(`Interval ${goQuote(name)} cannot be less than 1ms`);
  return d;
}

function parseFrom(node: AstNode, args: string[], flags: BuildFlags): FromInstruction {
  let name = '';
  if (args.length === 3 && (args[1] as string).toLowerCase() === 'as') {
    name = (args[2] as string).toLowerCase();
    if (!STAGE_NAME.test(name)) {
      throw new InstructionError(
        `invalid name for build stage: ${goQuote(args[2] as string)}, name can't start with a number or contain symbols`,
      );
    }
  } else if (args.length !== 1) {
    throw new InstructionError('FROM requires either one or three arguments');
  }
  const platform = flags.addString('platform');
  flags.parse();
  const doc = docComment(node.comments, name);
  return {
    kind: 'from',
    ...(name === '' ? {} : { name }),
    from: { image: args[0] as string, ...opt('platform', platform.value) },
    keyword: node.instruction,
    original: goTrimSpace(node.original),
    startLine: node.startLine,
    endLine: node.endLine,
    comments: node.comments,
    ...(doc === undefined ? {} : { docComment: doc }),
  };
}

function parseRun(node: AstNode, args: string[], flags: BuildFlags): T.RunInstruction {
  const device = flags.addStrings('device');
  const mount = flags.addStrings('mount');
  const network = flags.addString('network', 'default');
  const security = flags.addString('security', 'sandbox');
  flags.parse();
  const devices = device.values.map(deviceFromSpec);
  mount.values.forEach(checkMountSpec);
  if (!['default', 'none', 'host'].includes(network.value)) {
    throw new InstructionError(`invalid network mode ${goQuote(network.value)}`);
  }
  if (!['sandbox', 'insecure'].includes(security.value)) {
    throw new InstructionError(`security ${goQuote(security.value)} is not valid`);
  }
  return {
    kind: 'run',
    ...base(node),
    ...commandLine(node, args),
    mounts: [...mount.values],
    network: network.value as NetworkMode,
    security: security.value as SecurityMode,
    devices,
    flagsUsed: flags.usedNames(),
  };
}

function parseHealthcheck(node: AstNode, args: string[], flags: BuildFlags): T.HealthcheckInstruction {
  if (args.length === 0) throw atLeastOne('HEALTHCHECK');
  let typ = (args[0] as string).toUpperCase();
  const rest = args.slice(1);
  const zero = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (typ === 'NONE') {
    if (rest.length !== 0) throw new InstructionError('HEALTHCHECK NONE takes no arguments');
    return { kind: 'healthcheck', ...base(node), health: { test: [typ], ...zero } };
  }
  const fl = {
    interval: flags.addString('interval'),
    timeout: flags.addString('timeout'),
    startPeriod: flags.addString('start-period'),
    startInterval: flags.addString('start-interval'),
    retries: flags.addString('retries'),
  };
  flags.parse();
  if (typ !== 'CMD') throw new InstructionError(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`);
  const cmd = commandLine(node, rest).cmdLine;
  if (cmd.length === 0) throw new InstructionError('Missing command after HEALTHCHECK CMD');
  if (!node.json) typ = 'CMD-SHELL';
  let retries = 0;
  if (fl.retries.value !== '') {
    retries = parseGoInt(fl.retries.value, 32);
    if (retries < 0) throw new InstructionError(`--retries cannot be negative (${retries})`);
  }
  return {
    kind: 'healthcheck',
    ...base(node),
    health: {
      test: [typ, ...cmd],
      interval: interval(fl.interval.value, 'interval'),
      timeout: interval(fl.timeout.value, 'timeout'),
      startPeriod: interval(fl.startPeriod.value, 'start-period'),
      startInterval: interval(fl.startInterval.value, 'start-interval'),
      retries,
    },
  };
}

function parseOnbuild(node: AstNode, args: string[], flags: BuildFlags): T.OnbuildInstruction {
  if (args.length === 0) throw atLeastOne('ONBUILD');
  flags.parse();
  const trigger = goTrimSpace(args[0] as string).toUpperCase();
  if (trigger === 'ONBUILD') throw new InstructionError('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') {
    throw new InstructionError(`${trigger} isn't allowed as an ONBUILD trigger`);
  }
  let expression = node.original.replace(/^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/i, '');
  // Heredoc bodies travel with the trigger so the child build can parse it again.
  for (const h of node.heredocs) expression += `\n${h.content}${h.name}`;
  return { kind: 'onbuild', ...base(node), expression };
}

/** One AST node → a typed instruction or the start of a stage. @throws InstructionError */
export function parseInstruction(node: AstNode): T.Instruction | FromInstruction {
  const args = nodeArgs(node);
  const flags = new BuildFlags(node.flags);
  const b = (): T.InstructionBase => base(node);
  switch (node.instruction.toLowerCase()) {
    case 'env':
      flags.parse();
      return { kind: 'env', ...b(), pairs: keyValues(args, 'ENV') };
    case 'label':
      flags.parse();
      return { kind: 'label', ...b(), pairs: keyValues(args, 'LABEL') };
    case 'maintainer':
      if (args.length !== 1) throw exactlyOne('MAINTAINER');
      flags.parse();
      return { kind: 'maintainer', ...b(), maintainer: args[0] as string };
    case 'add': {
      if (args.length < 2) throw noDestination('ADD');
      const chown = flags.addString('chown');
      const chmod = flags.addString('chmod');
      const link = flags.addBool('link');
      const keepGitDir = flags.addBool('keep-git-dir');
      const checksum = flags.addString('checksum');
      const unpack = flags.addBool('unpack');
      const exclude = flags.addStrings('exclude');
      flags.parse();
      return {
        kind: 'add',
        ...b(),
        ...sourcesAndDest(node, args, 'ADD'),
        ...opt('chown', chown.value),
        ...opt('chmod', chmod.value),
        link: link.value === 'true',
        ...(flags.isUsed('keep-git-dir') ? { keepGitDir: keepGitDir.value === 'true' } : {}),
        ...opt('checksum', checksum.value),
        ...(flags.isUsed('unpack') ? { unpack: unpack.value === 'true' } : {}),
        exclude: [...exclude.values],
      };
    }
    case 'copy': {
      if (args.length < 2) throw noDestination('COPY');
      const chown = flags.addString('chown');
      const from = flags.addString('from');
      const chmod = flags.addString('chmod');
      const link = flags.addBool('link');
      const exclude = flags.addStrings('exclude');
      const parents = flags.addBool('parents');
      flags.parse();
      return {
        kind: 'copy',
        ...b(),
        ...sourcesAndDest(node, args, 'COPY'),
        ...opt('from', from.value),
        ...opt('chown', chown.value),
        ...opt('chmod', chmod.value),
        link: link.value === 'true',
        parents: parents.value === 'true',
        exclude: [...exclude.values],
      };
    }
    case 'from':
      return parseFrom(node, args, flags);
    case 'onbuild':
      return parseOnbuild(node, args, flags);
    case 'workdir':
      if (args.length !== 1) throw exactlyOne('WORKDIR');
      flags.parse();
      return { kind: 'workdir', ...b(), path: args[0] as string };
    case 'run':
      return parseRun(node, args, flags);
    case 'cmd':
      flags.parse();
      return { kind: 'cmd', ...b(), ...commandLine(node, args) };
    case 'entrypoint':
      flags.parse();
      return { kind: 'entrypoint', ...b(), ...commandLine(node, args) };
    case 'healthcheck':
      return parseHealthcheck(node, args, flags);
    case 'expose':
      if (args.length === 0) throw atLeastOne('EXPOSE');
      flags.parse();
      return { kind: 'expose', ...b(), ports: [...args].sort() };
    case 'user':
      if (args.length !== 1) throw exactlyOne('USER');
      flags.parse();
      return { kind: 'user', ...b(), user: args[0] as string };
    case 'volume': {
      if (args.length === 0) throw atLeastOne('VOLUME');
      flags.parse();
      const volumes = args.map((v) => goTrimSpace(v));
      if (volumes.includes('')) throw new InstructionError('VOLUME specified can not be an empty string');
      return { kind: 'volume', ...b(), volumes };
    }
    case 'stopsignal':
      // BuildKit does not check STOPSIGNAL's flags.
      if (args.length !== 1) throw exactlyOne('STOPSIGNAL');
      return { kind: 'stopsignal', ...b(), signal: args[0] as string };
    case 'arg': {
      // BuildKit does not check ARG's flags either.
      if (args.length === 0) throw atLeastOne('ARG');
      const defs = args.map((arg): T.ArgDefinition => {
        const at = arg.indexOf('=');
        const key = at < 0 ? arg : arg.slice(0, at);
        if (at === 0) throw new InstructionError('ARG names can not be blank');
        const doc = docComment(node.comments, key);
        return { key, ...(at < 0 ? {} : { value: arg.slice(at + 1) }), ...(doc === undefined ? {} : { docComment: doc }) };
      });
      return { kind: 'arg', ...b(), args: defs };
    }
    case 'shell': {
      flags.parse();
      const shell = commandLine(node, args).cmdLine;
      if (shell.length === 0) throw atLeastOne('SHELL');
      if (!node.json) throw new InstructionError('SHELL requires the arguments to be in JSON form');
      return { kind: 'shell', ...b(), shell };
    }
  }
  const hint = suggest(node.instruction, ALL_INSTRUCTIONS, false);
  throw new InstructionError(`unknown instruction: ${node.instruction}`, {
    instruction: node.instruction,
    ...(hint === undefined ? {} : { suggestion: hint }),
  });
}

function noDestination(cmd: string): InstructionError {
  return new InstructionError(
    `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
  );
}

/**
 * Groups a parsed Dockerfile into stages of typed instructions. ARGs before the first FROM are
 * `metaArgs`; any other instruction before it is an error.
 *
 * @throws CairnError 'invalid-document': `Dockerfile:7: unknown instruction: RUNN`,
 *   `Dockerfile:3: FROM requires either one or three arguments`, … with data
 *   `{ file, line, endLine, reason }` (plus `suggestion` where BuildKit would suggest one).
 * @example parseInstructions(parseDockerfile('FROM alpine AS base\nRUN ls')).stages[0]?.name // 'base'
 */
export function parseInstructions(parsed: ParsedDockerfile): T.ParsedInstructions {
  const stages: { start: FromInstruction; instructions: T.Instruction[] }[] = [];
  const metaArgs: T.ArgInstruction[] = [];
  for (const node of parsed.nodes) {
    let parsedNode: T.Instruction | FromInstruction;
    try {
      parsedNode = parseInstruction(node);
    } catch (err) {
      if (err instanceof InstructionError) {
        throw dockerfileError(parsed.file, node.startLine, node.endLine, err.message, err.extra);
      }
      throw err;
    }
    if (parsedNode.kind === 'from') {
      stages.push({ start: parsedNode, instructions: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (current) current.instructions.push(parsedNode);
    else if (parsedNode.kind === 'arg') metaArgs.push(parsedNode);
    else throw dockerfileError(parsed.file, node.startLine, node.endLine, 'no build stage in current context');
  }
  return {
    stages: stages.map(({ start: { kind: _kind, ...stage }, instructions }) => ({ ...stage, instructions })),
    metaArgs,
  };
}
