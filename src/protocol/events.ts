// The event queue (reference section 2): `{id, msg}` where `msg` is internally tagged by `type`.
// Known events are a closed union; events of types this port does not know (newer Codex) are kept as
// `UnknownEventMsg` where they are read from files, never produced by a session.
import * as z from "zod";
import type { UserInput } from "./items.js";
import { ResponseItem } from "./items.js";
import type { ReviewDecision } from "./policies.js";
import { ReasoningEffort } from "./policies.js";

export const TokenUsage = z.looseObject({
  input_tokens: z.number(),
  cached_input_tokens: z.number(),
  output_tokens: z.number(),
  reasoning_output_tokens: z.number(),
  total_tokens: z.number(),
});
export type TokenUsage = z.infer<typeof TokenUsage>;

export const TokenUsageInfo = z.looseObject({
  total_token_usage: TokenUsage,
  last_token_usage: TokenUsage,
  model_context_window: z.number().nullable(),
});
export type TokenUsageInfo = z.infer<typeof TokenUsageInfo>;

/** Item payloads of `item_started`/`item_completed`; externally tagged in the baseline, tagged by `type` later. */
export const TurnItem = z.record(z.string(), z.unknown());
export type TurnItem =
  | { UserMessage: { id: string; content: UserInput[] } }
  | { AgentMessage: { id: string; content: { Text: { text: string } }[] } }
  | { Reasoning: { id: string; summary_text: string[]; raw_content: string[] } }
  | Record<string, unknown>;

const Duration = z.object({ secs: z.number(), nanos: z.number() });

const ev = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.looseObject({ type: z.literal(type), ...shape });

export const KnownEventMsg = z.discriminatedUnion("type", [
  ev("error", {
    message: z.string(),
    /** llmx: the failure's stable code (an llmx error's `code`, a Node errno code, or "error"); see `errorEvent`. */
    code: z.string().optional(),
  }),
  ev("warning", { message: z.string() }),
  /** llmx: the supervisor restarted this conversation from its rollout after its worker died. */
  ev("conversation_restarted", {
    reason: z.enum(["threw", "exited", "out_of_memory", "hung", "killed"]),
    restarts: z.number(),
  }),
  ev("task_started", { model_context_window: z.number().nullable() }),
  ev("task_complete", { last_agent_message: z.string().nullable() }),
  ev("token_count", { info: TokenUsageInfo.nullable(), rate_limits: z.unknown().nullable().optional() }),
  ev("agent_message", { message: z.string() }),
  ev("user_message", { message: z.string(), images: z.array(z.string()).nullable().optional() }),
  ev("agent_message_delta", { delta: z.string() }),
  ev("agent_reasoning", { text: z.string() }),
  ev("agent_reasoning_delta", { delta: z.string() }),
  ev("agent_reasoning_raw_content", { text: z.string() }),
  ev("agent_reasoning_raw_content_delta", { delta: z.string() }),
  ev("agent_reasoning_section_break", {}),
  ev("session_configured", {
    session_id: z.string(),
    model: z.string(),
    reasoning_effort: ReasoningEffort.optional(),
    history_log_id: z.number(),
    history_entry_count: z.number(),
    initial_messages: z.array(z.looseObject({ type: z.string() })).optional(),
    rollout_path: z.string(),
  }),
  ev("exec_command_begin", {
    call_id: z.string(),
    command: z.array(z.string()),
    cwd: z.string(),
    parsed_cmd: z.array(z.unknown()),
    is_user_shell_command: z.boolean().optional(),
    /** llmx: a sub-agent's command, seen by its ancestors: conversation ids from this one down to the runner. */
    conversation_path: z.array(z.string()).optional(),
  }),
  ev("exec_command_output_delta", { call_id: z.string(), stream: z.enum(["stdout", "stderr"]), chunk: z.string() }),
  ev("exec_command_end", {
    call_id: z.string(),
    stdout: z.string(),
    stderr: z.string(),
    aggregated_output: z.string().optional(),
    exit_code: z.number(),
    duration: Duration,
    formatted_output: z.string(),
    conversation_path: z.array(z.string()).optional(),
  }),
  ev("exec_approval_request", {
    call_id: z.string(),
    command: z.array(z.string()),
    cwd: z.string(),
    reason: z.string().optional(),
    parsed_cmd: z.array(z.unknown()),
    /** llmx: when a sub-agent asks, the conversation ids from this conversation down to the one asking. */
    conversation_path: z.array(z.string()).optional(),
  }),
  ev("apply_patch_approval_request", {
    call_id: z.string(),
    changes: z.record(z.string(), z.unknown()),
    reason: z.string().optional(),
    grant_root: z.string().optional(),
    conversation_path: z.array(z.string()).optional(),
  }),
  ev("deprecation_notice", { summary: z.string(), details: z.string().optional() }),
  ev("background_event", { message: z.string() }),
  ev("undo_started", { message: z.string().optional() }),
  ev("undo_completed", { success: z.boolean(), message: z.string().optional() }),
  ev("stream_error", { message: z.string() }),
  ev("plan_update", {
    explanation: z.string().nullable().optional(),
    plan: z.array(z.object({ step: z.string(), status: z.enum(["pending", "in_progress", "completed"]) })),
  }),
  ev("turn_aborted", { reason: z.enum(["interrupted", "replaced", "review_ended"]) }),
  ev("shutdown_complete", {}),
  ev("entered_review_mode", { prompt: z.string().optional(), user_facing_hint: z.string().optional() }),
  ev("exited_review_mode", { review_output: z.unknown().nullable() }),
  ev("raw_response_item", { item: ResponseItem }),
  ev("item_started", { thread_id: z.string(), turn_id: z.string(), item: TurnItem }),
  ev("item_completed", { thread_id: z.string(), turn_id: z.string(), item: TurnItem }),
  ev("agent_message_content_delta", {
    thread_id: z.string(),
    turn_id: z.string(),
    item_id: z.string(),
    delta: z.string(),
  }),
]);

type KnownEventMsgUnion = z.infer<typeof KnownEventMsg>;
/** Narrowed per variant: `EventMsgOf<"agent_message">`. */
export type EventMsg = KnownEventMsgUnion;
export type EventMsgType = EventMsg["type"];
export type EventMsgOf<T extends EventMsgType> = Extract<EventMsg, { type: T }>;

/** An event of a type this port does not model; kept verbatim. */
export type UnknownEventMsg = { type: string; [field: string]: unknown };

export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set(KnownEventMsg.options.map((o) => o.shape.type.value));

export type Event = { id: string; msg: EventMsg };

/** Decision type re-exported for approval events, kept here so event consumers need one import. */
export type { ReviewDecision };
