/**
 * @module runtime/user
 * `Config.User` → `process.user` (image-spec conversion.md, "Config.User"), resolved through
 * the container's own `/etc/passwd` and `/etc/group`.
 *
 * The files are read from the rootfs on the host, so they are untrusted: every path component is
 * resolved inside the rootfs (symlinks re-rooted, `..` stopped at the root: layer/scoped-path),
 * the final open refuses a symlink (`O_NOFOLLOW`) and anything but a regular file, never blocks
 * on a FIFO (`O_NONBLOCK`), and reads at most 4 MiB.
 *
 * The rules (conversion.md, with docker's choices where the spec leaves room):
 * - numeric user and group are copied verbatim; a numeric user without a group takes the gid of
 *   its passwd entry when there is one, else 0 (docker, runc);
 * - a name must exist in the file, else 'not-found' ("MUST return an error");
 * - `additionalGids` come from `/etc/group` memberships only for a user *name* without a group
 *   ("SHOULD NOT modify additionalGids if user is numeric or Config.User specifies a group");
 * - no user at all is root (0:0), which the spec leaves implementation-defined.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { CairnError, errnoCode } from '../errors.js';
import { rootPath } from '../layer/scoped-path.js';
import type { SpecUser } from './types.js';

const MAX_FILE = 4 << 20;

/** A resolved user: `process.user` plus the home directory for `HOME`. */
export interface ResolvedUser extends SpecUser {
  /** From the passwd entry when there is one. */
  home?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/**
 * Reads `rel` (e.g. `etc/passwd`) from inside `rootfs`, or returns null when it does not exist.
 * Never follows a symlink out of the rootfs. The lookups, open, fstat and read are synchronous: a few
 * kilobytes at most, read on every container start, where each thread-pool round trip of a
 * FileHandle call costs more than the syscall.
 */
export async function readRootfsFile(rootfs: string, rel: string): Promise<string | null> {
  let fd: number;
  try {
    const abs = await rootPath(rootfs, rel, { synchronous: true });
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return null;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    if (st.size > MAX_FILE) {
      throw new CairnError('invalid-argument', `/${rel} in the container is larger than ${MAX_FILE} bytes`, { path: rel, size: st.size });
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

const NUMERIC = /^\d+$/;

function parseId(text: string): number | undefined {
  if (!NUMERIC.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xffffffff ? n : undefined;
}

function parsePasswd(text: string | null): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f.length < 7 || uid === undefined || gid === undefined) continue; // malformed: skip, as libc does
    entries.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '' });
  }
  return entries;
}

function parseGroup(text: string | null): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2] ?? '');
    if (f.length < 4 || gid === undefined) continue;
    entries.push({ name: f[0] ?? '', gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return entries;
}

/**
 * Resolves `user` (`''`, `uid`, `uid:gid`, `name`, `name:group`, any mix) in `rootfs`.
 *
 * @throws CairnError 'not-found' when a name is not in the container's passwd/group file;
 *   'invalid-argument' for a malformed value.
 * @example
 * await resolveUser('/rootfs', 'nobody')     // { uid: 65534, gid: 65534, additionalGids: [], home: '/nonexistent' }
 * await resolveUser('/rootfs', '1000:50')    // { uid: 1000, gid: 50 }
 */
export async function resolveUser(rootfs: string, user: string | undefined): Promise<ResolvedUser> {
  const spec = user ?? '';
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  if ((colon >= 0 && (userPart === '' || groupPart === '')) || spec.includes('\n') || groupPart?.includes(':')) {
    throw new CairnError('invalid-argument', `invalid user "${spec}": expected user[:group]`, { user: spec });
  }

  // passwd is read even for a numeric uid: its entry, when there is one, gives the gid and HOME.
  const passwd = parsePasswd(await readRootfsFile(rootfs, 'etc/passwd'));
  const numericUid = userPart === '' ? 0 : parseId(userPart);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (numericUid !== undefined) {
    uid = numericUid;
    entry = passwd.find((e) => e.uid === uid);
  } else {
    entry = passwd.find((e) => e.name === userPart);
    if (!entry) throw new CairnError('not-found', `unable to find user ${userPart}: no matching entries in the container's /etc/passwd`, { user: userPart });
    uid = entry.uid;
  }

  let gid = entry?.gid ?? 0;
  let additionalGids: number[] | undefined;
  if (groupPart !== undefined) {
    const numericGid = parseId(groupPart);
    if (numericGid !== undefined) {
      gid = numericGid;
    } else {
      const group = parseGroup(await readRootfsFile(rootfs, 'etc/group')).find((g) => g.name === groupPart);
      if (!group) throw new CairnError('not-found', `unable to find group ${groupPart}: no matching entries in the container's /etc/group`, { group: groupPart });
      gid = group.gid;
    }
  } else if (numericUid === undefined && entry) {
    const name = entry.name;
    const groups = parseGroup(await readRootfsFile(rootfs, 'etc/group'));
    additionalGids = [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  }

  const resolved: ResolvedUser = { uid, gid };
  if (additionalGids !== undefined) resolved.additionalGids = additionalGids;
  if (entry && entry.home !== '') resolved.home = entry.home;
  return resolved;
}
