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
export { ConversationWatch } from "./manager/watch.js";
export type { StreamedTurn, TurnContext, TurnInput, TurnOptions, TurnResult } from "./manager/turn.js";
export type { ConversationState } from "../machines/conversation.machine.js";
export { conversationMachine } from "../machines/conversation.machine.js";

export { ConversationConfigSchema, validateConversationConfig } from "./config.js";
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
  AbortError,
  AppServerRequestError,
  BadFrameError,
  CapacityError,
  ControlSocketError,
  ConversationInUseError,
  ConversationNotFoundError,
  EmptyRolloutError,
  ForkPointError,
  HostNotAnsweringError,
  HostProtocolError,
  InsecureListenError,
  InternalAgentDiedError,
  InvalidConfigError,
  InvalidInputFileError,
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
  ReadOnlyConversationError,
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
  TurnFailedError,
  UnknownApprovalError,
  UnknownConversationIdError,
  WorkerCrashedError,
} from "./errors.js";
export { errorCode, errorEvent } from "./errors.js";
export { MAX_IMAGE_BYTES, imageDataUrl, resolveLocalImages } from "./util/image.js";
export { applyProfile, configWarnings, loadConfig, loadConfigToml, parseConfigToml, resolveConfig } from "./config-file.js";
export type { ConfigOverrides, ConfigToml } from "./config-file.js";
export type { ModelProviderInfo, WireApi } from "./model/provider-info.js";

export * from "./protocol/index.js";
export { ManualClock, systemClock, createIdSource } from "./util/clock.js";
export type { Clock, IdSource, TimerId } from "./util/clock.js";
