/**
 * @module build/image-paths
 * Where COPY, ADD and WORKDIR put things in the step's parent image: destination directories
 * resolved through the image's own symlinks (a dangling one too, as docker follows it), the
 * components still to create, and `--chown` names looked up in the image's /etc/passwd and
 * /etc/group (read through its `UnionView`, nothing unpacked).
 */
import { CairnError } from '../errors.js';
import type { UnionView } from '../union/index.js';

/** `--chmod`: octal only. */
export function parseChmod(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^[0-7]{1,4}$/.test(text)) throw new CairnError('invalid-argument', `invalid --chmod value "${text}": give an octal mode such as 755 or 0644`, { chmod: text });
  return parseInt(text, 8);
}

function parseColonFile(text: string, idField: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const id = Number(f[idField]);
    if (f[0] && Number.isInteger(id) && !out.has(f[0])) out.set(f[0], id);
  }
  return out;
}

/** `--chown=user[:group]` resolved in the image (names through its /etc/passwd and /etc/group). */
export async function resolveChown(text: string | undefined, image: UnionView): Promise<{ uid: number; gid: number } | undefined> {
  if (text === undefined || text === '') return undefined;
  const [userPart, groupPart = userPart] = text.split(':', 2) as [string, string | undefined];
  const read = async (file: string): Promise<string> => {
    try {
      return (await image.readFile(file)).toString('utf8');
    } catch {
      return '';
    }
  };
  const lookup = async (name: string, file: string, what: string): Promise<number> => {
    if (/^\d+$/.test(name)) return Number(name);
    const id = parseColonFile(await read(file), 2).get(name);
    if (id === undefined) throw new CairnError('not-found', `--chown=${text}: unable to find ${what} ${name}: no matching entries in ${file}`, { chown: text });
    return id;
  };
  if (userPart === '') throw new CairnError('invalid-argument', `invalid --chown value "${text}"`, { chown: text });
  return { uid: await lookup(userPart, '/etc/passwd', 'user'), gid: await lookup(groupPart ?? userPart, '/etc/group', 'group') };
}

/**
 * Where a destination directory lands in the image: its existing part resolved through the
 * image's symlinks (a dangling one too: docker follows it and creates the target), and the
 * components still to create.
 */
export function placeDir(image: UnionView, parts: readonly string[]): { base: string; missing: string[] } {
  const base: string[] = [];
  const queue = [...parts];
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      base.pop();
      continue;
    }
    const candidate = [...base, part].join('/');
    if (!image.exists(`/${candidate}`, false)) {
      const missing: string[] = [];
      for (const rest of [part, ...queue]) {
        if (rest === '' || rest === '.') continue;
        if (rest === '..') missing.pop();
        else missing.push(rest);
      }
      return { base: base.join('/'), missing };
    }
    const st = image.lstat(`/${candidate}`);
    if (st.type === 'directory') {
      base.push(part);
    } else if (st.type === 'symlink') {
      if (++links > 255) throw new CairnError('invalid-argument', `cannot copy to /${parts.join('/')}: too many symlinks`, { path: parts.join('/') });
      const target = st.linkname ?? '';
      if (target.startsWith('/')) base.length = 0;
      queue.unshift(...target.split('/'));
    } else {
      throw new CairnError('invalid-argument', `cannot copy to /${parts.join('/')}: /${candidate} is not a directory in the image`, { path: candidate });
    }
  }
  return { base: base.join('/'), missing: [] };
}
