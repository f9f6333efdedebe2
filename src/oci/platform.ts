/**
 * @module oci/platform
 * Platforms: parsing `os/arch[/variant]`, the host's platform in Go's names, matching with
 * containerd's normalisation, and choosing a manifest from an index.
 *
 * Normalisation follows containerd/platforms (`normalizeArch`): aliases become Go names
 * (x86_64→amd64, aarch64→arm64, i386→386, armhf→arm/v7, armel→arm/v6, macos→darwin); a
 * default variant equals no variant (amd64 v1, arm64 v8, arm v7). `parsePlatform` keeps what
 * was written (after aliasing) so `formatPlatform` gives it back; only matching normalises.
 * Nothing here guesses a missing OS or architecture from the host: `linux` alone is an error.
 */
import { CairnError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from './types.js';

const COMPONENT = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses `os/arch` or `os/arch/variant`. Case is folded and aliases are mapped (see module doc).
 *
 * @throws CairnError 'invalid-argument' naming the input.
 * @example parsePlatform('linux/arm64/v8') // { os: 'linux', architecture: 'arm64', variant: 'v8' }
 */
export function parsePlatform(specifier: string): Platform {
  const parts = specifier.split('/');
  const bad = (why: string): CairnError =>
    new CairnError('invalid-argument', `invalid platform "${specifier}": ${why}`, { value: specifier });
  if (parts.length < 2 || parts.length > 3) throw bad('expected os/arch or os/arch/variant');
  for (const part of parts) {
    if (!COMPONENT.test(part)) throw bad(`component "${part}" must be non-empty and match [A-Za-z0-9_.-]`);
  }
  const [os, arch, variant] = parts as [string, string, string | undefined];
  const alias = ARCH_ALIASES[arch.toLowerCase()];
  const architecture = alias?.architecture ?? arch.toLowerCase();
  const v = variant?.toLowerCase() ?? alias?.variant;
  return { architecture, os: normalizeOs(os), ...(v === undefined ? {} : { variant: v }) };
}

/** `os/arch[/variant]`. @example formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }) // 'linux/arm/v7' */
export function formatPlatform(platform: Platform): string {
  const { os, architecture, variant } = platform;
  return variant ? `${os}/${architecture}/${variant}` : `${os}/${architecture}`;
}

const ARCH_ALIASES: Readonly<Record<string, { architecture: string; variant?: string }>> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  i386: { architecture: '386' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
};

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/**
 * containerd's `Normalize`: Go names, and the default variant of an architecture written as
 * no variant (amd64 v1, arm64 v8) or as its default (arm → v7).
 */
export function normalizePlatform(platform: Platform): Platform {
  const alias = ARCH_ALIASES[platform.architecture.toLowerCase()];
  const architecture = alias?.architecture ?? platform.architecture.toLowerCase();
  let variant = (platform.variant ?? alias?.variant ?? '').toLowerCase();
  if (architecture === '386') variant = '';
  if (architecture === 'amd64' && variant === 'v1') variant = '';
  if (architecture === 'arm64') {
    if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
    if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
  }
  if (architecture === 'arm') {
    if (variant === '' || variant === '7') variant = 'v7';
    if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
  }
  const { variant: _written, ...rest } = platform;
  return { ...rest, architecture, os: normalizeOs(platform.os), ...(variant === '' ? {} : { variant }) };
}

/**
 * Whether an image for `candidate` is what `want` asks for: same OS, architecture and variant
 * after normalisation, and every OS feature the candidate needs is one `want` has. OS versions
 * are compared only for Windows (major.minor.build), as containerd does.
 */
export function platformMatches(want: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(want);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture || (w.variant ?? '') !== (c.variant ?? '')) return false;
  const have = new Set(w['os.features'] ?? []);
  if (!(c['os.features'] ?? []).every((f) => have.has(f))) return false;
  if (w.os === 'windows' && w['os.version'] && c['os.version']) {
    return build(w['os.version']) === build(c['os.version']);
  }
  return true;
}

function build(version: string): string {
  return version.split('.').slice(0, 3).join('.');
}

/**
 * The platforms an image for `want` can run, best first (containerd's `platformVector`): the
 * platform itself, then older variants (amd64 v3→v2→v1, then 386; arm v7→v6→v5; arm64 v8.2→
 * v8.1→v8, then arm v8→v7→v6→v5).
 */
export function compatiblePlatforms(want: Platform): Platform[] {
  const p = normalizePlatform(want);
  const { architecture: _arch, variant: _variant, ...base } = p; // os and os.* carry over
  const at = (architecture: string, variant?: string): Platform => ({
    ...base,
    architecture,
    ...(variant ? { variant } : {}),
  });
  const number = (variant: string | undefined): number => Number.parseInt((variant ?? '').replace(/^v/, ''), 10);
  const arm64 = (major: number, minor: number): Platform => at('arm64', minor === 0 ? `v${major}` : `v${major}.${minor}`);
  const out: Platform[] = [p];
  if (p.architecture === 'amd64') {
    for (let v = number(p.variant) - 1; v >= 1; v--) out.push(at('amd64', `v${v}`));
    out.push(at('386'));
  } else if (p.architecture === 'arm') {
    for (let v = number(p.variant) - 1; v >= 5; v--) out.push(at('arm', `v${v}`));
  } else if (p.architecture === 'arm64') {
    const m = /^v(\d+)(?:\.(\d+))?$/.exec(p.variant ?? 'v8');
    if (m) {
      const major = Number(m[1]);
      const minor = Number(m[2] ?? 0);
      for (let v = minor - 1; v >= 0; v--) out.push(arm64(major, v));
      // v9.x implies v8.(x+5) (containerd's arm64variantToVersion).
      if (major === 9) for (let v = Math.min(minor + 5, 9); v >= 0; v--) out.push(arm64(8, v));
      for (let v = 8; v >= 5; v--) out.push(at('arm', `v${v}`));
    }
  }
  return out;
}

export interface SelectOptions {
  /** Also accept older compatible platforms (see `compatiblePlatforms`). Default true. */
  readonly compatible?: boolean;
}

/**
 * The index entry that best runs on `want`: an exact match first, then the most capable
 * compatible platform; among equals, the first in the index. Entries without a platform are
 * never chosen.
 *
 * @throws CairnError 'not-found' listing the platforms the index has.
 * @example selectManifest(index, parsePlatform('linux/arm64'))
 */
export function selectManifest(index: ImageIndex, want: Platform, options: SelectOptions = {}): Descriptor {
  const ranked = options.compatible === false ? [want] : compatiblePlatforms(want);
  for (const candidate of ranked) {
    const found = index.manifests.find((d) => d.platform !== undefined && platformMatches(candidate, d.platform));
    if (found) return found;
  }
  const available = index.manifests.flatMap((d) => (d.platform ? [formatPlatform(d.platform)] : []));
  const list = available.length > 0 ? available.join(', ') : 'no platform-specific manifests';
  throw new CairnError('not-found', `no manifest for ${formatPlatform(want)} in the index; it has ${list}`, {
    platform: formatPlatform(want),
    available,
  });
}

/** What `hostPlatform` reads; Node's `process.platform`, `process.arch` and arm version. */
export interface HostInfo {
  readonly platform: string;
  readonly arch: string;
  /** `process.config.variables.arm_version` on 32-bit arm ("6", "7"). */
  readonly armVersion?: string;
}

const GOOS: Readonly<Record<string, string>> = { win32: 'windows', sunos: 'solaris' };
const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', mipsel: 'mipsle', mips64el: 'mips64le' };

/**
 * The platform this process runs on, in Go's names (x64→amd64, ia32→386, arm64→arm64/v8,
 * arm→arm/v7 or the build's arm version, win32→windows). Pass `info` to map another host.
 *
 * @throws CairnError 'unsupported' where there is no `process` (a browser) and no `info`.
 */
export function hostPlatform(info?: HostInfo): Platform {
  const host = info ?? nodeHost();
  const os = GOOS[host.platform] ?? host.platform;
  let architecture = GOARCH[host.arch] ?? host.arch;
  // Node calls little-endian 64-bit POWER "ppc64"; only AIX runs it big-endian.
  if (host.arch === 'ppc64' && os !== 'aix') architecture = 'ppc64le';
  if (architecture === 'arm64') return { architecture, os, variant: 'v8' };
  if (architecture === 'arm') return { architecture, os, variant: `v${host.armVersion ?? '7'}` };
  return { architecture, os };
}

function nodeHost(): HostInfo {
  const proc = (globalThis as { process?: { platform?: unknown; arch?: unknown; config?: unknown } }).process;
  if (typeof proc?.platform !== 'string' || typeof proc.arch !== 'string') {
    throw new CairnError('unsupported', 'the host platform is unknown here (no Node process); pass one explicitly');
  }
  const variables = (proc.config as { variables?: { arm_version?: unknown } } | undefined)?.variables;
  const raw = variables?.arm_version;
  const armVersion = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : undefined;
  return { platform: proc.platform, arch: proc.arch, ...(armVersion ? { armVersion } : {}) };
}
