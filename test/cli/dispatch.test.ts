/**
 * cli/dispatch: the global part of a command line, and the entry point of a one-command script
 * (what bin/cairn.js runs for a known command name).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { command as tag } from '../../src/cli/commands/tag.js';
import { defineCommand, type CliIO } from '../../src/cli/context.js';
import { commandMain, splitInvocation, WHOLE_CLI_REQUIRED, wholeCliRequired } from '../../src/cli/dispatch.js';
import { main } from '../../src/cli/main.js';

function capture(): { io: CliIO; stdout: () => string; stderr: () => string } {
  const out = new PassThrough();
  const err = new PassThrough();
  const text = { out: '', err: '' };
  out.setEncoding('utf8').on('data', (s: string) => (text.out += s));
  err.setEncoding('utf8').on('data', (s: string) => (text.err += s));
  return { io: { stdout: out, stderr: err, stdin: new PassThrough(), env: {} }, stdout: () => text.out, stderr: () => text.err };
}

describe('splitInvocation', () => {
  it('takes --store before the command as a global option, in both spellings', () => {
    expect(splitInvocation(['--store', '/s', 'images', '-a'])).toEqual({ globalArgs: ['--store', '/s'], name: 'images', args: ['-a'] });
    expect(splitInvocation(['--store=/s', 'images'])).toEqual({ globalArgs: ['--store=/s'], name: 'images', args: [] });
    expect(splitInvocation(['images', '--store', '/s'])).toEqual({ globalArgs: [], name: 'images', args: ['--store', '/s'] });
    expect(splitInvocation(['--store'])).toEqual({ globalArgs: ['--store'], name: undefined, args: [] });
    expect(splitInvocation([])).toEqual({ globalArgs: [], name: undefined, args: [] });
  });
});

describe('commandMain', () => {
  it('runs its command as the whole CLI does', async () => {
    const own = capture();
    const whole = capture();
    expect(await commandMain('tag', tag)(['--store', '/nonexistent', 'tag', '--help'], own.io)).toBe(0);
    expect(await main(['--store', '/nonexistent', 'tag', '--help'], whole.io)).toBe(0);
    expect(own.stdout()).toMatch(/^Usage: cairn tag /);
    expect(own.stdout()).toBe(whole.stdout());
  });

  it('reports a usage error of its command the same way', async () => {
    const own = capture();
    const whole = capture();
    expect(await commandMain('tag', tag)(['tag'], own.io)).toBe(await main(['tag'], whole.io));
    expect(own.stderr()).toMatch(/^Error: /);
    expect(own.stderr()).toBe(whole.stderr());
  });

  it('passes a path its script lacks on to bin/cairn.js instead of reporting it', async () => {
    const own = capture();
    const partial = defineCommand({ usage: 'partial', summary: 'needs the whole CLI', options: {}, run: () => wholeCliRequired('diff/images.js') });
    await expect(commandMain('partial', partial)(['partial'], own.io)).rejects.toMatchObject({ code: WHOLE_CLI_REQUIRED });
    expect(own.stderr()).toBe('');
  });

  it('refuses a command line for another command', async () => {
    const own = capture();
    expect(await commandMain('tag', tag)(['images'], own.io)).toBe(1);
    expect(own.stderr()).toBe('Error: this entry point runs "cairn tag", not "images"\n');
  });
});
