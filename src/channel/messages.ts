// The messages that cross between the supervisor and a conversation's worker, typed per direction.
// Internal messages carry an `llmx/` prefix so they can never be mistaken for protocol events.
import { z } from "zod";
import { MessagePort } from "node:worker_threads";
import type { ConversationConfig } from "../config.js";
import type { Event, InitialHistory, Submission } from "../protocol/index.js";
import type { SerializedError } from "../errors.js";

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
// full schema pass per message would cost more than the channel itself (1M+ messages/s).
const SerializedErrorSchema = z.looseObject({ name: z.string(), code: z.string(), message: z.string() });
const EventEnvelope = z.object({ id: z.string(), msg: z.looseObject({ type: z.string() }) });
const FromWorkerSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("llmx/ready"), threadId: z.number().int().optional() }),
  z.object({ type: z.literal("llmx/event"), event: EventEnvelope }),
  z.object({ type: z.literal("llmx/credit"), count: z.number().int().positive() }),
  z.object({ type: z.literal("llmx/fatal"), error: SerializedErrorSchema }),
  z.object({ type: z.literal("llmx/configured") }),
  z.object({
    type: z.literal("llmx/spawn-child"),
    requestId: z.number().int(),
    request: z.looseObject({ kind: z.enum(["thread_spawn", "review", "compact"]) }),
  }),
  z.object({ type: z.literal("llmx/stop-child"), conversationId: z.string() }),
  z.object({ type: z.literal("llmx/process-group"), pid: z.number().int().positive(), running: z.boolean() }),
  z.object({ type: z.literal("llmx/pong"), seq: z.number().int() }),
  z.object({ type: z.literal("llmx/watched-event"), event: EventEnvelope }),
]);

const SubmissionEnvelope = z.object({ id: z.string(), op: z.looseObject({ type: z.string() }) });
const ToWorkerSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("llmx/submission"), submission: SubmissionEnvelope }),
  z.object({ type: z.literal("llmx/shutdown") }),
  z.object({
    type: z.literal("llmx/child-spawned"),
    requestId: z.number().int(),
    conversationId: z.string(),
    rolloutPath: z.string(),
    port: z.custom<MessagePort>((value) => value instanceof MessagePort),
  }),
  z.object({ type: z.literal("llmx/child-spawn-failed"), requestId: z.number().int(), error: SerializedErrorSchema }),
  z.object({ type: z.literal("llmx/child-ended"), conversationId: z.string(), error: SerializedErrorSchema.optional() }),
  z.object({ type: z.literal("llmx/ping"), seq: z.number().int() }),
  z.object({ type: z.literal("llmx/event-credit"), count: z.number().int().positive() }),
  z.object({ type: z.literal("llmx/watch"), on: z.boolean() }),
  z.object({
    type: z.literal("llmx/child-restarted"),
    conversationId: z.string(),
    port: z.custom<MessagePort>((value) => value instanceof MessagePort),
    reason: z.enum(["threw", "exited", "out_of_memory", "hung", "killed"]),
    restarts: z.number().int(),
  }),
]);

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
  return FromWorkerSchema.parse(value) as FromWorker;
}

export function decodeToWorker(value: unknown): ToWorker {
  const tagged = value as { type?: unknown; submission?: { id?: unknown; op?: { type?: unknown } } } | null;
  // Fast path for submissions; the session validates each op against the Op schema when it takes it.
  if (
    tagged !== null &&
    typeof tagged === "object" &&
    tagged.type === "llmx/submission" &&
    typeof tagged.submission?.id === "string" &&
    typeof tagged.submission.op?.type === "string"
  ) {
    return value as ToWorker;
  }
  return ToWorkerSchema.parse(value) as ToWorker;
}
