// The `compact` op as a one-shot sub-agent: a child forked from this conversation's history writes the summary;
// this conversation records it as a `compacted` rollout line and continues from the compacted history (the same
// rebuild that resume performs, reference section 5.8).
import type { ResponseItem, RolloutItem } from "../protocol/index.js";
import { runOneShot, type DelegateContext } from "./delegate.js";

export const SUMMARIZATION_PROMPT = `You are handing this conversation over to another engineer who will continue the work. Write a
summary they can pick up from: what the user asked for, what has been done and how, what was decided and why, what
is left to do, and anything that would be easy to get wrong. Be specific (files, commands, names) and brief.`;

export const COMPACT_COMPLETED = "Compact task completed";
export const COMPACT_WARNING =
  "Heads up: long conversations and repeated compactions make the model less accurate. Start a new conversation when you can.";

export type CompactDeps = {
  delegate: DelegateContext;
  history(): readonly ResponseItem[];
  /** Records the `compacted` line and replaces the in-memory history with the rebuilt one. */
  applyCompaction(summary: string): void;
};

export async function runCompaction(deps: CompactDeps): Promise<void> {
  const items: RolloutItem[] = deps.history().map((payload) => ({ type: "response_item", payload }));
  const result = await runOneShot(
    deps.delegate,
    { source: { subagent: "compact" }, initialHistory: { type: "forked", items }, overrides: { tools: false } },
    [{ type: "text", text: SUMMARIZATION_PROMPT }],
  );
  if (result.aborted) throw new Error("the compaction sub-agent was interrupted");
  deps.applyCompaction(result.lastAgentMessage ?? "");
}
