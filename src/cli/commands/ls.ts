/**
 * @module cli/commands/ls
 * `cairn ls IMAGE [PATH] [-R] [-l]`: browse an image's merged filesystem (its union view, built
 * from layer indexes; nothing is unpacked). Every name is listed, dot files included (`ls -A`),
 * in byte order (`LC_ALL=C`). `-R` prints each directory under a `PATH:` header like `ls -R`.
 * `-l` prints `ls -ln`-style lines: mode string, link count, numeric owner and group, size (or
 * `major, minor` for devices), mtime in UTC (`YYYY-MM-DD HH:MM`), and `name -> target` for
 * symlinks. Directory sizes are 0 (a layer records none). As with `ls`, a symlink named on the
 * command line is followed unless `-l` is given.
 */
import { CairnError } from '../../errors.js';
import { resolveImage } from '../../image/resolve.js';
import { UnionView, type DirEntry, type UnionStat } from '../../union/view.js';
import { defineCommand, openStore, type CliIO } from '../context.js';

export const command = defineCommand({
  usage: 'ls [OPTIONS] IMAGE [PATH]',
  summary: "List a directory of an image's filesystem without unpacking it",
  options: {
    recursive: { type: 'boolean', short: 'R', description: 'list subdirectories recursively' },
    long: { type: 'boolean', short: 'l', description: 'long listing: mode, links, owner, group, size, mtime (UTC)' },
  },
  async run(io, { options, positionals }) {
    const [text, target = '/', ...rest] = positionals;
    if (text === undefined || rest.length > 0) throw new CairnError('invalid-argument', 'ls: needs an image and at most one path');
    const store = await openStore(io, options.store);
    const view = await UnionView.open(store, await resolveImage(store, text));
    const long = options.long ?? false;
    const stat = long ? view.lstat(target) : view.stat(target);
    if (stat.type !== 'directory') {
      write(io, [{ name: target, stat }], long);
      return 0;
    }
    if (!options.recursive) {
      write(io, view.readdirStats(target), long);
      return 0;
    }
    // ls -R: the directory, then each subdirectory in walk order, each under its own header.
    const real = view.realpath(target);
    const dirs = [...view.walk(target)].filter((w) => w.stat.type === 'directory').map((w) => w.path);
    io.stdout.write(`${target}:\n`);
    write(io, view.readdirStats(target), long);
    for (const dir of dirs) {
      const rel = real === '' ? dir : dir.slice(real.length + 1);
      io.stdout.write(`\n${target.endsWith('/') ? target : `${target}/`}${rel}:\n`);
      write(io, view.readdirStats(`/${dir}`), long);
    }
    return 0;
  },
});

function write(io: CliIO, entries: readonly DirEntry[], long: boolean): void {
  if (!long) {
    io.stdout.write(entries.map((e) => `${e.name}\n`).join(''));
    return;
  }
  const rows = entries.map((e) => longRow(e.name, e.stat));
  const width = (c: number): number => Math.max(0, ...rows.map((r) => (r[c] as string).length));
  const [links, uid, gid, size] = [width(1), width(2), width(3), width(4)];
  for (const [mode, n, u, g, sz, rest] of rows as [string, string, string, string, string, string][]) {
    io.stdout.write(`${mode} ${n.padStart(links)} ${u.padEnd(uid)} ${g.padEnd(gid)} ${sz.padStart(size)} ${rest}\n`);
  }
}

function longRow(name: string, s: UnionStat): string[] {
  const size = s.type === 'char' || s.type === 'block' ? `${s.devmajor ?? 0}, ${s.devminor ?? 0}` : String(s.size);
  const shown = s.type === 'symlink' ? `${name} -> ${s.linkname ?? ''}` : name;
  return [modeString(s), String(s.nlink), String(s.uid), String(s.gid), size, `${formatTime(s.mtime)} ${shown}`];
}

const TYPE_CHAR: Readonly<Record<UnionStat['type'], string>> = {
  file: '-',
  directory: 'd',
  symlink: 'l',
  char: 'c',
  block: 'b',
  fifo: 'p',
};

/** `drwxr-xr-x`, with s/S and t/T for setuid, setgid and sticky, as ls prints them. */
export function modeString(s: Pick<UnionStat, 'type' | 'mode'>): string {
  const m = s.mode;
  const bit = (mask: number, ch: string): string => (m & mask ? ch : '-');
  const special = (exec: number, flag: number, on: string): string =>
    m & flag ? (m & exec ? on : on.toUpperCase()) : m & exec ? 'x' : '-';
  return (
    TYPE_CHAR[s.type] +
    bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's') +
    bit(0o040, 'r') + bit(0o020, 'w') + special(0o010, 0o2000, 's') +
    bit(0o004, 'r') + bit(0o002, 'w') + special(0o001, 0o1000, 't')
  );
}

function formatTime(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}
