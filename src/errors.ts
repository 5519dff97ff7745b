// One error family for llmx. Each failure has its own subclass with a stable `code`; errors cross threads as
// plain data (`SerializedError`) and are rebuilt into the same subclass on the other side.

export class LlmxError extends Error {
  readonly code: string = "llmx_error";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ConversationNotFoundError extends LlmxError {
  override readonly code = "conversation_not_found";
  constructor(readonly conversationId: string) {
    super(`no conversation with id: ${conversationId}`);
  }
}

export class SessionConfiguredNotFirstEventError extends LlmxError {
  override readonly code = "session_configured_not_first_event";
  constructor(readonly firstEvent?: unknown) {
    super("session configured event was not the first event in the stream");
  }
}

export class CapacityError extends LlmxError {
  override readonly code = "capacity";
  constructor(readonly limit: number) {
    super(`cannot start another conversation: ${limit} are live, the configured maximum`);
  }
}

/** The conversation's worker is gone (crashed, out of memory, exited, killed) or its session has ended. */
export class InternalAgentDiedError extends LlmxError {
  override readonly code: string = "internal_agent_died";
  constructor(message = "internal error; agent loop died unexpectedly", options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A worker ended abnormally. `reason` says how; `cause` carries the worker's own error when there was one. */
export class WorkerCrashedError extends InternalAgentDiedError {
  override readonly code = "worker_crashed";
  constructor(
    readonly conversationId: string,
    readonly reason: "threw" | "exited" | "out_of_memory" | "hung" | "killed",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class InvalidOpError extends LlmxError {
  override readonly code = "invalid_op";
  constructor(readonly detail: string) {
    super(`invalid op: ${detail}`);
  }
}

/** A message on a conversation's channel that fails its envelope check (a frame from a buggy or foreign peer). */
export class BadFrameError extends LlmxError {
  override readonly code = "bad_frame";
}

export class InvalidConfigError extends LlmxError {
  override readonly code = "invalid_config";
  /** The config field at fault (`approvalPolicy`, `sandboxPolicy.mode`, ...), when one is. */
  readonly field: string | undefined;
  constructor(message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options);
    this.field = typeof options === "object" && options !== null ? options.field : undefined;
  }
}

/**
 * A turn was aborted: its `signal` fired (the turn was interrupted), or it ended with `turn_aborted`. Its name is
 * "AbortError", as the DOM's and Node's are, so `error.name === "AbortError"` checks work.
 */
export class AbortError extends LlmxError {
  override readonly code = "aborted";
  constructor(message = "the turn was aborted", options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A turn reported an `error` event; `errorCode` is that event's `code` (`model_auth`, `worker_crashed`, ...). */
export class TurnFailedError extends LlmxError {
  override readonly code = "turn_failed";
  constructor(
    message: string,
    readonly errorCode: string = "error",
    readonly submissionId: string | undefined = undefined,
  ) {
    super(message);
  }
}

/** No rollout in the llmx home has this conversation id. */
export class UnknownConversationIdError extends LlmxError {
  override readonly code = "unknown_conversation_id";
  constructor(
    readonly conversationId: string,
    readonly home: string = "",
  ) {
    super(`no recorded conversation with id ${conversationId}${home ? ` under ${home}` : ""}`);
  }
}

/** A watch (read-only) subscription was asked to submit: a sub-agent takes its input from its parent only. */
export class ReadOnlyConversationError extends LlmxError {
  override readonly code = "read_only_conversation";
  constructor(readonly conversationId: string) {
    super(`conversation ${conversationId} is watched read-only: only its parent submits to it`);
  }
}

/** A file given as input (an image, an output schema) that cannot be used: missing, too large, not what it must be. */
export class InvalidInputFileError extends LlmxError {
  override readonly code = "invalid_input_file";
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A fork cut before a user message the session does not have. */
export class ForkPointError extends LlmxError {
  override readonly code = "fork_point_out_of_range";
  constructor(
    readonly path: string,
    readonly nth: number,
    readonly userMessages: number,
  ) {
    super(
      `cannot fork before user message ${nth} (0-based): the session has ${userMessages} user message` +
        `${userMessages === 1 ? "" : "s"} (valid: 0 to ${Math.max(0, userMessages - 1)}; omit it to fork the whole session)`,
    );
  }
}

export class RolloutError extends LlmxError {
  override readonly code: string = "rollout_error";
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class RolloutNotFoundError extends RolloutError {
  override readonly code = "rollout_not_found";
  constructor(path: string, options?: { cause?: unknown }) {
    super(path, `rollout file not found: ${path}`, options);
  }
}

export class EmptyRolloutError extends RolloutError {
  override readonly code = "rollout_empty";
  constructor(path: string) {
    super(path, `empty session file: ${path}`);
  }
}

export class MissingSessionMetaError extends RolloutError {
  override readonly code = "rollout_missing_session_meta";
  constructor(
    path: string,
    readonly skippedLines: number,
  ) {
    super(path, `failed to parse conversation ID from rollout file ${path} (no valid session_meta line)`);
  }
}

/** A fork stored by reference whose base cannot be found or does not end on a line boundary. */
export class RolloutHistoryBaseError extends RolloutError {
  override readonly code = "rollout_history_base";
}

export type SerializedError = {
  name: string;
  code: string;
  message: string;
  stack?: string;
  fields?: Record<string, unknown>;
  cause?: SerializedError;
};

/**
 * The stable code of any thrown value: an llmx error's `code`; for another Error its string `code` (Node's
 * errno-style "ENOENT", "ERR_WORKER_OUT_OF_MEMORY", ...) or else "error"; "thrown_value" for a non-Error.
 * It is the code `serializeError` records, so it is the same before and after an error crosses a thread.
 */
export function errorCode(error: unknown): string {
  if (error instanceof LlmxError) return error.code;
  if (!(error instanceof Error)) return "thrown_value";
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : "error";
}

/**
 * The protocol's `error` event for any thrown value: its message (after `prefix`, e.g. "sub-agent failed: ")
 * and its `errorCode`. The `code` field is an llmx extension that Codex's readers ignore.
 */
export function errorEvent(error: unknown, prefix = ""): { type: "error"; message: string; code: string } {
  const message = error instanceof Error ? error.message : String(error);
  return { type: "error", message: `${prefix}${message}`, code: errorCode(error) };
}

/** Causes kept when an error crosses threads: a chain longer (or a cycle) is cut there. */
const MAX_SERIALIZED_CAUSES = 16;

/** The error and its causes, outermost first; each once (a chain may loop back on itself). */
export function* errorChain(error: Error): Generator<Error> {
  const seen = new Set<Error>();
  for (let current: unknown = error; current instanceof Error && !seen.has(current); current = current.cause) {
    seen.add(current);
    yield current;
  }
}

export function serializeError(error: unknown): SerializedError {
  return serializeWithCauses(error, 0);
}

function serializeWithCauses(error: unknown, depth: number): SerializedError {
  if (error instanceof Error) {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(error)) {
      if (key !== "cause" && (value === null || ["string", "number", "boolean"].includes(typeof value))) {
        fields[key] = value;
      }
    }
    const serialized: SerializedError = {
      name: error.name,
      code: errorCode(error),
      message: error.message,
      fields,
    };
    if (error.stack !== undefined) serialized.stack = error.stack;
    if (error.cause !== undefined && depth < MAX_SERIALIZED_CAUSES) serialized.cause = serializeWithCauses(error.cause, depth + 1);
    return serialized;
  }
  return { name: "Error", code: "thrown_value", message: String(error) };
}

/**
 * Rebuilds an error from its serialised form: an llmx error comes back as its own class (so `instanceof` works
 * across threads), anything else as an `Error` with the original name, code and stack.
 */
export function deserializeError(data: SerializedError): Error {
  const known = ERROR_CLASSES.get(data.name);
  const error: Error = known ? (Object.create(known.prototype) as Error) : new Error(data.message);
  Object.defineProperty(error, "message", { value: data.message, writable: true, configurable: true });
  if (data.cause) Object.defineProperty(error, "cause", { value: deserializeError(data.cause), writable: true, configurable: true });
  Object.assign(error, data.fields ?? {}, { code: data.code });
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

/** Who holds a rollout's lock file, when the conversation is live in another process. */
export type RolloutLockHolderInfo = { pid: number; lockPath: string; host?: string | undefined };

/**
 * A conversation is already live with this id: a second session would be a second writer of its rollout.
 * Without `holder` it is live in this manager; with it, another process holds the rollout's lock file.
 */
export class ConversationInUseError extends LlmxError {
  override readonly code = "conversation_in_use";
  readonly holderPid: number | undefined;
  readonly holderHost: string | undefined;
  readonly lockPath: string | undefined;
  constructor(
    readonly conversationId: string,
    holder?: RolloutLockHolderInfo,
  ) {
    super(
      holder === undefined
        ? `conversation ${conversationId} is already running; shut it down before resuming it again`
        : `conversation ${conversationId} is in use by another process (pid ${holder.pid}` +
            `${holder.host === undefined ? "" : ` on ${holder.host}`}), which holds its lock file ${holder.lockPath}; ` +
            "stop that process (or wait for it to finish) before resuming the conversation",
    );
    this.holderPid = holder?.pid;
    this.holderHost = holder?.host;
    this.lockPath = holder?.lockPath;
  }
}

/** An `exec_approval` / `patch_approval` that answers no outstanding request. Nothing runs. */
export class UnknownApprovalError extends LlmxError {
  override readonly code = "unknown_approval";
  constructor(readonly approvalId: string) {
    super(`no pending approval request with id ${approvalId}`);
  }
}

/** A model provider could not produce a response. `provider` is the provider's display name. */
export class ModelProviderError extends LlmxError {
  override readonly code: string = "model_provider_error";
  constructor(
    readonly provider: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The provider names an environment variable for its API key and that variable is unset or empty. */
export class MissingApiKeyError extends ModelProviderError {
  override readonly code = "model_missing_api_key";
  constructor(
    provider: string,
    readonly envKey: string,
  ) {
    super(provider, `missing API key for ${provider}: set the ${envKey} environment variable`);
  }
}

/** HTTP 401/403: the API key was rejected. */
export class ModelAuthError extends ModelProviderError {
  override readonly code = "model_auth";
  constructor(
    provider: string,
    readonly status: number,
    readonly serverMessage: string,
    keySent: boolean,
  ) {
    const what = keySent ? "rejected the API key" : "requires an API key (none was sent; configure env_key)";
    super(provider, `${provider} ${what} (HTTP ${status}): ${serverMessage}`);
  }
}

export class ModelNotFoundError extends ModelProviderError {
  override readonly code = "model_not_found";
  constructor(
    provider: string,
    readonly model: string,
    readonly serverMessage: string,
  ) {
    super(provider, `model "${model}" was not found at ${provider}: ${serverMessage}`);
  }
}

/** Any other 4xx answer: the request itself was refused, so retrying cannot help. */
export class ModelRequestError extends ModelProviderError {
  override readonly code = "model_request";
  constructor(
    provider: string,
    readonly status: number,
    readonly serverMessage: string,
  ) {
    super(provider, `${provider} refused the request (HTTP ${status}): ${serverMessage}`);
  }
}

/** The stream reported a failure (`response.failed`, an `error` event) that retrying cannot fix. */
export class ModelResponseFailedError extends ModelProviderError {
  override readonly code = "model_response_failed";
  constructor(
    provider: string,
    readonly serverMessage: string,
    readonly errorCode?: string,
  ) {
    super(provider, serverMessage);
  }
}

/** `response.incomplete`: the model stopped early (token limit, content filter). */
export class ModelResponseIncompleteError extends ModelProviderError {
  override readonly code = "model_response_incomplete";
  constructor(
    provider: string,
    readonly reason: string,
  ) {
    super(provider, `Incomplete response returned, reason: ${reason}`);
  }
}

/** Retries ran out (the last failure is the `cause`), or the stream carried data that is not a valid event. */
export class ModelStreamError extends ModelProviderError {
  override readonly code = "model_stream";
}

/**
 * The stream broke before the response completed (socket reset, idle timeout, early close, a retriable
 * `response.failed`). The retry loop catches it and tries the whole request again, waiting `retryAfterMs` when
 * the server gave a hint; once retries run out it is the `cause` of a `ModelStreamError`. It is not a
 * `ModelProviderError` because the SSE reader that raises it does not know the provider.
 */
export class StreamInterruptedError extends LlmxError {
  override readonly code = "model_stream_interrupted";
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Delegating would nest sub-agents deeper than allowed. */
export class SubagentDepthError extends LlmxError {
  override readonly code = "subagent_depth";
  constructor(readonly limit: number) {
    super(`cannot start a sub-agent: sub-agents may nest at most ${limit} deep`);
  }
}

/** Delegating would exceed the number of sub-agents allowed to run at once. */
export class SubagentLimitError extends LlmxError {
  override readonly code = "subagent_limit";
  constructor(readonly limit: number) {
    super(`cannot start a sub-agent: ${limit} are already running, the configured maximum`);
  }
}

/** A conversation crashed more often than its restart intensity allows, so it was not restarted (`cause`: the last crash). */
export class RestartIntensityError extends InternalAgentDiedError {
  override readonly code = "restart_intensity";
  constructor(
    readonly conversationId: string,
    readonly maxRestarts: number,
    readonly periodMs: number,
    options?: { cause?: unknown },
  ) {
    super(`conversation ${conversationId} crashed more than ${maxRestarts} times in ${periodMs} ms; not restarted`, options);
  }
}

/**
 * Appending to a rollout failed (disk full, I/O error, ...). The recorder stops: this write and every later one
 * reject with this error, so nothing is delivered as recorded when it was not. `errnoCode` is the system's code.
 */
export class RolloutWriteError extends RolloutError {
  override readonly code = "rollout_write";
  constructor(
    path: string,
    readonly errnoCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(path, `cannot write rollout file ${path}: ${writeFailure(errnoCode, options?.cause)}; nothing further is recorded`, options);
  }
}

/** Node's own message when it names the code ("ENOSPC: no space left on device, write"), else the code and it. */
function writeFailure(errnoCode: string | undefined, cause: unknown): string {
  const reason = cause instanceof Error ? cause.message : undefined;
  if (errnoCode === undefined) return reason ?? "write failed";
  if (reason === undefined) return errnoCode;
  return reason.includes(errnoCode) ? reason : `${errnoCode}: ${reason}`;
}

/** The uuid in a rollout file's name is not the id in its session_meta: resuming would mix two conversations. */
export class RolloutIdMismatchError extends RolloutError {
  override readonly code = "rollout_id_mismatch";
  constructor(
    path: string,
    readonly fileNameId: string,
    readonly sessionMetaId: string,
  ) {
    super(
      path,
      `rollout file ${path} is named for conversation ${fileNameId} but its session_meta is conversation ` +
        `${sessionMetaId}; refusing to resume it (rename the file to match its session_meta id)`,
    );
  }
}

/** A rollout path that would write outside the sessions directory: a symbolic link, or a linked directory. */
export class RolloutUnsafePathError extends RolloutError {
  override readonly code = "rollout_unsafe_path";
}

/**
 * A command needs the sandbox (read-only or workspace-write) and bubblewrap cannot provide it here: `bwrap` is
 * missing, or it cannot create its namespaces. The command does not run; it is never run unsandboxed instead.
 * `reason` says what went wrong, `bwrapPath` which bwrap was tried.
 */
export class SandboxUnavailableError extends LlmxError {
  override readonly code = "sandbox_unavailable";
  constructor(
    readonly reason: string,
    readonly bwrapPath: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the command was not run: its sandbox is unavailable (${reason}). The sandbox needs bubblewrap: install ` +
        `the Debian package bubblewrap (apt-get install bubblewrap), or set sandbox_mode = "danger-full-access" ` +
        `to run commands without a sandbox`,
      options,
    );
  }
}

/**
 * A JSON-RPC request the app-server refuses (not initialized, bad params, unknown thread, overloaded). `rpcCode`
 * is the JSON-RPC error code the client receives (Codex's: -32600 invalid request, -32602 invalid params,
 * -32603 internal, -32001 overloaded).
 */
export class AppServerRequestError extends LlmxError {
  override readonly code = "app_server_request";
  constructor(
    readonly rpcCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The app-server was asked to accept WebSocket clients on an address other than loopback without a token: anyone
 * who can reach the address could drive its conversations. Refused before listening.
 */
export class InsecureListenError extends LlmxError {
  override readonly code = "insecure_listen";
  constructor(readonly host: string) {
    super(
      `refusing to listen on ${host} without a token: a non-loopback WebSocket listener needs one ` +
        `(clients then send "Authorization: Bearer <token>"), or listen on 127.0.0.1`,
    );
  }
}

/** The app-server's control socket or host file could not be set up (`path` says which). */
export class ControlSocketError extends LlmxError {
  override readonly code = "control_socket";
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A running app-server host did not answer on its control socket within the deadline. */
export class HostNotAnsweringError extends LlmxError {
  override readonly code = "host_not_answering";
  constructor(
    readonly pid: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An app-server host answered with a JSON-RPC error, or with a message that is not what the protocol says. */
export class HostProtocolError extends LlmxError {
  override readonly code = "host_protocol";
  constructor(
    readonly pid: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Every llmx error class by its name (a subclass's `name` is its class name), for deserializeError.
// test/errors-exports.test.ts fails when a class in this file is missing here or from src/index.ts.
const ERROR_CLASSES = new Map<string, abstract new (...args: never[]) => LlmxError>(
  [
    LlmxError,
    ConversationNotFoundError,
    SessionConfiguredNotFirstEventError,
    CapacityError,
    InternalAgentDiedError,
    WorkerCrashedError,
    InvalidOpError,
    BadFrameError,
    InvalidConfigError,
    InvalidInputFileError,
    ForkPointError,
    AbortError,
    TurnFailedError,
    UnknownConversationIdError,
    ReadOnlyConversationError,
    RolloutError,
    RolloutNotFoundError,
    EmptyRolloutError,
    MissingSessionMetaError,
    RolloutHistoryBaseError,
    RolloutWriteError,
    RolloutIdMismatchError,
    RolloutUnsafePathError,
    ConversationInUseError,
    UnknownApprovalError,
    SubagentDepthError,
    SubagentLimitError,
    RestartIntensityError,
    ModelProviderError,
    MissingApiKeyError,
    ModelAuthError,
    ModelNotFoundError,
    ModelRequestError,
    ModelResponseFailedError,
    ModelResponseIncompleteError,
    ModelStreamError,
    StreamInterruptedError,
    SandboxUnavailableError,
    AppServerRequestError,
    InsecureListenError,
    ControlSocketError,
    HostNotAnsweringError,
    HostProtocolError,
  ].map((errorClass) => [errorClass.name, errorClass]),
);
