// The messages that cross between the supervisor and a conversation's worker, typed per direction.
// Internal messages carry an `llmx/` prefix so they can never be mistaken for protocol events.
import { MessagePort } from "node:worker_threads";
import type { ConversationConfig } from "../config.js";
import type { Event, InitialHistory, Submission } from "../protocol/index.js";
import { BadFrameError, type SerializedError } from "../errors.js";

/** What a child changes from its parent's configuration. */
export type ChildOverrides = Partial<
  Pick<
    ConversationConfig,
    | "baseInstructions"
    | "userInstructions"
    | "developerInstructions"
    | "model"
    | "cwd"
    | "approvalPolicy"
    | "sandboxPolicy"
    | "reasoningEffort"
    | "projectDocs"
    | "tools"
  >
>;

/**
 * How long a conversation's last events may trail the news that its worker ended: events travel on the
 * conversation's own port, the end on another (the task's result, or the supervisor's word to a parent).
 */
export const PORT_DRAIN_MS = 1_000;

/**
 * Events a client grants a conversation's worker (event flow control): the worker sends at most this many
 * events its client has not consumed yet, and coalesces output deltas while it waits (DESIGN.md).
 */
export const DEFAULT_EVENT_WINDOW = 256;

/** Why a sub-agent is started: the `delegate` tool, or the review and compact tasks. */
export type SubagentKind = "thread_spawn" | "review" | "compact";

/** What a conversation asks its supervisor for when it delegates to a sub-agent. Plain data. */
export type ChildSpawnRequest = {
  /** The supervisor records it as the child's `session_meta.source` (`{subagent: ...}`, with parent and depth). */
  kind: SubagentKind;
  /** Overrides applied to the parent's configuration for the child. */
  overrides?: ChildOverrides;
  /** What the child starts from (a fork of the parent's history for compaction); new by default. */
  initialHistory?: InitialHistory;
};

/** Supervisor (or parent) -> worker. */
export type ToWorker =
  | { type: "llmx/submission"; submission: Submission }
  /** Stop the session as if the client had submitted `shutdown`. */
  | { type: "llmx/shutdown" }
  /** A child this worker asked for is running; `port` is this worker's end of the parent/child channel. */
  | { type: "llmx/child-spawned"; requestId: number; conversationId: string; rolloutPath: string; port: MessagePort }
  | { type: "llmx/child-spawn-failed"; requestId: number; error: SerializedError }
  /** A child's worker is done; `error` when it ended abnormally. */
  | { type: "llmx/child-ended"; conversationId: string; error?: SerializedError }
  /** A child was restarted: `port` is this worker's end of the channel to its new incarnation. */
  | {
      type: "llmx/child-restarted";
      conversationId: string;
      port: MessagePort;
      reason: "threw" | "exited" | "out_of_memory" | "hung" | "killed";
      restarts: number;
    }
  /** The supervisor's heartbeat: the worker answers `llmx/pong` from its event loop. */
  | { type: "llmx/ping"; seq: number }
  /** The client consumed `count` events: the worker may send that many more (event flow control). */
  | { type: "llmx/event-credit"; count: number }
  /** A sub-agent's events are watched (`on`) or no longer: it copies them to the supervisor as `llmx/watched-event`. */
  | { type: "llmx/watch"; on: boolean };

/** Worker -> supervisor (or parent). */
export type FromWorker =
  /** The task is running, on this worker thread (the supervisor ends the thread to hard-stop it). */
  | { type: "llmx/ready"; threadId?: number }
  | { type: "llmx/event"; event: Event }
  /** The worker took `count` submissions off its queue: room for that many more. */
  | { type: "llmx/credit"; count: number }
  /** The session failed in a way it could still report before its task ends. */
  | { type: "llmx/fatal"; error: SerializedError }
  /** The session has sent session_configured (told to the supervisor when its client is another worker). */
  | { type: "llmx/configured" }
  | { type: "llmx/spawn-child"; requestId: number; request: ChildSpawnRequest }
  /** Hard-stop a child that does not shut down. */
  | { type: "llmx/stop-child"; conversationId: string }
  /** A command's process group started or ended; the supervisor kills live ones if the worker dies. */
  | { type: "llmx/process-group"; pid: number; running: boolean }
  | { type: "llmx/pong"; seq: number }
  /** A copy of a watched sub-agent's event (its client, the parent's worker, gets the event itself). */
  | { type: "llmx/watched-event"; event: Event };

// Envelope checks only: events and submissions are produced by our own typed code on the other side, and a
// full schema pass per message would cost more than the channel itself (1M+ messages/s). The checks are written
// by hand: a worker decodes with them, and must not load a schema library to start.

type Fields = Record<string, unknown>;
type Check = (value: unknown) => boolean;

const isObject = (value: unknown): value is Fields => typeof value === "object" && value !== null && !Array.isArray(value);
const isString: Check = (value) => typeof value === "string";
const isInt: Check = (value) => Number.isInteger(value);
const isPositiveInt: Check = (value) => Number.isInteger(value) && (value as number) > 0;
const isBoolean: Check = (value) => typeof value === "boolean";
const isPort: Check = (value) => value instanceof MessagePort;
const optional = (check: Check): Check => (value) => value === undefined || check(value);
const oneOf = (...values: readonly string[]): Check => (value) => typeof value === "string" && values.includes(value);
const withStringType: Check = (value) => isObject(value) && typeof value.type === "string";
const isSerializedError: Check = (value) =>
  isObject(value) && isString(value.name) && isString(value.code) && isString(value.message);
const isEvent: Check = (value) => isObject(value) && isString(value.id) && withStringType(value.msg);
const isSubmission: Check = (value) => isObject(value) && isString(value.id) && withStringType(value.op);

const FROM_WORKER: Record<FromWorker["type"], Record<string, Check>> = {
  "llmx/ready": { threadId: optional(isInt) },
  "llmx/event": { event: isEvent },
  "llmx/credit": { count: isPositiveInt },
  "llmx/fatal": { error: isSerializedError },
  "llmx/configured": {},
  "llmx/spawn-child": {
    requestId: isInt,
    request: (value) => isObject(value) && oneOf("thread_spawn", "review", "compact")(value.kind),
  },
  "llmx/stop-child": { conversationId: isString },
  "llmx/process-group": { pid: isPositiveInt, running: isBoolean },
  "llmx/pong": { seq: isInt },
  "llmx/watched-event": { event: isEvent },
};

const TO_WORKER: Record<ToWorker["type"], Record<string, Check>> = {
  "llmx/submission": { submission: isSubmission },
  "llmx/shutdown": {},
  "llmx/child-spawned": { requestId: isInt, conversationId: isString, rolloutPath: isString, port: isPort },
  "llmx/child-spawn-failed": { requestId: isInt, error: isSerializedError },
  "llmx/child-ended": { conversationId: isString, error: optional(isSerializedError) },
  "llmx/ping": { seq: isInt },
  "llmx/event-credit": { count: isPositiveInt },
  "llmx/watch": { on: isBoolean },
  "llmx/child-restarted": {
    conversationId: isString,
    port: isPort,
    reason: oneOf("threw", "exited", "out_of_memory", "hung", "killed"),
    restarts: isInt,
  },
};

function checkEnvelope<T>(value: unknown, shapes: Record<string, Record<string, Check>>, direction: string): T {
  if (!isObject(value) || typeof value.type !== "string") throw new BadFrameError(`${direction} message without a string type`);
  const shape = Object.hasOwn(shapes, value.type) ? shapes[value.type] : undefined;
  if (shape === undefined) throw new BadFrameError(`unknown ${direction} message type ${JSON.stringify(value.type)}`);
  for (const [field, check] of Object.entries(shape)) {
    if (!check(value[field])) throw new BadFrameError(`${value.type}: invalid or missing field \`${field}\``);
  }
  return value as T;
}

export function decodeFromWorker(value: unknown): FromWorker {
  const tagged = value as { type?: unknown; event?: { id?: unknown; msg?: { type?: unknown } } } | null;
  // Fast path for the overwhelmingly common message.
  if (
    tagged !== null &&
    typeof tagged === "object" &&
    tagged.type === "llmx/event" &&
    typeof tagged.event?.id === "string" &&
    typeof tagged.event.msg?.type === "string"
  ) {
    return value as FromWorker;
  }
  return checkEnvelope<FromWorker>(value, FROM_WORKER, "worker");
}

export function decodeToWorker(value: unknown): ToWorker {
  const tagged = value as { type?: unknown; submission?: { id?: unknown; op?: { type?: unknown } } } | null;
  // Fast path for submissions. Ops are validated where they enter from a client (Conversation.submit).
  if (
    tagged !== null &&
    typeof tagged === "object" &&
    tagged.type === "llmx/submission" &&
    typeof tagged.submission?.id === "string" &&
    typeof tagged.submission.op?.type === "string"
  ) {
    return value as ToWorker;
  }
  return checkEnvelope<ToWorker>(value, TO_WORKER, "supervisor");
}
