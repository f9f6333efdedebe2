// The reader on hand-made archives: every quirk we decided (root entries, prefixes, duplicates,
// missing footers, GNU/PAX/V7/Go<=1.7 headers), every failure mode, and the body contract.
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { isCairnError, type CairnError } from '../../src/errors.js';
import { BLOCK, encodeHeader, encodePax } from '../../src/tar/header.js';
import { listTar, tarEntries, type TarEntry } from '../../src/tar/index.js';

async function read(bytes: Buffer, what = 'test.tar'): Promise<Array<{ entry: TarEntry; content: Buffer }>> {
  const out: Array<{ entry: TarEntry; content: Buffer }> = [];
  for await (const { entry, body } of tarEntries(Readable.from([bytes]), { what })) {
    out.push({ entry, content: await buffer(body) });
  }
  return out;
}

function chunked(bytes: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

/** A header block built by hand; `patch` edits raw bytes, then the checksum is recomputed. */
function header(
  fields: { name: string; type?: string; size?: number; linkname?: string; mtime?: number; uid?: number },
  patch?: (block: Buffer) => void,
): Buffer {
  const block = encodeHeader({
    name: Buffer.from(fields.name, 'utf8'),
    mode: 0o644,
    uid: fields.uid ?? 0,
    gid: 0,
    size: fields.size ?? 0,
    mtime: fields.mtime ?? 0,
    typeflag: fields.type ?? '0',
    linkname: Buffer.from(fields.linkname ?? ''),
    devmajor: 0,
    devminor: 0,
  });
  if (patch) {
    patch(block);
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of block) sum += b;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  }
  return block;
}

function data(content: string | Buffer): Buffer {
  const b = Buffer.from(content);
  return Buffer.concat([b, Buffer.alloc((BLOCK - (b.length % BLOCK)) % BLOCK)]);
}

function pax(records: Array<[string, string | Buffer]>, type = 'x'): Buffer {
  const body = encodePax(records);
  return Buffer.concat([header({ name: 'PaxHeaders.0/x', type, size: body.length }), data(body)]);
}

const FOOTER = Buffer.alloc(1024);

async function expectCode(promise: Promise<unknown>, code: string, what = 'test.tar'): Promise<CairnError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCairnError(err), String(err)).toBe(true);
  const cairn = err as CairnError;
  expect(cairn.code).toBe(code);
  expect(cairn.message).toContain(what);
  return cairn;
}

describe('quirks', () => {
  it('reports `/` and `./` as the root `.`, strips `./` and `/` prefixes, keeps duplicates in order', async () => {
    const tar = Buffer.concat([
      header({ name: '/', type: '5' }),
      header({ name: './', type: '5' }),
      header({ name: './etc/', type: '5' }),
      header({ name: '/etc/passwd', size: 3 }),
      data('one'),
      header({ name: 'etc//passwd', size: 3 }),
      data('two'),
      header({ name: '../escape', type: '2', linkname: '/etc/../../x' }),
      header({ name: '/../rooted' }),
      FOOTER,
    ]);
    const items = await read(tar);
    expect(items.map((i) => [i.entry.path, i.entry.type])).toEqual([
      ['.', 'directory'],
      ['.', 'directory'],
      ['etc', 'directory'],
      ['etc/passwd', 'file'],
      ['etc/passwd', 'file'],
      ['../escape', 'symlink'],
      ['rooted', 'file'],
    ]);
    expect(items.map((i) => i.content.toString())).toEqual(['', '', '', 'one', 'two', '', '']);
    expect(items[5]?.entry.linkname).toBe('/etc/../../x'); // symlink targets are verbatim
  });

  it('accepts a missing footer (umoci), a single zero block, and a footer cut short', async () => {
    const body = Buffer.concat([header({ name: 'a', size: 2 }), data('hi'), header({ name: 'b', type: '5' })]);
    for (const tail of [Buffer.alloc(0), Buffer.alloc(512), Buffer.alloc(700), FOOTER]) {
      const items = await read(Buffer.concat([body, tail]));
      expect(items.map((i) => i.entry.path)).toEqual(['a', 'b']);
    }
  });

  it('accepts content whose final padding is cut off at EOF', async () => {
    const items = await read(Buffer.concat([header({ name: 'a', size: 2 }), Buffer.from('hi')]));
    expect(items[0]?.content.toString()).toBe('hi');
  });

  it('fails with invalid-archive naming the input on truncation, bad checksums, garbage', async () => {
    const full = Buffer.concat([header({ name: 'a', size: 1000 }), data(Buffer.alloc(1000, 1)), FOOTER]);
    await expectCode(read(full.subarray(0, 700), 'cut-in-content.tar'), 'invalid-archive', 'cut-in-content.tar');
    await expectCode(read(full.subarray(0, 300), 'cut-in-header.tar'), 'invalid-archive', 'cut-in-header.tar');
    const bad = Buffer.from(full);
    bad[10] = 0x41;
    const err = await expectCode(read(bad, 'bad-sum.tar'), 'invalid-archive', 'bad-sum.tar');
    expect(err.data).toMatchObject({ what: 'bad-sum.tar', offset: 0 });
    await expectCode(read(Buffer.alloc(2048, 'not a tar'), 'garbage'), 'invalid-archive', 'garbage');
    const zeroThenHeader = Buffer.concat([Buffer.alloc(512), header({ name: 'a' }), FOOTER]);
    await expectCode(read(zeroThenHeader, 'lone-zero.tar'), 'invalid-archive', 'lone-zero.tar');
    const paxThenEnd = Buffer.concat([pax([['path', 'x']]), FOOTER]);
    await expectCode(read(paxThenEnd, 'dangling-pax.tar'), 'invalid-archive', 'dangling-pax.tar');
    await expectCode(read(Buffer.concat([pax([['path', 'x']]).subarray(0, 700)]), 'cut-pax.tar'), 'invalid-archive', 'cut-pax.tar');
    const badPax = Buffer.concat([header({ name: 'x', type: 'x', size: 12 }), data('99 path=abc\n'), header({ name: 'a' })]);
    await expectCode(read(badPax, 'bad-pax.tar'), 'invalid-archive', 'bad-pax.tar');
  });

  it('the error surfaces on the body being read when content is truncated', async () => {
    const cut = Buffer.concat([header({ name: 'a', size: 5000 }), Buffer.alloc(3000)]);
    const it = tarEntries(Readable.from([cut]), { what: 'body-cut.tar' })[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    if (first.done === true) return;
    await expectCode(buffer(first.value.body), 'invalid-archive', 'body-cut.tar');
    await expectCode(it.next(), 'invalid-archive', 'body-cut.tar');
  });

  it('PAX: path, linkpath, uid, gid, size, mtime with fraction, empty value cancels, globals apply', async () => {
    const tar = Buffer.concat([
      pax([['uid', '4242'], ['comment', 'global']], 'g'),
      pax([
        ['path', 'p/a-long-name'],
        ['mtime', '1700000000.987654321'],
        ['gid', '77'],
        ['SCHILY.xattr.security.capability', Buffer.from([1, 0, 0, 2, 0xc0])],
        ['LIBARCHIVE.xattr.user.x%3Dy', Buffer.from('aGk=')],
      ]),
      header({ name: 'short', size: 2 }),
      data('ok'),
      pax([['path', ''], ['mtime', '-1.5']]),
      header({ name: 'fallback', type: '2', linkname: 'short-target' }),
      pax([['linkpath', 'L'.repeat(200)]]),
      header({ name: 'hl', type: '1', linkname: 'x' }),
      FOOTER,
    ]);
    const items = await read(tar);
    expect(items.map((i) => i.entry.path)).toEqual(['p/a-long-name', 'fallback', 'hl']);
    const [a, b, c] = items.map((i) => i.entry) as [TarEntry, TarEntry, TarEntry];
    expect(a.uid).toBe(4242);
    expect(b.uid).toBe(4242);
    expect(a.gid).toBe(77);
    expect(b.gid).toBe(0);
    expect(a.mtime.getTime()).toBe(1_700_000_000_987);
    expect(b.mtime.getTime()).toBe(-1500);
    expect(a.xattrs['security.capability']).toEqual(Buffer.from([1, 0, 0, 2, 0xc0]));
    expect(a.xattrs['user.x=y']?.toString()).toBe('hi');
    expect(b.linkname).toBe('short-target');
    expect(c.linkname).toBe('L'.repeat(200));
    expect(items[0]?.content.toString()).toBe('ok');
  });

  it('GNU long names (L/K) and base-256 numbers; V7 headers; Go<=1.7 prefix', async () => {
    const longName = `${'n'.repeat(150)}/file`;
    const base256 = (block: Buffer, at: number, len: number, value: bigint): void => {
      let v = value < 0n ? (1n << BigInt(len * 8)) + value : value;
      for (let i = len - 1; i >= 0; i--) {
        block[at + i] = Number(v & 0xffn);
        v >>= 8n;
      }
      block[at] = (block[at] ?? 0) | 0x80;
    };
    const gnuMagic = (b: Buffer): void => void b.write('ustar  \0', 257, 'latin1');
    const tar = Buffer.concat([
      header({ name: '././@LongLink', type: 'L', size: longName.length + 1 }, gnuMagic),
      data(`${longName}\0`),
      header({ name: 'trunc', size: 1 }, (b) => {
        gnuMagic(b);
        base256(b, 108, 8, 5_000_000n); // uid
        base256(b, 136, 12, -86_400n); // mtime: one day before the epoch
      }),
      data('x'),
      header({ name: 'v7dir/', type: '\0' }, (b) => b.fill(0, 257, 265)),
      header({ name: 'foo' }, (b) => {
        gnuMagic(b);
        b.write('a'.repeat(97), 345, 'latin1');
      }),
      FOOTER,
    ]);
    const items = await read(tar);
    expect(items.map((i) => i.entry.path)).toEqual([longName, 'v7dir', `${'a'.repeat(97)}/foo`]);
    expect(items[0]?.entry).toMatchObject({ uid: 5_000_000, type: 'file', size: 1 });
    expect(items[0]?.entry.mtime.getTime()).toBe(-86_400_000);
    expect(items[1]?.entry.type).toBe('directory');
  });

  it('refuses sparse files, unknown types and non-UTF-8 names with unsupported', async () => {
    await expectCode(read(Buffer.concat([header({ name: 's', type: 'S' }), FOOTER])), 'unsupported');
    await expectCode(read(Buffer.concat([pax([['GNU.sparse.major', '1']]), header({ name: 's' }), FOOTER])), 'unsupported');
    await expectCode(read(Buffer.concat([header({ name: 'v', type: 'V' }), FOOTER])), 'unsupported');
    const latin1 = header({ name: 'x' }, (b) => b.write('caf\xe9', 0, 'latin1'));
    await expectCode(read(Buffer.concat([latin1, FOOTER])), 'unsupported');
  });

  it('ignores the header size of links, devices, fifos and directories (as Go does)', async () => {
    const tar = Buffer.concat([header({ name: 'd/', type: '5', size: 9999 }), header({ name: 'f', size: 1 }), data('z'), FOOTER]);
    const items = await read(tar);
    expect(items.map((i) => [i.entry.path, i.entry.size, i.content.toString()])).toEqual([
      ['d', 0, ''],
      ['f', 1, 'z'],
    ]);
  });
});

describe('body contract', () => {
  const tar = Buffer.concat([
    header({ name: 'a', size: 200_000 }),
    data(Buffer.alloc(200_000, 0x61)),
    header({ name: 'b', size: 3 }),
    data('bbb'),
    FOOTER,
  ]);

  it('unread bodies are drained: the next entry and its content are right', async () => {
    const paths: string[] = [];
    let last = '';
    for await (const { entry, body } of tarEntries(chunked(tar, 1000), { what: 't' })) {
      paths.push(entry.path);
      if (entry.path === 'b') last = (await buffer(body)).toString();
    }
    expect(paths).toEqual(['a', 'b']);
    expect(last).toBe('bbb');
  });

  it('a partly read body is destroyed when the iterator advances; late reads fail', async () => {
    const it = tarEntries(chunked(tar, 1000), { what: 't' })[Symbol.asyncIterator]();
    const a = await it.next();
    if (a.done === true) throw new Error('no entry');
    const body = a.value.body;
    const first = await new Promise<Buffer>((resolve) => body.once('data', resolve));
    body.pause();
    expect(first.length).toBeGreaterThan(0);
    const b = await it.next();
    expect(b.done === true ? undefined : b.value.entry.path).toBe('b');
    expect(body.destroyed).toBe(true);
    await expect(buffer(body)).rejects.toThrow();
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('breaking out of the loop destroys the input', async () => {
    const input = chunked(tar, 1000);
    for await (const { entry } of tarEntries(input, { what: 't' })) {
      expect(entry.path).toBe('a');
      break;
    }
    expect(input.destroyed).toBe(true);
  });

  it('entries report offsets of content and of their first header', async () => {
    const entries = await listTar(Readable.from([tar]), { what: 't' });
    expect(entries.map((e) => [e.headerOffset, e.offset])).toEqual([
      [0, 512],
      [512 + 200_192, 1024 + 200_192],
    ]);
  });
});
