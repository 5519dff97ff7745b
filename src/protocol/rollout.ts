// Rollout lines (reference sections 5 and 11): `{timestamp, type, payload}` (+ `ordinal` in current Codex).
import * as z from "zod";
import type { ResponseItem } from "./items.js";
import type { EventMsg, UnknownEventMsg } from "./events.js";
import { AskForApproval, ReasoningEffort, ReasoningSummary, SandboxPolicy } from "./policies.js";

/**
 * `"cli" | "vscode" | "exec" | "mcp"`, or `{subagent: ...}`. Unknown strings read as "unknown"; unknown object
 * shapes are kept as they are (newer Codex has more sub-agent kinds).
 */
export const SessionSource = z.union([
  z.enum(["cli", "vscode", "exec", "mcp"]),
  z.string().transform(() => "unknown" as const),
  z.looseObject({ subagent: z.unknown() }),
  z.record(z.string(), z.unknown()),
]);
export type SessionSource = z.infer<typeof SessionSource>;

export const GitInfo = z.looseObject({
  commit_hash: z.string().optional(),
  branch: z.string().optional(),
  repository_url: z.string().optional(),
});

/** Where a fork stored by reference takes the first part of its history from (current Codex). */
export const HistoryBase = z.looseObject({
  thread_id: z.string(),
  end_ordinal_exclusive: z.number().int().nonnegative().optional(),
  end_byte_offset: z.number().int().nonnegative().optional(),
});
export type HistoryBase = z.infer<typeof HistoryBase>;

export const SessionMeta = z.looseObject({
  id: z.string().uuid(),
  timestamp: z.string(),
  cwd: z.string(),
  originator: z.string(),
  cli_version: z.string(),
  instructions: z.string().nullable().optional(),
  source: SessionSource.optional().default("vscode"),
  model_provider: z.string().nullable().optional(),
  git: GitInfo.optional(),
  /** Current Codex: the base prompt lives here (`{text}`) instead of a `response_item`. */
  base_instructions: z.looseObject({ text: z.string() }).nullable().optional(),
  forked_from_id: z.string().optional(),
  history_base: HistoryBase.optional(),
});
export type SessionMeta = z.infer<typeof SessionMeta>;

export const TurnContextItem = z.looseObject({
  cwd: z.string(),
  approval_policy: AskForApproval,
  sandbox_policy: SandboxPolicy,
  model: z.string(),
  effort: ReasoningEffort.nullable().optional(),
  summary: ReasoningSummary,
});
export type TurnContextItem = z.infer<typeof TurnContextItem>;

export const CompactedItem = z.looseObject({ message: z.string() });
export type CompactedItem = z.infer<typeof CompactedItem>;

/** One line's content. Line types this port does not know (world_state, ...) are kept as `unknown`. */
export type RolloutItem =
  | { type: "session_meta"; payload: SessionMeta }
  | { type: "response_item"; payload: ResponseItem }
  | { type: "compacted"; payload: CompactedItem }
  | { type: "turn_context"; payload: TurnContextItem }
  | { type: "event_msg"; payload: EventMsg | UnknownEventMsg }
  | { type: "unknown"; line_type: string; payload: unknown };

export type RolloutLine = RolloutItem & { timestamp: string; ordinal?: number };

/** What a session starts from (reference section 5.7). */
export type InitialHistory =
  | { type: "new" }
  | { type: "resumed"; conversationId: string; history: RolloutItem[]; rolloutPath: string }
  | { type: "forked"; items: RolloutItem[] };
