// The messages that cross between the supervisor and a conversation's worker, typed per direction.
// Internal messages carry an `llmx/` prefix so they can never be mistaken for protocol events.
import { z } from "zod";
import type { Event, Submission } from "../protocol/index.js";
import type { SerializedError } from "../errors.js";

/** Supervisor -> worker. */
export type ToWorker = { type: "llmx/submission"; submission: Submission };

/** Worker -> supervisor. */
export type FromWorker =
  | { type: "llmx/ready" }
  | { type: "llmx/event"; event: Event }
  /** The worker took `count` submissions off its queue: room for that many more. */
  | { type: "llmx/credit"; count: number }
  /** The session failed in a way it could still report before its task ends. */
  | { type: "llmx/fatal"; error: SerializedError };

// Envelope checks only: events and submissions are produced by our own typed code on the other side, and a
// full schema pass per message would cost more than the channel itself (1M+ messages/s).
const EventEnvelope = z.object({ id: z.string(), msg: z.looseObject({ type: z.string() }) });
const FromWorkerSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("llmx/ready") }),
  z.object({ type: z.literal("llmx/event"), event: EventEnvelope }),
  z.object({ type: z.literal("llmx/credit"), count: z.number().int().positive() }),
  z.object({
    type: z.literal("llmx/fatal"),
    error: z.looseObject({ name: z.string(), code: z.string(), message: z.string() }),
  }),
]);

const SubmissionEnvelope = z.object({ id: z.string(), op: z.looseObject({ type: z.string() }) });
const ToWorkerSchema = z.object({ type: z.literal("llmx/submission"), submission: SubmissionEnvelope });

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
  return ToWorkerSchema.parse(value) as ToWorker;
}
