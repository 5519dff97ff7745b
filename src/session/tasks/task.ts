// A session task, after Codex's SessionTask: it names its kind and does its work in `run`; it may release what
// it holds in `abort`. The runner owns the lifecycle every kind shares (task_started, then task_complete or
// turn_aborted), so a task body never announces itself.
import type { DelegateContext } from "../../delegate/delegate.js";
import type { ModelClient } from "../../model/types.js";
import type { EventMsg, ResponseItem, RolloutItem, TokenUsage } from "../../protocol/index.js";
import type { ConversationRecord } from "../record.js";
import type { TurnSettings } from "../settings.js";
import type { ToolRuntime } from "../tool-calls.js";

export type TaskKind = "regular" | "review" | "compact";

export interface SessionTask {
  readonly kind: TaskKind;
  /** Does the work; resolves with the last agent message (task_complete's `last_agent_message`). */
  run(ctx: TaskContext, signal: AbortSignal): Promise<string | null>;
  /** Runs when the task is aborted, before `turn_aborted` is emitted. */
  abort?(ctx: TaskContext): void;
}

/** Everything a task may use. Once the task is aborted, its emits and records are dropped. */
export type TaskContext = {
  readonly subId: string;
  readonly conversationId: string;
  /** The settings this task runs under (a snapshot: later overrides apply to the next task). */
  readonly settings: TurnSettings;
  readonly model: ModelClient;
  readonly baseInstructions: string;
  emit(msg: EventMsg): void;
  /** The only way items enter the conversation: history and rollout together. */
  record(items: readonly RolloutItem[]): void;
  recordResponseItems(items: readonly ResponseItem[]): void;
  readonly history: Pick<ConversationRecord, "contents" | "forPrompt">;
  newItemId(): string;
  /** Input sent while this task runs; taken at the start of each model request. */
  takePendingInput(): ResponseItem[];
  hasPendingInput(): boolean;
  /** Token usage of the session so far; a turn adds to it. */
  readonly usage: { total: TokenUsage | undefined };
  readonly tools: ToolRuntime;
  /**
   * Undefined while the client keeps up with the events; otherwise a promise to await before producing more
   * (the client is slow: stop reading the model's stream until it catches up). Resolves early on abort.
   */
  room(signal: AbortSignal): Promise<void> | undefined;
  /** How this task starts sub-agents; throws when the conversation cannot. */
  delegation(signal: AbortSignal): DelegateContext;
};
