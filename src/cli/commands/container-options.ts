/**
 * @module cli/commands/container-options
 * The flags `create` and `run` share (docker's names), and their translation to CreateOptions.
 */
import { CairnError } from '../../errors.js';
import type { CreateOptions } from '../../container/create.js';
import type { ParsedOptions } from '../args.js';

export const CREATE_OPTIONS = {
  name: { type: 'string', value: 'NAME', description: 'assign a name to the container' },
  env: { type: 'string', short: 'e', multiple: true, value: 'KEY=VALUE', description: 'set environment variables' },
  workdir: { type: 'string', short: 'w', value: 'DIR', description: 'working directory inside the container' },
  user: { type: 'string', short: 'u', value: 'USER[:GROUP]', description: 'username or UID (format: <name|uid>[:<group|gid>])' },
  entrypoint: { type: 'string', value: 'CMD', description: 'overwrite the default ENTRYPOINT of the image' },
  hostname: { type: 'string', value: 'NAME', description: 'container host name' },
  publish: { type: 'string', short: 'p', multiple: true, value: '[IP:]HOST:CTR[/tcp]', description: "publish a container's port to the host" },
  network: { type: 'string', value: 'private|none|host', description: 'network mode (default private: loopback only, ports reach it through -p)' },
  interactive: { type: 'boolean', short: 'i', description: 'keep STDIN open' },
  tty: { type: 'boolean', short: 't', description: 'allocate a pseudo-TTY' },
  rm: { type: 'boolean', description: 'automatically remove the container when it exits' },
  runtime: { type: 'string', value: 'runc|unshare', description: 'OCI runtime (default runc)' },
  rootfs: { type: 'string', value: 'overlay|copy', description: 'root filesystem: kernel overlay (default as root) or a copy' },
  platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'platform of a multi-platform image' },
} as const;

export function createOptionsFrom(options: ParsedOptions<typeof CREATE_OPTIONS>, image: string, args: readonly string[]): CreateOptions {
  const oneOf = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined => {
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new CairnError('invalid-argument', `--${flag} must be one of ${allowed.join(', ')}, not "${value}"`, { flag, value });
    }
    return value as T;
  };
  const network = oneOf('network', options.network, ['private', 'none', 'host'] as const);
  const runtime = oneOf('runtime', options.runtime, ['runc', 'unshare'] as const);
  const rootfs = oneOf('rootfs', options.rootfs, ['overlay', 'copy'] as const);
  return {
    image,
    ...(args.length > 0 ? { args } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    // docker: --entrypoint takes one executable; "" clears the image's entrypoint.
    ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint === '' ? [] : [options.entrypoint] } : {}),
    ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
    ...(options.publish ? { publish: options.publish } : {}),
    ...(network ? { network } : {}),
    ...(runtime ? { runtime } : {}),
    ...(rootfs ? { rootfs } : {}),
    tty: options.tty ?? false,
    interactive: options.interactive ?? false,
    autoRemove: options.rm ?? false,
  };
}
