/**
 * @module cli/commands/ps
 * `cairn ps [-a] [-q] [--no-trunc] [--json]`: docker's table (CONTAINER ID, IMAGE, COMMAND,
 * CREATED, STATUS, PORTS, NAMES); running containers only unless -a.
 */
import { listContainers, type ContainerInfo } from '../../container/lifecycle.js';
import { formatHostPort } from '../../runtime/ports.js';
import { createdSince, humanDuration, table } from '../format.js';
import { defineCommand, openStore, print } from '../context.js';

function status(info: ContainerInfo, now: number): string {
  const state = info.state;
  if (!state || info.status === 'created') return 'Created';
  if (info.status === 'running') return `Up ${humanDuration(now - Date.parse(state.startedAt ?? info.record.created))}`;
  const finished = state.finishedAt ? ` ${humanDuration(Math.max(0, now - Date.parse(state.finishedAt)))} ago` : '';
  return `Exited (${state.exitCode ?? 0})${finished}`;
}

function ports(info: ContainerInfo): string {
  if (info.status !== 'running') return '';
  const bound = info.state?.ports.length ? info.state.ports : info.record.ports;
  return bound.map((p) => `${formatHostPort(p)}->${p.containerPort}/${p.protocol}`).join(', ');
}

function commandColumn(info: ContainerInfo, noTrunc: boolean): string {
  const text = info.record.command.join(' ');
  const shown = noTrunc || text.length <= 20 ? text : `${text.slice(0, 19)}…`;
  return `"${shown}"`;
}


export const command = defineCommand({
  usage: 'ps [OPTIONS]',
  summary: 'List containers',
  options: {
    all: { type: 'boolean', short: 'a', description: 'show all containers (default shows just running)' },
    quiet: { type: 'boolean', short: 'q', description: 'only display container IDs' },
    'no-trunc': { type: 'boolean', description: "don't truncate output" },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(io, { options }) {
    const store = await openStore(io, options.store);
    const now = Date.now();
    const infos = (await listContainers(store)).filter((i) => options.all || i.status === 'running').reverse();
    const noTrunc = options['no-trunc'] ?? false;
    const id = (info: ContainerInfo): string => (noTrunc ? info.record.id : info.record.id.slice(0, 12));
    if (options.json) {
      print(io.stdout, JSON.stringify(infos.map((i) => ({ Id: i.record.id, Names: [i.record.name], Image: i.record.image.ref, ImageID: i.record.image.id, Command: i.record.command, Created: i.record.created, State: i.status, Status: status(i, now), ExitCode: i.state?.exitCode ?? null, Ports: i.state?.ports ?? i.record.ports })), null, 2));
      return 0;
    }
    if (options.quiet) {
      io.stdout.write(infos.map((i) => `${id(i)}\n`).join(''));
      return 0;
    }
    const rows = infos.map((info) => [id(info), info.record.image.ref, commandColumn(info, noTrunc), createdSince(info.record.created, now), status(info, now), ports(info), info.record.name]);
    io.stdout.write(table([['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], ...rows]));
    return 0;
  },
});
