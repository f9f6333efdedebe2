/**
 * @module runtime
 * Running processes in a prepared root filesystem: runtime-spec generation from an image config,
 * the runc driver and the util-linux fallback, a supervisor for detached containers with logs
 * and published ports, and the API the container module builds on (runtime/control).
 */
export { generateSpec, execProcess, mergeEnv, processArgs, imageAnnotations, DEFAULT_PATH } from './spec.js';
export type { SpecOptions, ExecOptions } from './spec.js';
export { resolveUser, readRootfsFile } from './user.js';
export type { ResolvedUser } from './user.js';
export {
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  defaultMounts,
  containerRlimits,
  readHardLimits,
  parseLimits,
} from './defaults.js';
export type { HardLimit, HardLimits } from './defaults.js';
export { RuncRuntime } from './runc.js';
export type { RuncOptions, RuncState } from './runc.js';
export { UnshareRuntime } from './unshare.js';
export { parsePublish, formatHostPort, PortProxy } from './ports.js';
export type { PortMapping } from './ports.js';
export { containerPaths } from './state.js';
export type { ContainerState, ContainerStatus, ContainerPaths } from './state.js';
export type { LogLine, LogStream, FollowOptions } from './logs.js';
export type { ProcessIdentity } from './proc.js';
export { signalName } from './proc.js';
export type { Stdio } from './io.js';
export {
  createRuntime,
  resolveRuntime,
  runAttached,
  readState,
  waitExited,
  stop,
  kill,
  exec,
  followLogs,
  cleanup,
  releaseRuntime,
} from './control.js';
export type { RuntimeChoice, ContainerRunOptions, AttachedOptions, ExecRunOptions } from './control.js';
export { startDetached, supervisorScript } from './detach.js';
export type { DetachedOptions, SupervisorConfig } from './detach.js';
export type { ExitActions } from './exit-actions.js';
export type {
  RuntimeSpec,
  ProcessSpec,
  SpecUser,
  SpecCapabilities,
  SpecRlimit,
  SpecMount,
  LinuxSpec,
  NamespaceType,
  NetworkMode,
  Runtime,
  RuntimeName,
  RuntimeContext,
  Launched,
  OutputStream,
  LaunchOptions,
  ExecLaunchOptions,
  StdioSlot,
} from './types.js';
