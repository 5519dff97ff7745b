// The public API of llmx. Everything a user imports is named here.
export { ConversationManager } from "./manager/manager.js";
export type {
  ConversationInfo,
  ConversationManagerOptions,
  NewConversation,
  PendingApproval,
  StateChange,
} from "./manager/manager.js";
export { Conversation, SUBMISSION_QUEUE_CAPACITY } from "./manager/conversation.js";
export type { ConversationEnd, OpenApproval } from "./manager/conversation.js";
export type { ConversationState } from "../machines/conversation.machine.js";
export { conversationMachine } from "../machines/conversation.machine.js";

export { createConfig, defaultHome, DEFAULT_MAX_SUBAGENT_DEPTH, DEFAULT_MAX_SUBAGENTS, OFFLINE_MODEL, OFFLINE_PROVIDER } from "./config.js";
export type { ConversationConfig } from "./config.js";

export { truncateBeforeNthUserMessage } from "./rollout/truncate.js";
export { readRolloutHistory } from "./rollout/reader.js";
export type { RolloutHistory } from "./rollout/reader.js";
export { listConversations, findRolloutPathById } from "./rollout/list.js";
export type { ConversationSummary } from "./rollout/list.js";
export { RolloutRecorder } from "./rollout/recorder.js";
export { isUserMessage } from "./rollout/classify.js";
export { rolloutPathFor, sessionsDir } from "./rollout/paths.js";

// Running commands as the model's shell tool does: confined by the sandbox policy, with the configured environment.
export {
  bwrapArgs,
  commandEnvironment,
  defaultBwrapPath,
  needsSandbox,
  probeSandbox,
  runShellCommand,
  sandboxLayout,
  sandboxedArgv,
} from "./tools/index.js";
export type { SandboxLayout, SandboxOptions, ShellResult, ShellRunOptions } from "./tools/index.js";

export type { ModelClient, ModelRequest, ModelStreamEvent, ToolSpec } from "./model/types.js";
export { createOfflineModel } from "./model/offline.js";

export {
  BadFrameError,
  CapacityError,
  ConversationInUseError,
  ConversationNotFoundError,
  EmptyRolloutError,
  InternalAgentDiedError,
  InvalidConfigError,
  InvalidOpError,
  LlmxError,
  MissingApiKeyError,
  MissingSessionMetaError,
  ModelAuthError,
  ModelNotFoundError,
  ModelProviderError,
  ModelRequestError,
  ModelResponseFailedError,
  ModelResponseIncompleteError,
  ModelStreamError,
  RolloutError,
  RolloutHistoryBaseError,
  RolloutIdMismatchError,
  RolloutNotFoundError,
  RolloutUnsafePathError,
  RolloutWriteError,
  SandboxUnavailableError,
  SessionConfiguredNotFirstEventError,
  StreamInterruptedError,
  SubagentDepthError,
  SubagentLimitError,
  RestartIntensityError,
  UnknownApprovalError,
  WorkerCrashedError,
} from "./errors.js";
export { errorCode, errorEvent } from "./errors.js";
export { loadConfig, loadConfigToml, parseConfigToml, resolveConfig } from "./config-file.js";
export type { ConfigOverrides, ConfigToml } from "./config-file.js";
export type { ModelProviderInfo, WireApi } from "./model/provider-info.js";

export * from "./protocol/index.js";
export { ManualClock, systemClock, createIdSource } from "./util/clock.js";
export type { Clock, IdSource, TimerId } from "./util/clock.js";
