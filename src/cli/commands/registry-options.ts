/** @module cli/commands/registry-options — the registry flags pull, push and copy share. */
import type { RegistryOptions } from '../../transport/registry/client.js';

/** `--tls-verify[=false]`: unset keeps the default (HTTPS, HTTP allowed for loopback registries). */
export function tlsVerifyOption(flag: boolean | undefined): RegistryOptions {
  return flag === undefined ? {} : { tlsVerify: flag };
}
